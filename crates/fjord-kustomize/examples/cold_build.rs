//! Times the first build in a fresh process (one-time initialisation included), then a second.
//! Run: `cargo run --release -p fjord-kustomize --example cold_build DIR`

use fjord_kustomize::{BuildOptions, DiskSource, build};
use std::time::Instant;

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    for round in ["first", "second"] {
        let start = Instant::now();
        let out =
            build(&DiskSource, dir.as_ref(), &BuildOptions::default()).map(|l| l.to_yaml_string());
        println!(
            "{round} build: {:.3} ms ({})",
            start.elapsed().as_secs_f64() * 1000.0,
            if out.is_ok() { "ok" } else { "error" }
        );
    }
}
