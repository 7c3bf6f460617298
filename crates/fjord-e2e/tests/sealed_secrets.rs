//! The Sealed Secrets controller on the embedded control plane: SealedSecrets become Secrets,
//! failures become conditions and no Secret, a restored Bitnami key backup unseals what it sealed,
//! and key renewal keeps old SealedSecrets working.

use std::time::{Duration, Instant};

use fjord_e2e::{TestCluster, client};
use fjord_sealed::{KeyOptions, KeyPair, Scope, SealingCert};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use serde_json::{Value, json};

struct Fixture {
    tc: TestCluster,
    client: kube::Client,
}

async fn setup(renew_period: Duration) -> Fixture {
    let tc = TestCluster::start().await.unwrap();
    let crd = tc.scratch().join("sealedsecret-crd.yaml");
    std::fs::write(&crd, fjord_sealed_controller::CRD_YAML).unwrap();
    tc.kubectl_ok("1.31", &["apply", "-f", crd.to_str().unwrap()])
        .unwrap();
    tc.kubectl_ok("1.31", &["create", "namespace", "app"])
        .unwrap();
    let client = client(&tc).await;
    let mut config = fjord_sealed_controller::ControllerConfig::new("kube-system");
    config.keys.key_bits = 2048; // faster in tests; the default is Bitnami's 4096
    config.keys.renew_period = renew_period;
    let c = client.clone();
    tokio::spawn(async move {
        fjord_sealed_controller::run(c, config, std::future::pending())
            .await
            .expect("the controller runs");
    });
    Fixture { tc, client }
}

fn key_secrets_api(client: &kube::Client) -> Api<Secret> {
    Api::namespaced(client.clone(), "kube-system")
}

async fn key_secrets(client: &kube::Client) -> Vec<Secret> {
    key_secrets_api(client)
        .list(&ListParams::default().labels("sealedsecrets.bitnami.com/sealed-secrets-key"))
        .await
        .unwrap()
        .items
}

/// The newest certificate, as kubeseal --fetch-cert would get it.
async fn current_cert(client: &kube::Client, count: usize) -> SealingCert {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut keys = key_secrets(client).await;
        if keys.len() >= count {
            keys.sort_by_key(|s| s.metadata.creation_timestamp.clone().map(|t| t.0));
            let newest = keys.last().unwrap();
            let crt = &newest.data.as_ref().unwrap()["tls.crt"].0;
            return SealingCert::from_pem(crt, "key Secret").unwrap();
        }
        assert!(Instant::now() < deadline, "no key Secret was created");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn secret(ns: &str, name: &str, data: &[(&str, &[u8])]) -> Secret {
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                .collect(),
        ),
        ..Default::default()
    }
}

fn sealed_api(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("bitnami.com", "v1alpha1", "SealedSecret"),
        "sealedsecrets",
    );
    Api::namespaced_with(client.clone(), ns, &ar)
}

async fn create_sealed(client: &kube::Client, ns: &str, mut sealed: Value) {
    sealed["metadata"]["namespace"] = json!(ns);
    let obj: DynamicObject = serde_json::from_value(sealed).unwrap();
    sealed_api(client, ns)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap();
}

fn seal(cert: &SealingCert, s: &Secret, scope: Scope) -> Value {
    serde_json::to_value(fjord_sealed::seal_secret(s, cert, Some(scope)).unwrap()).unwrap()
}

