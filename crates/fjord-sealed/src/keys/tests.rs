use std::time::{Duration, SystemTime};

use super::*;

fn pair(bits: usize, not_before: SystemTime, validity: Duration) -> KeyPair {
    KeyPair::generate(&KeyOptions {
        bits,
        validity,
        common_name: String::new(),
        not_before,
    })
    .unwrap()
}

#[test]
fn generated_certificate_matches_the_bitnami_shape() {
    let now = SystemTime::now();
    let kp = pair(2048, now, DEFAULT_KEY_VALIDITY);
    let (_, cert) = x509_parser::parse_x509_certificate(kp.certificate().der()).unwrap();
    assert!(cert.subject().iter().next().is_none(), "empty DN");
    assert_eq!(cert.subject(), cert.issuer());
    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(bc.value.ca);
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical);
    assert!(ku.value.encipher_only());
    assert!(!ku.value.digital_signature());
    assert_eq!(
        cert.signature_algorithm.algorithm,
        x509_parser::oid_registry::OID_PKCS1_SHA256WITHRSA
    );
    assert_eq!(cert.raw_serial().len(), 16);
    let ttl = kp
        .certificate()
        .not_after()
        .duration_since(kp.certificate().not_before())
        .unwrap();
    assert_eq!(ttl.as_secs(), 87_600 * 3600);
    assert_eq!(kp.private_key().bits(), 2048);
    assert!(kp.certificate().fingerprint().starts_with("SHA256:"));
    assert_eq!(
        kp.certificate().fingerprint(),
        kp.private_key().fingerprint()
    );
}

#[test]
fn default_key_is_rsa_4096() {
    let kp = KeyPair::generate(&KeyOptions::default()).unwrap();
    assert_eq!(kp.private_key().bits(), 4096);
    let ct = crate::hybrid_encrypt(kp.certificate().public_key(), b"v", b"").unwrap();
    assert_eq!(&ct[..2], &[0x02, 0x00], "512-byte RSA block");
    assert!(crate::encode_base64(&ct).starts_with("Ag"));
}

