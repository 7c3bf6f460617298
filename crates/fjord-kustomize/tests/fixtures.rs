//! The fixture corpus under `testdata/`: one directory per feature or error case.
//!
//! - `<case>/input/` is built; `<case>/expected.yaml` is what `kubectl kustomize` printed for it
//!   (recorded with kubectl v1.32, kustomize v5.5.0) and our output must equal it byte for byte.
//! - `err-<case>/expected-error.txt` lists substrings (one per line) our error must contain:
//!   the file, the field and what is wrong.
//! - When kubectl is installed, every case is also run through `kubectl kustomize` now: outputs
//!   must still be identical and error cases must fail there too. Without kubectl that part is
//!   skipped, and the test says so on stderr.

use fjord_kustomize::{BuildOptions, DiskSource, build};
use std::path::{Path, PathBuf};
use std::process::Command;

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("testdata directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("input").is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 20,
        "fixture corpus looks incomplete: {} cases",
        cases.len()
    );
    cases
}

fn kubectl() -> Option<PathBuf> {
    let path = std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/kubectl"));
    path.exists().then_some(path)
}

#[test]
fn fixtures_render_like_kubectl_kustomize() {
    let kubectl = kubectl();
    if kubectl.is_none() {
        eprintln!(
            "SKIPPED: kubectl not installed; fixtures checked against recorded kubectl output only"
        );
    }
    let mut failures = Vec::new();
    let (mut outputs, mut errors) = (0, 0);
    for case in cases() {
        let name = case
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let input = case.join("input");
        let ours = build(&DiskSource, &input, &BuildOptions::default());
        let live = kubectl.as_ref().map(|k| {
            Command::new(k)
                .arg("kustomize")
                .arg(&input)
                .output()
                .expect("run kubectl kustomize")
        });
        if name.starts_with("err-") {
            errors += 1;
            let wanted = std::fs::read_to_string(case.join("expected-error.txt"))
                .expect("expected-error.txt");
            match &ours {
                Ok(_) => failures.push(format!("{name}: build succeeded, expected an error")),
                Err(e) => {
                    let msg = e.to_string();
                    for part in wanted.lines().filter(|l| !l.trim().is_empty()) {
                        if !msg.contains(part) {
                            failures.push(format!("{name}: error {msg:?} lacks {part:?}"));
                        }
                    }
                }
            }
            if let Some(out) = live
                && out.status.success()
            {
                failures.push(format!(
                    "{name}: kubectl kustomize succeeded, so this is no error case"
                ));
            }
            continue;
        }
        outputs += 1;
        let expected = std::fs::read_to_string(case.join("expected.yaml")).expect("expected.yaml");
        match &ours {
            Err(e) => failures.push(format!("{name}: {e}")),
            Ok(list) => {
                let text = list.to_yaml_string();
                if text != expected {
                    failures.push(format!(
                        "{name}: output differs from recorded kubectl output"
                    ));
                }
                if let Some(out) = live {
                    let theirs = String::from_utf8_lossy(&out.stdout);
                    if !out.status.success() || theirs != text {
                        failures.push(format!(
                            "{name}: output differs from live kubectl kustomize"
                        ));
                    }
                }
            }
        }
    }
    eprintln!(
        "fixtures: {outputs} output cases, {errors} error cases, {} failures",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "fixture failures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn memory_source_renders_the_same_as_disk() {
    // The engine renders from a Git tree in memory: the same fixture through MemorySource.
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/overlay-production");
    let mut mem = fjord_kustomize::MemorySource::new();
    fn add(mem: &mut fjord_kustomize::MemorySource, dir: &Path, base: &Path) {
        for e in std::fs::read_dir(dir).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                add(mem, &p, base);
            } else {
                let rel = p.strip_prefix(base).expect("under base");
                mem.insert(
                    Path::new("/repo").join(rel),
                    std::fs::read(&p).expect("read"),
                );
            }
        }
    }
    add(&mut mem, &case, &case);
    let from_memory =
        build(&mem, Path::new("/repo/input"), &BuildOptions::default()).expect("memory build");
    let expected = std::fs::read_to_string(case.join("expected.yaml")).expect("expected.yaml");
    assert_eq!(from_memory.to_yaml_string(), expected);
    let values = from_memory.to_values();
    assert_eq!(values.len(), from_memory.len());
    assert!(values.iter().all(|v| v.get("kind").is_some()));
}
