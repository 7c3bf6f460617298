//! Replays every case of the shared kustomize conformance corpus (cases taken from kustomize's
//! own test suite, with `kubectl kustomize` output) and compares our output as YAML documents and
//! byte for byte. The test fails if a case listed in `tests/conformance-passing.txt` fails, so
//! the pass list can only grow; it prints the full score.
//!
//! `FJORD_CASE=<name>` runs one case and prints both outputs; `FJORD_UPDATE_PASSING=1` rewrites
//! the pass list with every case that passes now.

use fjord_kustomize::{BuildOptions, DiskSource, LoadRestrictor, build, parse_documents};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/kustomize/krusty"
    ));
    assert!(
        dir.is_dir(),
        "conformance corpus missing at {} (expected shared/ beside the workspace)",
        dir.display()
    );
    dir
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Identical,
    SameDocuments,
    ExpectedErrorAndFailed,
    Failed(String),
}

fn run_case(case: &Path) -> Outcome {
    let meta: Value = match std::fs::read_to_string(case.join("meta.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
    {
        Some(m) => m,
        None => return Outcome::Failed("unreadable meta.json".into()),
    };
    let build_dir = case.join(meta["build_dir"].as_str().unwrap_or("."));
    let mut opts = BuildOptions::default();
    for f in meta["flags"].as_array().into_iter().flatten() {
        if f.as_str() == Some("--load-restrictor=LoadRestrictionsNone") {
            opts.load_restrictor = LoadRestrictor::None;
        }
    }
    let result = build(&DiskSource, &build_dir, &opts);
    let expect_error = meta["expect"].as_str() == Some("error");
    if std::env::var("FJORD_CASE").is_ok() {
        match &result {
            Ok(r) => eprintln!("--- ours ---\n{}", r.to_yaml_string()),
            Err(e) => eprintln!("--- ours: error ---\n{e}"),
        }
        if let Ok(exp) = std::fs::read_to_string(case.join(if expect_error {
            "expected-error.txt"
        } else {
            "expected.yaml"
        })) {
            eprintln!("--- expected ---\n{exp}");
        }
    }
    match (result, expect_error) {
        (Err(_), true) => Outcome::ExpectedErrorAndFailed,
        (Ok(_), true) => Outcome::Failed("expected an error, build succeeded".into()),
        (Err(e), false) => Outcome::Failed(format!("error: {e}")),
        (Ok(list), false) => {
            let expected = std::fs::read_to_string(case.join("expected.yaml")).unwrap_or_default();
            let ours = list.to_yaml_string();
            if ours == expected {
                return Outcome::Identical;
            }
            let a = parse_documents(&ours);
            let b = parse_documents(&expected);
            match (a, b) {
                (Ok(a), Ok(b)) if a == b => Outcome::SameDocuments,
                (Ok(a), Ok(b)) => Outcome::Failed(format!(
                    "documents differ ({} vs {} expected)",
                    a.len(),
                    b.len()
                )),
                (Err(e), _) => Outcome::Failed(format!("our output does not parse: {e}")),
                (_, Err(e)) => Outcome::Failed(format!("expected output does not parse: {e}")),
            }
        }
    }
}

#[test]
fn kustomize_conformance_corpus() {
    let dir = corpus_dir();
    let only = std::env::var("FJORD_CASE").ok();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("meta.json").is_file())
        .filter(|p| {
            only.as_deref()
                .is_none_or(|o| p.file_name().is_some_and(|n| n == o))
        })
        .collect();
    cases.sort();
    assert!(
        !cases.is_empty(),
        "no conformance cases found in {}",
        dir.display()
    );
    let list_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance-passing.txt");
    let must_pass: Vec<String> = std::fs::read_to_string(&list_path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let (mut identical, mut same_docs, mut error_ok, mut failed) = (0, 0, 0, 0);
    let mut passing = Vec::new();
    let mut regressions = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let outcome = std::panic::catch_unwind(|| run_case(case))
            .unwrap_or_else(|_| Outcome::Failed("panicked".into()));
        match &outcome {
            Outcome::Identical => identical += 1,
            Outcome::SameDocuments => same_docs += 1,
            Outcome::ExpectedErrorAndFailed => error_ok += 1,
            Outcome::Failed(why) => {
                failed += 1;
                if std::env::var("FJORD_VERBOSE").is_ok() || only.is_some() {
                    eprintln!("FAIL {name}: {why}");
                }
                if must_pass.contains(&name) {
                    regressions.push(format!("{name}: {why}"));
                }
            }
        }
        if !matches!(outcome, Outcome::Failed(_)) {
            passing.push(name);
        }
    }
    let total = cases.len();
    let output_cases = identical + same_docs;
    eprintln!(
        "kustomize conformance: {}/{} pass ({} output cases identical as YAML documents, {} of them byte-identical; {} expected errors reproduced); {} failed",
        output_cases + error_ok,
        total,
        output_cases,
        identical,
        error_ok,
        failed
    );
    if std::env::var("FJORD_UPDATE_PASSING").is_ok() && only.is_none() {
        let mut text = String::from(
            "# Conformance cases that pass; the conformance test fails if any of these fails.\n",
        );
        for p in &passing {
            text.push_str(p);
            text.push('\n');
        }
        std::fs::write(&list_path, text).expect("write pass list");
    }
    assert!(
        regressions.is_empty(),
        "regressed conformance cases:\n{}",
        regressions.join("\n")
    );
}
