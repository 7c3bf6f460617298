//! Hostile or damaged bodies never panic: every truncation and many byte corruptions of the
//! captured kubectl bodies decode to a value or to an error.

use std::path::PathBuf;

fn bodies() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/create"));
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("testdata/create") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "pb") {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((name, std::fs::read(&path).expect("fixture")));
        }
    }
    assert!(out.len() >= 30, "fixtures missing in {}", dir.display());
    out
}

#[test]
fn every_truncation_of_every_fixture_is_handled() {
    let mut errors = 0;
    for (_, body) in bodies() {
        for len in 0..body.len() {
            if fjord_kube_proto::decode_object(&body[..len]).is_err() {
                errors += 1;
            }
        }
    }
    // Most cuts land inside a length-delimited record, which must be reported.
    assert!(errors > 1000, "only {errors} truncations were rejected");
}

#[test]
fn corrupted_bytes_never_panic() {
    // A fixed linear congruential sequence keeps the test deterministic.
    let mut state: u64 = 0x5eed;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    for (name, body) in bodies() {
        for _ in 0..300 {
            let mut damaged = body.clone();
            for _ in 0..1 + next() % 4 {
                let at = 4 + next() % (damaged.len() - 4);
                damaged[at] = (next() % 256) as u8;
            }
            let result = std::panic::catch_unwind(|| fjord_kube_proto::decode_object(&damaged));
            assert!(result.is_ok(), "{name}: decode panicked on {damaged:?}");
        }
    }
}
