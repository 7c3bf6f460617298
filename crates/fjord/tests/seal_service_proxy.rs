//! `fjord seal` reaching the Sealed Secrets controller the way kubeseal does by default: through
//! the API server's service proxy to `kube-system/sealed-secrets-controller`, on the embedded
//! control plane, with the controller registered as that Service.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fjord_e2e::{TestCluster, client};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

const PROXY_PATH: &str =
    "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:/proxy/v1/cert.pem";

const SECRET_YAML: &str = "apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: app
stringData:
  password: hunter2
";

/// Runs `fjord seal` with `args` and `stdin`, off the async runtime (the API server and the
/// controller under test share it).
async fn seal(args: Vec<String>, stdin: Vec<u8>) -> Output {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_fjord"))
            .arg("seal")
            .args(&args)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("fjord runs");
        let _ = child.stdin.take().expect("stdin").write_all(&stdin);
        child.wait_with_output().expect("fjord finishes")
    })
    .await
    .expect("the blocking task")
}

fn with_kubeconfig(kubeconfig: &std::path::Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["--kubeconfig".to_string(), kubeconfig.display().to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    all
}

fn stdout_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "fjord seal failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}

async fn start_controller(tc: &TestCluster) -> kube::Client {
    let crd = tc.scratch().join("sealedsecret-crd.yaml");
    std::fs::write(&crd, fjord_sealed_controller::CRD_YAML).unwrap();
    tc.kubectl_ok("1.33", &["apply", "-f", crd.to_str().unwrap()])
        .unwrap();
    tc.kubectl_ok("1.33", &["create", "namespace", "app"])
        .unwrap();
    let client = client(tc).await;
    let mut config = fjord_sealed_controller::ControllerConfig::new("kube-system");
    config.keys.key_bits = 2048; // faster in tests; the default is Bitnami's 4096
    config.listen = Some(([127, 0, 0, 1], 0).into());
    config.advertise_service = Some("sealed-secrets-controller".into());
    let c = client.clone();
    tokio::spawn(async move {
        fjord_sealed_controller::run(c, config, std::future::pending())
            .await
            .expect("the controller runs");
    });
    client
}

/// The certificate, fetched as kubeseal does, once the controller answers.
async fn fetch_cert(kubeconfig: &std::path::Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = seal(with_kubeconfig(kubeconfig, &["--fetch-cert"]), Vec::new()).await;
        if out.status.success() {
            return String::from_utf8(out.stdout).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the certificate never became reachable: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubeseal_default_path_goes_through_the_service_proxy() {
    let tc = TestCluster::start().await.unwrap();
    let client = start_controller(&tc).await;
    let kubeconfig: PathBuf = tc.kubeconfig.clone();

    // --fetch-cert through the proxy gives the key Secret's certificate, as does real kubectl.
    let pem = fetch_cert(&kubeconfig).await;
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let keys: Api<Secret> = Api::namespaced(client.clone(), "kube-system");
    let listed = keys
        .list(
            &kube::api::ListParams::default()
                .labels("sealedsecrets.bitnami.com/sealed-secrets-key"),
        )
        .await
        .unwrap();
    let crt = &listed.items[0].data.as_ref().unwrap()["tls.crt"].0;
    assert_eq!(pem.as_bytes(), crt.as_slice());
    let raw = tc
        .kubectl_ok("1.33", &["get", "--raw", PROXY_PATH])
        .unwrap();
    assert_eq!(raw, pem, "kubectl get --raw through the proxy");

    // Sealing without --cert fetches the certificate the same way; the result unseals.
    let sealed = stdout_ok(
        &seal(
            with_kubeconfig(&kubeconfig, &["-o", "yaml"]),
            SECRET_YAML.as_bytes().to_vec(),
        )
        .await,
    );
    assert!(sealed.contains("kind: SealedSecret"), "{sealed}");
    stdout_ok(
        &seal(
            with_kubeconfig(&kubeconfig, &["--validate"]),
            sealed.clone().into_bytes(),
        )
        .await,
    );

    // --validate through the proxy refuses a tampered ciphertext.
    let ciphertext = sealed
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .expect("the sealed password")
        .to_string();
    let mut chars: Vec<char> = ciphertext.chars().collect();
    let mid = chars.len() / 2;
    chars[mid] = if chars[mid] == 'A' { 'B' } else { 'A' };
    let tampered = sealed.replace(&ciphertext, &chars.into_iter().collect::<String>());
    let out = seal(
        with_kubeconfig(&kubeconfig, &["--validate"]),
        tampered.into_bytes(),
    )
    .await;
    assert!(!out.status.success(), "a tampered SealedSecret validated");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unable to decrypt"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // --re-encrypt through the proxy gives a new ciphertext that still validates.
    let rotated = stdout_ok(
        &seal(
            with_kubeconfig(&kubeconfig, &["--re-encrypt", "-o", "yaml"]),
            sealed.clone().into_bytes(),
        )
        .await,
    );
    assert!(rotated.contains("kind: SealedSecret"), "{rotated}");
    assert!(
        !rotated.contains(&ciphertext),
        "re-encrypting changed nothing"
    );
    stdout_ok(
        &seal(
            with_kubeconfig(&kubeconfig, &["--validate"]),
            rotated.clone().into_bytes(),
        )
        .await,
    );

    // The re-encrypted SealedSecret becomes the Secret.
    let file = tc.scratch().join("sealed.yaml");
    std::fs::write(&file, &rotated).unwrap();
    tc.kubectl_ok("1.33", &["apply", "-f", file.to_str().unwrap()])
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "app");
    let deadline = Instant::now() + Duration::from_secs(30);
    let secret = loop {
        if let Some(s) = secrets.get_opt("db").await.unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the Secret never appeared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(secret.data.unwrap()["password"].0, b"hunter2");

    // A Service that does not exist is a clear error naming the proxy path.
    let out = seal(
        with_kubeconfig(&kubeconfig, &["--fetch-cert", "--controller-name", "nope"]),
        Vec::new(),
    )
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/api/v1/namespaces/kube-system/services/http:nope:/proxy/v1/cert.pem")
            && err.contains("404"),
        "{err}"
    );
}
