//! `fjord seal` run as a program, one test per kubeseal flag. Outputs are checked by opening them
//! with the library's unseal (and the key the test generated), not by comparing text.
//! The controller endpoints (`/v1/cert.pem`, `/v1/verify`, `/v1/rotate`) are served by a small
//! stand-in on 127.0.0.1 built on the same library.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use fjord_sealed::k8s_openapi::api::core::v1::Secret;
use fjord_sealed::{KeyOptions, KeyPair, KeyRing, SealedSecret};

fn key_pair() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate(&KeyOptions::default()).expect("key generation"))
}

fn ring() -> KeyRing {
    let mut r = KeyRing::new();
    r.insert(key_pair().clone());
    r
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("cert.pem"),
            key_pair().certificate().to_pem(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("key.pem"),
            key_pair().private_key().to_pkcs1_pem().unwrap(),
        )
        .unwrap();
        Fixture { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cert(&self) -> String {
        self.path("cert.pem").display().to_string()
    }
}

fn fjord(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fjord"))
        .arg("seal")
        .args(args)
        .env_remove("SEALED_SECRETS_CERT")
        .env_remove("SEALED_SECRETS_CONTROLLER_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Commands that read no stdin (--raw --from-file) may exit before the write: a broken pipe
    // then is expected, and the assertions on the output decide.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin) {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing stdin: {e}"
        );
    }
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "fjord seal failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "expected failure, got success");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const SECRET_YAML: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: team\n  labels:\n    app: db\ntype: Opaque\ndata:\n  password: aHVudGVyMg==\nstringData:\n  user: admin\n";

fn unsealed_data(sealed_text: &str) -> BTreeMap<String, Vec<u8>> {
    let sealed = SealedSecret::parse_all(sealed_text, "output").unwrap();
    assert_eq!(sealed.len(), 1);
    let secret = fjord_sealed::unseal(&sealed[0], &ring()).unwrap();
    secret
        .data
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

#[test]
fn seals_yaml_from_stdin_as_kubeseal_does() {
    let fx = Fixture::new();
    let out = ok(&fjord(
        &["--cert", &fx.cert(), "--format", "yaml"],
        SECRET_YAML.as_bytes(),
    ));
    assert!(
        out.starts_with("---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\n"),
        "{out}"
    );
    let data = unsealed_data(&out);
    assert_eq!(data["password"], b"hunter2");
    assert_eq!(data["user"], b"admin");
    assert!(!out.contains("hunter2") && !out.contains("admin\n"));
}

#[test]
fn default_format_is_json_and_json_input_works() {
    let fx = Fixture::new();
    let input = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"team"},"stringData":{"k":"v"}}"#;
    let out = ok(&fjord(&["--cert", &fx.cert()], input.as_bytes()));
    assert!(out.starts_with("{\n  \"apiVersion\""), "{out}");
    assert!(out.ends_with("}\n"));
    serde_json::from_str::<serde_json::Value>(&out).unwrap();
    assert_eq!(unsealed_data(&out)["k"], b"v");
}

#[test]
fn secret_file_and_sealed_secret_file_with_yaml_extension() {
    let fx = Fixture::new();
    std::fs::write(fx.path("in.yaml"), SECRET_YAML).unwrap();
    let target = fx.path("sealed.yml");
    let out = ok(&fjord(
        &[
            "--cert",
            &format!("file://{}", fx.cert()),
            "-f",
            fx.path("in.yaml").to_str().unwrap(),
            "-w",
            target.to_str().unwrap(),
        ],
        b"",
    ));
    assert_eq!(out, "");
    let written = std::fs::read_to_string(&target).unwrap();
    assert!(written.starts_with("---\n"), ".yml forces yaml: {written}");
    assert_eq!(unsealed_data(&written)["user"], b"admin");
}

