//! Interoperability with independent implementations of the Sealed Secrets format:
//! kubesealpy (PyPI, pyca/cryptography) both ways, and @linode/kubeseal-encrypt (npm, WebCrypto)
//! sealing for Fjord to open (it cannot decrypt).
//!
//! The tools live in `$FJORD_INTEROP_DIR` (default `<workspace>/target/interop`), prepared by:
//!
//! ```sh
//! python3 -m venv target/interop/venv && target/interop/venv/bin/pip install kubesealpy==1.0.1
//! npm install --prefix target/interop/npm @linode/kubeseal-encrypt@1.0.1
//! ```
//!
//! Missing tools fail the test when `CI=true`, and skip it (with a note on stderr) otherwise.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use fjord_sealed::k8s_openapi::ByteString;
use fjord_sealed::k8s_openapi::api::core::v1::Secret;
use fjord_sealed::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use fjord_sealed::{KeyOptions, KeyPair, KeyRing, Scope, SealedSecret};

const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");

fn interop_dir() -> PathBuf {
    match std::env::var_os("FJORD_INTEROP_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/interop"),
    }
}

/// The tool's path, or `None` to skip (only outside CI).
fn tool(relative: &str, what: &str) -> Option<PathBuf> {
    let path = interop_dir().join(relative);
    if path.exists() {
        return Some(path);
    }
    let message = format!(
        "{what} not found at {} (set FJORD_INTEROP_DIR or install it; see tests/interop.rs)",
        path.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    None
}

fn key_pair() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate(&KeyOptions::default()).unwrap())
}

fn ring() -> KeyRing {
    let mut r = KeyRing::new();
    r.insert(key_pair().clone());
    r
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn values() -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        ("empty".to_string(), Vec::new()),
        ("binary".to_string(), (0..=255u8).rev().collect()),
        ("unicode".to_string(), "grüße ✓ 秘密 🔐".as_bytes().to_vec()),
        (
            "large".to_string(),
            (0..1024 * 1024).map(|i| (i % 253) as u8).collect(),
        ),
    ])
}

fn run(program: &Path, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn write_temp(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn kubesealpy_seals_and_fjord_unseals_in_every_scope() {
    let Some(python) = tool("venv/bin/python", "kubesealpy's virtualenv") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cert = write_temp(&dir, "cert.pem", &key_pair().certificate().to_pem());
    let script = format!("{SCRIPTS}/kubesealpy_interop.py");
    for scope in [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide] {
        let request = serde_json::json!({
            "name": "app", "namespace": "team", "scope": scope.as_str(),
            "data": values().iter().map(|(k, v)| (k.clone(), hex(v))).collect::<BTreeMap<_, _>>(),
        });
        let out = run(
            &python,
            &[&script, "seal", &cert],
            request.to_string().as_bytes(),
        );
        let sealed: SealedSecret = serde_json::from_slice(&out).unwrap();
        for v in sealed.spec.encrypted_data.values() {
            assert!(v.starts_with("Ag"), "{scope}: 4096-bit prefix");
        }
        let secret =
            fjord_sealed::unseal(&sealed, &ring()).unwrap_or_else(|e| panic!("{scope}: {e}"));
        let got: BTreeMap<String, Vec<u8>> = secret
            .data
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        assert_eq!(got, values(), "{scope}");
    }
}

#[test]
fn fjord_seals_and_kubesealpy_unseals_in_every_scope() {
    let Some(python) = tool("venv/bin/python", "kubesealpy's virtualenv") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = write_temp(
        &dir,
        "key.pem",
        &key_pair().private_key().to_pkcs1_pem().unwrap(),
    );
    let script = format!("{SCRIPTS}/kubesealpy_interop.py");
    for scope in [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide] {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some("app".into()),
                namespace: Some("team".into()),
                ..ObjectMeta::default()
            },
            data: Some(
                values()
                    .into_iter()
                    .map(|(k, v)| (k, ByteString(v)))
                    .collect(),
            ),
            ..Secret::default()
        };
        let sealed =
            fjord_sealed::seal_secret(&secret, key_pair().certificate(), Some(scope)).unwrap();
        let out = run(
            &python,
            &[&script, "unseal", &key],
            serde_json::to_string(&sealed).unwrap().as_bytes(),
        );
        let got: BTreeMap<String, String> = serde_json::from_slice(&out).unwrap();
        let got: BTreeMap<String, Vec<u8>> = got.into_iter().map(|(k, v)| (k, unhex(&v))).collect();
        assert_eq!(got, values(), "{scope}");
    }
}

#[test]
fn kubeseal_encrypt_npm_seals_and_fjord_unseals() {
    let Some(module) = tool(
        "npm/node_modules/@linode/kubeseal-encrypt",
        "@linode/kubeseal-encrypt",
    ) else {
        return;
    };
    // It takes a string (UTF-8), an SPKI public key, and seals namespace-wide only.
    let texts = ["", "plain", "grüße ✓ 秘密 🔐", &"x".repeat(100 * 1024)];
    let request = serde_json::json!({
        "publicKeyPem": key_pair().certificate().public_key_pem().unwrap(),
        "namespace": "team",
        "values": texts,
    });
    let out = run(
        Path::new("node"),
        &[
            &format!("{SCRIPTS}/kubeseal_encrypt.mjs"),
            module.to_str().unwrap(),
        ],
        request.to_string().as_bytes(),
    );
    let ciphertexts: Vec<String> = serde_json::from_slice(&out).unwrap();
    assert_eq!(ciphertexts.len(), texts.len());
    let mut sealed = SealedSecret::default();
    sealed.metadata.name = Some("any-name".into());
    sealed.metadata.namespace = Some("team".into());
    sealed.metadata.annotations = Some(BTreeMap::from([(
        fjord_sealed::ANNOTATION_NAMESPACE_WIDE.to_string(),
        "true".to_string(),
    )]));
    for (i, c) in ciphertexts.iter().enumerate() {
        sealed
            .spec
            .encrypted_data
            .insert(format!("v{i}"), c.clone());
    }
    let secret = fjord_sealed::unseal(&sealed, &ring()).unwrap();
    let data = secret.data.unwrap();
    for (i, t) in texts.iter().enumerate() {
        assert_eq!(data[&format!("v{i}")].0, t.as_bytes(), "value {i}");
    }
    // Bound to the namespace: another namespace does not open it.
    sealed.metadata.namespace = Some("other".into());
    assert!(fjord_sealed::unseal(&sealed, &ring()).is_err());
}
