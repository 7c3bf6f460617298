//! Measures build time: in-process per build for each fixture under `testdata/` (or the
//! directories given as arguments), and, when kubectl is installed, `kubectl kustomize` and
//! `fjord`-style whole-process runs for comparison. Prints numbers; asserts nothing.
//!
//! Run: `cargo run --release -p fjord-kustomize --example bench_build [DIR...]`

use fjord_kustomize::{BuildOptions, DiskSource, build};
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let dirs = if args.is_empty() {
        let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata"));
        let mut d: Vec<PathBuf> = std::fs::read_dir(&root)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path().join("input")))
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        d.sort();
        d
    } else {
        args
    };
    let kubectl = std::path::Path::new("/usr/bin/kubectl").exists();
    println!(
        "{:<48} {:>12} {:>14}",
        "fixture", "in-process", "kubectl proc"
    );
    let (mut total_ours, mut total_kubectl, mut n) = (0.0, 0.0, 0);
    for dir in &dirs {
        let opts = BuildOptions::default();
        if build(&DiskSource, dir, &opts).is_err() {
            continue;
        }
        let iterations = 200;
        let start = Instant::now();
        for _ in 0..iterations {
            let out = build(&DiskSource, dir, &opts).map(|l| l.to_yaml_string());
            std::hint::black_box(out.ok());
        }
        let ours_ms = start.elapsed().as_secs_f64() * 1000.0 / iterations as f64;
        let kubectl_ms = if kubectl {
            let runs = 3;
            let start = Instant::now();
            for _ in 0..runs {
                let _ = std::process::Command::new("/usr/bin/kubectl")
                    .arg("kustomize")
                    .arg(dir)
                    .output();
            }
            start.elapsed().as_secs_f64() * 1000.0 / runs as f64
        } else {
            f64::NAN
        };
        let name = dir
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        println!("{name:<48} {ours_ms:>10.3}ms {kubectl_ms:>12.1}ms");
        total_ours += ours_ms;
        total_kubectl += kubectl_ms;
        n += 1;
    }
    if n > 0 {
        println!(
            "mean in-process build: {:.3} ms; mean kubectl kustomize process: {:.1} ms",
            total_ours / n as f64,
            total_kubectl / n as f64
        );
    }
    if !kubectl {
        eprintln!("kubectl not installed: kubectl timings skipped");
    }
}