#[test]
fn scope_flag_and_scope_annotations() {
    let fx = Fixture::new();
    let out = ok(&fjord(
        &["--cert", &fx.cert(), "--scope", "cluster-wide"],
        SECRET_YAML.as_bytes(),
    ));
    let mut sealed = SealedSecret::parse_all(&out, "out").unwrap().remove(0);
    assert_eq!(
        sealed.metadata.annotations.as_ref().unwrap()[fjord_sealed::ANNOTATION_CLUSTER_WIDE],
        "true"
    );
    sealed.metadata.namespace = Some("elsewhere".into());
    sealed.metadata.name = Some("renamed".into());
    assert!(fjord_sealed::unseal(&sealed, &ring()).is_ok());

    let annotated = SECRET_YAML.replace(
        "  labels:\n",
        "  annotations:\n    sealedsecrets.bitnami.com/namespace-wide: \"true\"\n  labels:\n",
    );
    let out = ok(&fjord(&["--cert", &fx.cert()], annotated.as_bytes()));
    let mut sealed = SealedSecret::parse_all(&out, "out").unwrap().remove(0);
    sealed.metadata.name = Some("renamed".into());
    assert!(
        fjord_sealed::unseal(&sealed, &ring()).is_ok(),
        "namespace-wide"
    );
    sealed.metadata.namespace = Some("elsewhere".into());
    assert!(fjord_sealed::unseal(&sealed, &ring()).is_err());

    let err = failed(&fjord(&["--cert", &fx.cert(), "--scope", "global"], b""));
    assert!(err.contains("global"), "{err}");
}

#[test]
fn name_and_namespace_flags() {
    let fx = Fixture::new();
    let out = ok(&fjord(
        &["--cert", &fx.cert(), "--name", "other"],
        SECRET_YAML.as_bytes(),
    ));
    let sealed = SealedSecret::parse_all(&out, "out").unwrap().remove(0);
    assert_eq!(sealed.metadata.name.as_deref(), Some("other"));
    assert_eq!(unsealed_data(&out)["user"], b"admin");

    let no_ns = SECRET_YAML.replace("  namespace: team\n", "");
    let out = ok(&fjord(
        &["--cert", &fx.cert(), "-n", "given"],
        no_ns.as_bytes(),
    ));
    let sealed = SealedSecret::parse_all(&out, "out").unwrap().remove(0);
    assert_eq!(sealed.metadata.namespace.as_deref(), Some("given"));

    let err = failed(&fjord(&["--cert", &fx.cert()], no_ns.as_bytes()));
    assert!(err.contains("--namespace"), "{err}");
    let err = failed(&fjord(
        &["--cert", &fx.cert(), "-n", "x"],
        SECRET_YAML.as_bytes(),
    ));
    assert!(err.contains("\"team\"") && err.contains("\"x\""), "{err}");
}

#[test]
fn empty_secrets_need_allow_empty_data() {
    let fx = Fixture::new();
    let empty = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: e\n  namespace: n\n";
    let err = failed(&fjord(&["--cert", &fx.cert()], empty.as_bytes()));
    assert!(err.contains("--allow-empty-data"), "{err}");
    let out = ok(&fjord(
        &["--cert", &fx.cert(), "--allow-empty-data"],
        empty.as_bytes(),
    ));
    assert!(unsealed_data(&out).is_empty());
}

#[test]
fn raw_mode_prints_only_the_ciphertext() {
    let fx = Fixture::new();
    let out = ok(&fjord(
        &[
            "--cert",
            &fx.cert(),
            "--raw",
            "--namespace",
            "ns",
            "--name",
            "s",
        ],
        b"raw value",
    ));
    assert!(out.starts_with("Ag") && !out.ends_with('\n'), "{out:?}");
    let mut sealed = SealedSecret::default();
    sealed.metadata.name = Some("s".into());
    sealed.metadata.namespace = Some("ns".into());
    sealed.spec.encrypted_data.insert("k".into(), out);
    let secret = fjord_sealed::unseal(&sealed, &ring()).unwrap();
    assert_eq!(secret.data.unwrap()["k"].0, b"raw value");

    std::fs::write(fx.path("value.bin"), [0u8, 1, 2, 255]).unwrap();
    let from_file = format!("key={}", fx.path("value.bin").display());
    let out = ok(&fjord(
        &[
            "--cert",
            &fx.cert(),
            "--raw",
            "--scope",
            "namespace-wide",
            "-n",
            "ns",
            "--from-file",
            &from_file,
        ],
        b"",
    ));
    let mut sealed = SealedSecret::default();
    sealed.metadata.name = Some("any".into());
    sealed.metadata.namespace = Some("ns".into());
    sealed.metadata.annotations = Some(BTreeMap::from([(
        fjord_sealed::ANNOTATION_NAMESPACE_WIDE.to_string(),
        "true".to_string(),
    )]));
    sealed.spec.encrypted_data.insert("k".into(), out);
    let secret = fjord_sealed::unseal(&sealed, &ring()).unwrap();
    assert_eq!(secret.data.unwrap()["k"].0, [0u8, 1, 2, 255]);

    let err = failed(&fjord(&["--cert", &fx.cert(), "--raw", "-n", "ns"], b"v"));
    assert!(err.contains("--name"), "{err}");
    let err = failed(&fjord(&["--validate", "--from-file", "x"], b"v"));
    assert!(err.contains("not with --validate"), "{err}");
}