async fn wait_secret(client: &kube::Client, ns: &str, name: &str, within: Duration) -> Secret {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    loop {
        if let Some(s) = api.get_opt(name).await.unwrap() {
            return s;
        }
        assert!(
            start.elapsed() < within,
            "Secret {ns}/{name} did not appear within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for the Synced condition to be False and returns its message.
async fn wait_failed(client: &kube::Client, ns: &str, name: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let obj = sealed_api(client, ns).get(name).await.unwrap();
        let cond = obj.data["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Synced").cloned());
        if let Some(c) = cond
            && c["status"] == "False"
        {
            return c["message"].as_str().unwrap_or("").to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no failure condition on {ns}/{name}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane and the Sealed Secrets controller"]
async fn sealed_secrets_become_secrets_and_failures_become_conditions() {
    let f = setup(Duration::ZERO).await;
    let cert = current_cert(&f.client, 1).await;

    // A SealedSecret becomes its Secret within a second.
    let plain = secret(
        "app",
        "db",
        &[("password", b"hunter2"), ("bin", &[0, 159, 255])],
    );
    let start = Instant::now();
    create_sealed(&f.client, "app", seal(&cert, &plain, Scope::Strict)).await;
    let made = wait_secret(&f.client, "app", "db", Duration::from_secs(1)).await;
    eprintln!("SealedSecret to Secret: {:?}", start.elapsed());
    let data = made.data.unwrap();
    assert_eq!(data["password"].0, b"hunter2");
    assert_eq!(data["bin"].0, vec![0, 159, 255]);
    let owner = &made.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("SealedSecret", Some(true))
    );

    // Strict scope: the same ciphertext under another name opens nothing.
    let mut renamed = seal(
        &cert,
        &secret("app", "db2", &[("password", b"x")]),
        Scope::Strict,
    );
    renamed["metadata"]["name"] = json!("other");
    create_sealed(&f.client, "app", renamed).await;
    let msg = wait_failed(&f.client, "app", "other").await;
    assert!(msg.contains("no key could decrypt secret"), "{msg}");
    let secrets: Api<Secret> = Api::namespaced(f.client.clone(), "app");
    assert!(secrets.get_opt("other").await.unwrap().is_none());

    // Tampered ciphertext.
    let mut tampered = seal(
        &cert,
        &secret("app", "tampered", &[("k", b"value")]),
        Scope::Strict,
    );
    let ct = tampered["spec"]["encryptedData"]["k"]
        .as_str()
        .unwrap()
        .to_string();
    let flipped = format!(
        "{}{}",
        &ct[..ct.len() - 8],
        if ct.ends_with("AAAAAAA=") {
            "BBBBBBB="
        } else {
            "AAAAAAA="
        }
    );
    tampered["spec"]["encryptedData"]["k"] = json!(flipped);
    create_sealed(&f.client, "app", tampered).await;
    wait_failed(&f.client, "app", "tampered").await;
    assert!(secrets.get_opt("tampered").await.unwrap().is_none());

    // Sealed for a key the controller does not have: a condition, until the key's backup is
    // restored.
    let foreign = tokio::task::spawn_blocking(|| {
        KeyPair::generate(&KeyOptions {
            bits: 2048,
            ..Default::default()
        })
        .unwrap()
    })
    .await
    .unwrap();
    let lost = seal(
        foreign.certificate(),
        &secret("app", "restored", &[("k", b"v")]),
        Scope::Strict,
    );
    create_sealed(&f.client, "app", lost).await;
    let msg = wait_failed(&f.client, "app", "restored").await;
    assert!(msg.contains("no key could decrypt"), "{msg}");
    let mut backup_secret =
        fjord_sealed::key_pair_to_secret(&foreign, "kube-system", "sealed-secrets-key").unwrap();
    backup_secret.metadata.generate_name = None;
    backup_secret.metadata.name = Some("sealed-secrets-keyrestr".into());
    let mut item = serde_json::to_value(&backup_secret).unwrap();
    item["apiVersion"] = json!("v1");
    item["kind"] = json!("Secret");
    let backup = json!({"apiVersion": "v1", "kind": "List", "items": [item], "metadata": {"resourceVersion": ""}});
    let file = f.tc.scratch().join("main.key");
    std::fs::write(&file, serde_json::to_string_pretty(&backup).unwrap()).unwrap();
    f.tc.kubectl_ok("1.31", &["apply", "-f", file.to_str().unwrap()])
        .unwrap();
    let restored = wait_secret(&f.client, "app", "restored", Duration::from_secs(20)).await;
    assert_eq!(restored.data.unwrap()["k"].0, b"v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane and the Sealed Secrets controller"]
async fn key_renewal_keeps_old_sealed_secrets_working() {
    let f = setup(Duration::from_secs(3)).await;
    let first = current_cert(&f.client, 1).await;
    create_sealed(
        &f.client,
        "app",
        seal(&first, &secret("app", "old", &[("k", b"1")]), Scope::Strict),
    )
    .await;
    wait_secret(&f.client, "app", "old", Duration::from_secs(5)).await;

    let second = current_cert(&f.client, 2).await;
    assert_ne!(
        first.fingerprint(),
        second.fingerprint(),
        "a new key after the renewal period"
    );
    // Old and new both open.
    create_sealed(
        &f.client,
        "app",
        seal(
            &second,
            &secret("app", "new", &[("k", b"2")]),
            Scope::Strict,
        ),
    )
    .await;
    wait_secret(&f.client, "app", "new", Duration::from_secs(5)).await;
    create_sealed(
        &f.client,
        "app",
        seal(
            &first,
            &secret("app", "old2", &[("k", b"3")]),
            Scope::Strict,
        ),
    )
    .await;
    let old2 = wait_secret(&f.client, "app", "old2", Duration::from_secs(5)).await;
    assert_eq!(old2.data.unwrap()["k"].0, b"3");
    assert!(key_secrets(&f.client).await.len() >= 2, "old keys are kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane and the Sealed Secrets controller"]
async fn the_controller_stops_when_asked() {
    let tc = TestCluster::start().await.unwrap();
    let crd = tc.scratch().join("sealedsecret-crd.yaml");
    std::fs::write(&crd, fjord_sealed_controller::CRD_YAML).unwrap();
    tc.kubectl_ok("1.31", &["apply", "-f", crd.to_str().unwrap()])
        .unwrap();
    let client = client(&tc).await;
    let mut config = fjord_sealed_controller::ControllerConfig::new("kube-system");
    config.keys.key_bits = 2048;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(fjord_sealed_controller::run(
        client.clone(),
        config,
        async move {
            let _ = rx.await;
        },
    ));
    current_cert(&client, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = tx.send(());
    let stopped = tokio::time::timeout(Duration::from_secs(5), task).await;
    assert!(
        stopped.is_ok(),
        "the controller did not stop within 5 s of the shutdown signal"
    );
}
