//! Measures the one-time schema load and the per-body decode time over the captured fixtures.
//!
//! `cargo run --release -p fjord-kube-proto --example measure_decode`

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/create");
    let mut bodies = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "pb") {
            bodies.push(std::fs::read(path)?);
        }
    }
    let start = Instant::now();
    fjord_kube_proto::decode_object(&bodies[0])?;
    println!(
        "first decode (parses the vendored schema): {:?}",
        start.elapsed()
    );
    let rounds = 2_000;
    let start = Instant::now();
    for _ in 0..rounds {
        for body in &bodies {
            fjord_kube_proto::decode_object(body)?;
        }
    }
    let per = start.elapsed() / (rounds * bodies.len() as u32);
    println!(
        "{} bodies x {rounds} rounds: {per:?} per decode",
        bodies.len()
    );
    let swagger =
        serde_json::json!({"swagger": "2.0", "info": {"title": "t", "version": "v"}, "paths": {}});
    let start = Instant::now();
    fjord_kube_proto::encode_openapi_v2(&swagger)?;
    println!(
        "first encode_openapi_v2 (parses the vendored gnostic proto): {:?}",
        start.elapsed()
    );
    Ok(())
}