#[test]
fn merge_into_updates_the_file_in_place() {
    let fx = Fixture::new();
    let target = fx.path("existing.yaml");
    let out = ok(&fjord(
        &["--cert", &fx.cert(), "-o", "yaml"],
        SECRET_YAML.as_bytes(),
    ));
    std::fs::write(&target, &out).unwrap();
    let addition = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ignored\n  namespace: team\nstringData:\n  token: t0k3n\n";
    let printed = ok(&fjord(
        &[
            "--cert",
            &fx.cert(),
            "--merge-into",
            target.to_str().unwrap(),
        ],
        addition.as_bytes(),
    ));
    assert_eq!(printed, "");
    let merged = std::fs::read_to_string(&target).unwrap();
    assert!(
        merged.starts_with("---\n"),
        "the file keeps its YAML format"
    );
    let data = unsealed_data(&merged);
    assert_eq!(data["token"], b"t0k3n");
    assert_eq!(data["password"], b"hunter2");
}

#[test]
fn recovery_unseal_with_pem_and_list_backups() {
    let fx = Fixture::new();
    let sealed = ok(&fjord(
        &["--cert", &fx.cert(), "-o", "yaml"],
        SECRET_YAML.as_bytes(),
    ));
    let out = ok(&fjord(
        &[
            "--recovery-unseal",
            "--recovery-private-key",
            fx.path("key.pem").to_str().unwrap(),
            "-o",
            "yaml",
        ],
        sealed.as_bytes(),
    ));
    let secret: Secret = serde_norway_free_parse(&out);
    assert_eq!(secret.data.as_ref().unwrap()["password"].0, b"hunter2");
    assert_eq!(secret.metadata.name.as_deref(), Some("db"));

    // A `kubectl get secret -l … -o yaml` backup holding an unrelated key and the right one,
    // passed as a comma-separated list together with another file.
    let other = KeyPair::generate(&KeyOptions {
        bits: 2048,
        ..KeyOptions::default()
    })
    .unwrap();
    let mut items = Vec::new();
    for (i, kp) in [&other, key_pair()].into_iter().enumerate() {
        let mut s =
            fjord_sealed::key_pair_to_secret(kp, "kube-system", "sealed-secrets-key").unwrap();
        s.metadata.name = Some(format!("sealed-secrets-key{i}"));
        items.push(s);
    }
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    std::fs::write(fx.path("main.key"), serde_json::to_string(&list).unwrap()).unwrap();
    std::fs::write(
        fx.path("other.pem"),
        other.private_key().to_pkcs1_pem().unwrap(),
    )
    .unwrap();
    let keys = format!(
        "{},{}",
        fx.path("other.pem").display(),
        fx.path("main.key").display()
    );
    let out = ok(&fjord(
        &["--recovery-unseal", "--recovery-private-key", &keys],
        sealed.as_bytes(),
    ));
    let secret: Secret = serde_json::from_str(&out).unwrap();
    assert_eq!(secret.data.unwrap()["user"].0, b"admin");

    let err = failed(&fjord(
        &[
            "--recovery-unseal",
            "--recovery-private-key",
            fx.path("other.pem").to_str().unwrap(),
        ],
        sealed.as_bytes(),
    ));
    assert!(err.contains("no key could decrypt secret"), "{err}");
    assert!(!err.contains("hunter2"));
}