#[test]
fn pem_round_trips_through_pkcs1() {
    let kp = pair(2048, SystemTime::now(), DEFAULT_KEY_VALIDITY);
    let pem_text = kp.private_key().to_pkcs1_pem().unwrap();
    assert!(pem_text.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
    let back = PrivateKey::from_pem(pem_text.as_bytes(), "test").unwrap();
    assert_eq!(back.fingerprint(), kp.private_key().fingerprint());
    let cert = SealingCert::from_pem(kp.certificate().to_pem().as_bytes(), "test").unwrap();
    assert_eq!(cert.fingerprint(), kp.certificate().fingerprint());
    let again = KeyPair::from_pem(pem_text.as_bytes(), cert.to_pem().as_bytes(), "t").unwrap();
    assert_eq!(
        again.private_key().fingerprint(),
        kp.private_key().fingerprint()
    );
}

#[test]
fn mismatched_key_and_certificate_are_refused() {
    let a = pair(2048, SystemTime::now(), DEFAULT_KEY_VALIDITY);
    let b = pair(2048, SystemTime::now(), DEFAULT_KEY_VALIDITY);
    let err = KeyPair::new(a.private_key().clone(), b.certificate().clone()).unwrap_err();
    assert!(err.to_string().contains("not for the private key"), "{err}");
}

#[test]
fn expired_certificates_are_refused() {
    let long_ago = SystemTime::now() - Duration::from_secs(10 * 86400);
    let kp = pair(2048, long_ago, Duration::from_secs(86400));
    let err = kp
        .certificate()
        .check_not_expired(SystemTime::now())
        .unwrap_err();
    assert!(matches!(err, Error::CertificateExpired { .. }), "{err}");
    assert!(err.to_string().contains("--fetch-cert"), "{err}");
    assert!(kp.certificate().check_not_expired(long_ago).is_ok());
}

#[test]
fn garbage_is_reported_with_its_origin() {
    let err = SealingCert::from_pem(b"hello", "cert.pem").unwrap_err();
    assert!(err.to_string().contains("cert.pem"), "{err}");
    let err = PrivateKey::from_pem(
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "k.pem",
    )
    .unwrap_err();
    assert!(err.to_string().contains("k.pem"), "{err}");
}

#[test]
fn ring_seals_with_newest_and_renews_on_schedule() {
    let now = SystemTime::now();
    let old = pair(
        2048,
        now - Duration::from_secs(40 * 86400),
        DEFAULT_KEY_VALIDITY,
    );
    let new = pair(2048, now - Duration::from_secs(86400), DEFAULT_KEY_VALIDITY);
    let mut ring = KeyRing::new();
    assert!(ring.needs_new_key(now, Duration::from_secs(30 * 86400)));
    assert!(ring.insert(new.clone()));
    assert!(ring.insert(old.clone()));
    assert!(!ring.insert(old.clone()), "duplicates are ignored");
    assert_eq!(ring.len(), 2);
    assert_eq!(
        ring.sealing_certificate().unwrap().fingerprint(),
        new.certificate().fingerprint()
    );
    let month = Duration::from_secs(30 * 86400);
    assert!(!ring.needs_new_key(now, month));
    assert!(ring.needs_new_key(now + month, month));
    assert!(!ring.needs_new_key(now + month, Duration::ZERO));
    assert_eq!(
        ring.next_renewal(month),
        Some(new.certificate().not_before() + month)
    );
}

#[test]
fn debug_output_hides_key_material() {
    let kp = pair(2048, SystemTime::now(), DEFAULT_KEY_VALIDITY);
    let pem_text = kp.private_key().to_pkcs1_pem().unwrap();
    let body_line = pem_text.lines().nth(1).unwrap();
    let debug = format!("{kp:?}");
    assert!(!debug.contains(body_line), "{debug}");
    assert!(debug.contains("SHA256:"));
}

#[test]
fn key_secrets_round_trip_and_backups_are_read() {
    let kp = pair(2048, SystemTime::now(), DEFAULT_KEY_VALIDITY);
    let secret = key_pair_to_secret(&kp, "kube-system", DEFAULT_KEY_PREFIX).unwrap();
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    assert_eq!(
        secret.metadata.generate_name.as_deref(),
        Some("sealed-secrets-key")
    );
    assert!(is_key_secret(&secret));
    let back = key_pair_from_secret(&secret).unwrap();
    assert_eq!(
        back.private_key().fingerprint(),
        kp.private_key().fingerprint()
    );

    // What `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` prints.
    let mut named = secret.clone();
    named.metadata.name = Some("sealed-secrets-keyab12c".into());
    named.metadata.generate_name = None;
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [named], "metadata": {"resourceVersion": ""}});
    let yaml = serde_norway::to_string(&list).unwrap();
    let keys = private_keys_from_backup(yaml.as_bytes(), "main.key").unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].fingerprint(), kp.private_key().fingerprint());
    let json = serde_json::to_string(&list).unwrap();
    assert_eq!(
        private_keys_from_backup(json.as_bytes(), "main.key")
            .unwrap()
            .len(),
        1
    );
    let pem_text = kp.private_key().to_pkcs1_pem().unwrap();
    assert_eq!(
        private_keys_from_backup(pem_text.as_bytes(), "k.pem")
            .unwrap()
            .len(),
        1
    );
    let err = private_keys_from_backup(b"kind: ConfigMap\n", "x.yaml").unwrap_err();
    assert!(err.to_string().contains("x.yaml"), "{err}");
}

#[test]
fn ordering_time_overrides_not_before() {
    let now = SystemTime::now();
    let a = pair(2048, now, DEFAULT_KEY_VALIDITY);
    let b = pair(2048, now - Duration::from_secs(3600), DEFAULT_KEY_VALIDITY);
    let mut ring = KeyRing::new();
    ring.insert_ordered(a.clone(), Some(now - Duration::from_secs(7200)));
    ring.insert_ordered(b.clone(), Some(now));
    assert_eq!(
        ring.sealing_certificate().unwrap().fingerprint(),
        b.certificate().fingerprint(),
        "b's Secret is newer although its certificate is older"
    );
}
