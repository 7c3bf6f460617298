//! Seal and unseal throughput per item, for small and 100 KiB values, with a 4096-bit key (the
//! controller's default). Prints figures; asserts nothing about speed.
//!
//! ```sh
//! cargo run -p fjord-sealed --release --example throughput
//! ```

use std::time::{Duration, Instant};

use fjord_sealed::{KeyOptions, KeyPair, KeyRing, decode_base64_like_go, hybrid_decrypt};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let pair = KeyPair::generate(&KeyOptions::default())?;
    println!(
        "generated a {}-bit key and certificate in {:.0} ms",
        pair.private_key().bits(),
        started.elapsed().as_secs_f64() * 1e3
    );
    let mut ring = KeyRing::new();
    ring.insert(pair.clone());
    // Opening needs the aws-lc-rs key the ring holds; re-read it from PKCS#8 for the raw call.
    let raw_key =
        fjord_sealed::PrivateDecryptingKey::from_pkcs8(&pair.private_key().to_pkcs8_der()?)
            .map_err(|e| format!("{e:?}"))?;

    for (label, size, rounds) in [
        ("small (32 B)", 32usize, 200u32),
        ("100 KiB", 100 * 1024, 100),
    ] {
        let value: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mut sealed = Vec::with_capacity(rounds as usize);
        let t = Instant::now();
        for _ in 0..rounds {
            sealed.push(fjord_sealed::seal_raw(
                &value,
                pair.certificate(),
                fjord_sealed::Scope::Strict,
                Some("bench"),
                Some("item"),
            )?);
        }
        let seal_time = t.elapsed();
        let t = Instant::now();
        for s in &sealed {
            let ct = decode_base64_like_go(s)?;
            let plain = hybrid_decrypt([&raw_key], &ct, b"bench/item")?;
            std::hint::black_box(plain);
        }
        let unseal_time = t.elapsed();
        report(label, "seal", seal_time, rounds, size);
        report(label, "unseal", unseal_time, rounds, size);
    }
    Ok(())
}

fn report(label: &str, what: &str, total: Duration, rounds: u32, size: usize) {
    let per = total / rounds;
    let per_s = f64::from(rounds) / total.as_secs_f64();
    let mib_s = per_s * size as f64 / (1024.0 * 1024.0);
    println!(
        "{label:>13} {what:>6}: {:>8.3} ms/item  {per_s:>8.1} items/s  {mib_s:>7.2} MiB/s  ({rounds} items)",
        per.as_secs_f64() * 1e3
    );
}