/// Parse a `---`-prefixed single YAML Secret through the library's document reader.
fn serde_norway_free_parse(yaml: &str) -> Secret {
    let doc = fjord_sealed::parse_documents(yaml, "out")
        .unwrap()
        .remove(0);
    fjord_sealed::from_document(doc, "out", "Secret").unwrap()
}

#[test]
fn expired_certificates_are_refused() {
    let fx = Fixture::new();
    let old = KeyPair::generate(&KeyOptions {
        bits: 2048,
        validity: Duration::from_secs(3600),
        common_name: String::new(),
        not_before: SystemTime::now() - Duration::from_secs(7200),
    })
    .unwrap();
    std::fs::write(fx.path("old.pem"), old.certificate().to_pem()).unwrap();
    let err = failed(&fjord(
        &["--cert", fx.path("old.pem").to_str().unwrap()],
        SECRET_YAML.as_bytes(),
    ));
    assert!(err.contains("expired on"), "{err}");
    let err = failed(&fjord(
        &[
            "--cert",
            fx.path("old.pem").to_str().unwrap(),
            "--raw",
            "--scope",
            "cluster-wide",
        ],
        b"x",
    ));
    assert!(err.contains("expired on"), "{err}");
}

#[test]
fn without_a_cluster_the_service_proxy_error_names_the_path() {
    let run = |args: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fjord"))
            .arg("seal")
            .args(args)
            .env("KUBECONFIG", "/nonexistent/kubeconfig")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("fjord runs");
        let _ = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(SECRET_YAML.as_bytes());
        let out = child.wait_with_output().expect("fjord finishes");
        assert!(!out.status.success(), "sealing succeeded without a cluster");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let err = run(&[]);
    assert!(err.contains("/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:/proxy/v1/cert.pem"), "{err}");
    let err = run(&[
        "--fetch-cert",
        "--controller-namespace",
        "sealed",
        "--controller-name",
        "ss",
    ]);
    assert!(
        err.contains("/api/v1/namespaces/sealed/services/http:ss:"),
        "{err}"
    );
}

#[test]
fn conflicting_modes_are_refused() {
    let err = failed(&fjord(&["--raw", "--validate"], b""));
    assert!(err.contains("cannot be used together"), "{err}");
    let err = failed(&fjord(&["--recovery-unseal"], b""));
    assert!(err.contains("--recovery-private-key"), "{err}");
}

/// A stand-in controller on 127.0.0.1: `/v1/cert.pem`, `/v1/verify` (200/409), `/v1/rotate`.
/// Serves a bounded number of connections, then its thread ends.
fn fake_controller(connections: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            let path = request_line.split_whitespace().nth(1).unwrap_or("");
            let (status, answer) = match path {
                "/v1/cert.pem" => (200, key_pair().certificate().to_pem().into_bytes()),
                "/v1/verify" | "/v1/rotate" => {
                    let sealed: SealedSecret = serde_json::from_slice(&body).unwrap();
                    match fjord_sealed::unseal(&sealed, &ring()) {
                        Err(_) if path == "/v1/verify" => (409, Vec::new()),
                        Err(e) => (500, e.to_string().into_bytes()),
                        Ok(_) if path == "/v1/verify" => (200, Vec::new()),
                        Ok(_) => {
                            let rotated = fjord_sealed::re_encrypt(
                                &sealed,
                                &ring(),
                                key_pair().certificate(),
                            )
                            .unwrap();
                            (200, serde_json::to_vec(&rotated).unwrap())
                        }
                    }
                }
                _ => (404, Vec::new()),
            };
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                answer.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&answer).unwrap();
        }
    });
    format!("http://{addr}")
}

