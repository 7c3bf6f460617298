//! Measures build time: in-process per build for each fixture under `testdata/` (or the
//! directories given as arguments), and whole-process runs of `fjord kustomize build` and
//! `kubectl kustomize` when those binaries are there. Prints numbers; asserts nothing.
//!
//! Run: `cargo build --release -p fjord && cargo run --release -p fjord-kustomize --example bench_build [DIR...]`

use fjord_kustomize::{BuildOptions, DiskSource, build};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn time_process(program: &Path, args: &[&OsStr], runs: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..runs {
        let _ = std::process::Command::new(program).args(args).output();
    }
    start.elapsed().as_secs_f64() * 1000.0 / runs as f64
}

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
    let kubectl = Path::new("/usr/bin/kubectl");
    let have_kubectl = kubectl.exists();
    // The fjord binary: $FJORD_BIN, or target/<profile>/fjord next to this example.
    let fjord_bin = std::env::var_os("FJORD_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            let candidate = exe.parent()?.parent()?.join("fjord");
            candidate.exists().then_some(candidate)
        });
    println!(
        "{:<28} {:>12} {:>14} {:>14}",
        "fixture", "in-process", "fjord proc", "kubectl proc"
    );
    let (mut total_ours, mut total_proc, mut total_kubectl, mut n) = (0.0, 0.0, 0.0, 0);
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
        let proc_ms = match &fjord_bin {
            Some(bin) => time_process(
                bin,
                &["kustomize".as_ref(), "build".as_ref(), dir.as_os_str()],
                20,
            ),
            None => f64::NAN,
        };
        let kubectl_ms = if have_kubectl {
            time_process(kubectl, &["kustomize".as_ref(), dir.as_os_str()], 5)
        } else {
            f64::NAN
        };
        let name = dir
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        println!("{name:<28} {ours_ms:>10.3}ms {proc_ms:>12.2}ms {kubectl_ms:>12.1}ms");
        total_ours += ours_ms;
        total_proc += proc_ms;
        total_kubectl += kubectl_ms;
        n += 1;
    }
    if n > 0 {
        let (ours, proc_ms, kube) = (
            total_ours / n as f64,
            total_proc / n as f64,
            total_kubectl / n as f64,
        );
        println!(
            "mean: in-process build {ours:.3} ms; fjord process {proc_ms:.2} ms; kubectl kustomize process {kube:.1} ms ({:.0}x faster as a process, {:.0}x in-process)",
            kube / proc_ms,
            kube / ours
        );
    }
    if !have_kubectl {
        eprintln!("kubectl not installed: kubectl timings skipped");
    }
    if fjord_bin.is_none() {
        eprintln!(
            "fjord binary not found (build it with --release or set FJORD_BIN): process timings skipped"
        );
    }
}
