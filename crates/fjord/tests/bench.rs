//! `fjord bench` runs its scenarios end to end on a tiny fleet, so that the harness behind
//! BENCHMARKS.md keeps working. It checks that each scenario reports, not how fast.

use std::process::Command;

fn bench(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_fjord"))
        .arg("bench")
        .args(args)
        .output()
        .expect("fjord bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "fjord bench {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
#[ignore = "e2e: starts the control plane, the controller and the webhook receiver"]
fn every_scenario_reports_on_a_small_fleet() {
    let out = bench(&["all", "--apps", "3", "--steady-seconds", "2"]);
    for heading in [
        "## Fleet: 3 Applications to Synced and Healthy",
        "## Steady state: 2 s with nothing changing",
        "## A commit to the base shared by 3 Applications",
        "## Push model: kubectl apply --server-side of 3 Applications' manifests",
    ] {
        assert!(out.contains(heading), "missing {heading:?} in:\n{out}");
    }
    assert!(
        out.contains("objects applied                              15"),
        "{out}"
    );
    let out = bench(&["latency", "--tries", "3"]);
    assert!(
        out.contains("commit-to-live") && out.contains("over 3"),
        "{out}"
    );
    assert!(out.contains("self-heal"), "{out}");
    let out = bench(&["render", "--overlays", "3"]);
    assert!(
        out.contains("Rendering 3 overlays (identical output checked)"),
        "{out}"
    );
}
