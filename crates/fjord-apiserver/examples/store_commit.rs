//! Latency of one durable store commit (a single write, nothing else in the batch), to separate
//! the disk's share of a write's latency from the API's.
//!
//! Run: `cargo run --release -p fjord-apiserver --example store_commit [-- DIR]`

use std::time::Instant;

use fjord_apiserver::store::{Mutation, Precondition, Store, StoreOptions, Write};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = std::env::args().nth(1).map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = dir.unwrap_or_else(|| tmp.path().to_path_buf());
    let store = Store::open(Some(&dir), StoreOptions::default()).expect("store");
    let mut latencies = Vec::new();
    for i in 0..300 {
        let t = Instant::now();
        store
            .write(Write {
                key: format!("/configmaps/default/c{i}"),
                precondition: Precondition::MustNotExist,
                mutation: Mutation::Put(serde_json::json!({"metadata": {"name": format!("c{i}")}, "data": {"x": "y".repeat(512)}})),
            })
            .await
            .expect("write");
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "sequential durable commits in {}: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
        dir.display(),
        p(0.5),
        p(0.9),
        p(0.99)
    );
}