#[test]
fn cert_url_and_fetch_cert_over_http() {
    let base = fake_controller(2);
    let out = ok(&fjord(
        &["--cert", &format!("{base}/v1/cert.pem"), "-o", "yaml"],
        SECRET_YAML.as_bytes(),
    ));
    assert_eq!(unsealed_data(&out)["user"], b"admin");
    let pem = ok(&fjord(&["--fetch-cert", "--controller-url", &base], b""));
    assert_eq!(pem, key_pair().certificate().to_pem());
}

#[test]
fn validate_and_re_encrypt_use_the_controller_endpoints() {
    let fx = Fixture::new();
    let base = fake_controller(4);
    let sealed = ok(&fjord(
        &["--cert", &fx.cert(), "-o", "yaml"],
        SECRET_YAML.as_bytes(),
    ));
    ok(&fjord(
        &["--validate", "--controller-url", &base],
        sealed.as_bytes(),
    ));

    let broken = sealed.replace(
        "name: db\n  namespace: team\nspec",
        "name: moved\n  namespace: team\nspec",
    );
    assert_ne!(broken, sealed);
    let err = failed(&fjord(
        &["--validate", "--controller-url", &base],
        broken.as_bytes(),
    ));
    assert!(
        err.contains("unable to decrypt sealed secret: team/moved"),
        "{err}"
    );

    let input = fx.path("sealed.yaml");
    std::fs::write(&input, &sealed).unwrap();
    let printed = ok(&fjord(
        &[
            "--re-encrypt",
            "--controller-url",
            &base,
            "-f",
            input.to_str().unwrap(),
            "-o",
            "yaml",
        ],
        b"",
    ));
    assert_eq!(
        printed, "",
        "re-encrypt with only -f rewrites the file in place"
    );
    let rotated = std::fs::read_to_string(&input).unwrap();
    assert_ne!(rotated, sealed);
    assert_eq!(unsealed_data(&rotated)["password"], b"hunter2");
}

#[test]
fn from_file_without_raw_builds_the_secret_from_files() {
    let fx = Fixture::new();
    std::fs::write(fx.path("tls.crt"), "certificate").unwrap();
    std::fs::write(fx.path("pw.bin"), [1u8, 2, 3]).unwrap();
    let crt = fx.path("tls.crt").display().to_string();
    let pw = format!("password={}", fx.path("pw.bin").display());
    let out = ok(&fjord(
        &[
            "--cert",
            &fx.cert(),
            "--name",
            "files",
            "-n",
            "team",
            "--from-file",
            &crt,
            "--from-file",
            &pw,
        ],
        b"ignored stdin",
    ));
    let sealed = SealedSecret::parse_all(&out, "out").unwrap().remove(0);
    assert_eq!(sealed.metadata.name.as_deref(), Some("files"));
    let data = unsealed_data(&out);
    assert_eq!(data["tls.crt"], b"certificate");
    assert_eq!(data["password"], [1u8, 2, 3]);
    let err = failed(&fjord(&["--cert", &fx.cert(), "--from-file", &crt], b""));
    assert!(err.contains("--name"), "{err}");
}

#[test]
fn several_secrets_in_one_input_give_several_sealed_secrets() {
    let fx = Fixture::new();
    let two = format!(
        "{SECRET_YAML}---\n{}",
        SECRET_YAML.replace("name: db", "name: cache")
    );
    let out = ok(&fjord(
        &["--cert", &fx.cert(), "-o", "yaml"],
        two.as_bytes(),
    ));
    let all = SealedSecret::parse_all(&out, "out").unwrap();
    let names: Vec<_> = all
        .iter()
        .map(|s| s.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["db", "cache"]);
    for s in &all {
        let secret = fjord_sealed::unseal(s, &ring()).unwrap();
        assert_eq!(secret.data.unwrap()["password"].0, b"hunter2");
    }
    let json_two = format!(
        "{}\n{}",
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a","namespace":"n"},"stringData":{"k":"1"}}"#,
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"b","namespace":"n"},"stringData":{"k":"2"}}"#
    );
    let out = ok(&fjord(
        &["--cert", &fx.cert(), "-o", "yaml"],
        json_two.as_bytes(),
    ));
    assert_eq!(SealedSecret::parse_all(&out, "out").unwrap().len(), 2);
}
