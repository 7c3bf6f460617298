//! Secret → SealedSecret → Secret through the public API, with the failure cases that matter to
//! users: wrong scope, name or namespace, tampering, unknown keys.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use fjord_sealed::k8s_openapi::ByteString;
use fjord_sealed::k8s_openapi::api::core::v1::Secret;
use fjord_sealed::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use fjord_sealed::*;

fn key_pair(slot: usize) -> KeyPair {
    static KEYS: OnceLock<Vec<KeyPair>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (0..2)
            .map(|_| {
                KeyPair::generate(&KeyOptions {
                    bits: 4096,
                    ..KeyOptions::default()
                })
                .unwrap()
            })
            .collect()
    })[slot]
        .clone()
}

fn ring(slots: &[usize]) -> KeyRing {
    let mut ring = KeyRing::new();
    for &s in slots {
        ring.insert(key_pair(s));
    }
    ring
}

fn secret(ns: &str, name: &str, data: &[(&str, &[u8])]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            ..ObjectMeta::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                .collect(),
        ),
        ..Secret::default()
    }
}

fn values() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", Vec::new()),
        ("binary", (0..=255u8).cycle().take(1000).collect()),
        (
            "large",
            (0..1024 * 1024).map(|i| (i * 7 % 251) as u8).collect(),
        ),
        ("unicode", "pässwörd ✓ 秘密 🔐".as_bytes().to_vec()),
    ]
}

fn data_of(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    secret
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

#[test]
fn round_trips_every_scope_with_empty_binary_large_and_unicode_values() {
    let cert = key_pair(0).certificate().clone();
    let keys = ring(&[0]);
    let vals = values();
    let refs: Vec<(&str, &[u8])> = vals.iter().map(|(k, v)| (*k, &v[..])).collect();
    for scope in [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide] {
        let input = secret("team-a", "db", &refs);
        let sealed = seal_secret(&input, &cert, Some(scope)).unwrap();
        assert_eq!(sealed.spec.encrypted_data.len(), 4);
        for (k, v) in &sealed.spec.encrypted_data {
            assert!(v.starts_with("Ag"), "{scope} {k}: 4096-bit prefix");
            assert!(!v.contains('\n'));
        }
        let out = unseal(&sealed, &keys).unwrap();
        let expected: BTreeMap<String, Vec<u8>> = vals
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        assert_eq!(data_of(&out), expected, "{scope}");
        assert_eq!(out.metadata.name.as_deref(), Some("db"));
        assert_eq!(out.metadata.namespace.as_deref(), Some("team-a"));
    }
}

#[test]
fn scope_annotations_go_on_both_metadata_and_template() {
    let cert = key_pair(0).certificate().clone();
    let sealed = seal_secret(
        &secret("ns", "s", &[("a", b"1")]),
        &cert,
        Some(Scope::NamespaceWide),
    )
    .unwrap();
    let own = sealed.metadata.annotations.clone().unwrap();
    assert_eq!(
        own.get(ANNOTATION_NAMESPACE_WIDE).map(String::as_str),
        Some("true")
    );
    let tpl = sealed.spec.template.metadata.annotations.clone().unwrap();
    assert_eq!(
        tpl.get(ANNOTATION_NAMESPACE_WIDE).map(String::as_str),
        Some("true")
    );
    // Strict writes no annotation at all.
    let strict = seal_secret(&secret("ns", "s", &[("a", b"1")]), &cert, None).unwrap();
    assert_eq!(strict.metadata.annotations, None);
}

#[test]
fn input_annotations_choose_the_scope_unless_forced() {
    let cert = key_pair(0).certificate().clone();
    let mut input = secret("ns", "s", &[("a", b"1")]);
    input.metadata.annotations = Some(BTreeMap::from([(
        ANNOTATION_CLUSTER_WIDE.to_string(),
        "true".to_string(),
    )]));
    let sealed = seal_secret(&input, &cert, None).unwrap();
    // Cluster-wide: opens under any name and namespace.
    let mut moved = sealed.clone();
    moved.metadata.name = Some("other".into());
    moved.metadata.namespace = Some("elsewhere".into());
    assert_eq!(data_of(&unseal(&moved, &ring(&[0])).unwrap())["a"], b"1");
    // Forced strict: the annotation is replaced.
    let forced = seal_secret(&input, &cert, Some(Scope::Strict)).unwrap();
    assert_eq!(forced.metadata.annotations, None);
    let tpl = forced
        .spec
        .template
        .metadata
        .annotations
        .unwrap_or_default();
    assert!(!tpl.contains_key(ANNOTATION_CLUSTER_WIDE));
}

#[test]
fn wrong_name_namespace_or_scope_fails_with_an_actionable_message() {
    let cert = key_pair(0).certificate().clone();
    let keys = ring(&[0]);
    let strict = seal_secret(&secret("ns", "s", &[("pw", b"hunter2")]), &cert, None).unwrap();

    let mut renamed = strict.clone();
    renamed.metadata.name = Some("t".into());
    let err = unseal(&renamed, &keys).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("no key could decrypt secret (pw)"),
        "{text}"
    );
    assert!(text.contains("name, namespace or scope"), "{text}");
    assert!(!text.contains("hunter2"));

    let mut moved = strict.clone();
    moved.metadata.namespace = Some("other".into());
    assert!(unseal(&moved, &keys).is_err());

    // Namespace-wide value without the annotation in metadata.annotations (only in the
    // template) does not open: the label comes from the SealedSecret's own annotations.
    let mut nsw = seal_secret(
        &secret("ns", "s", &[("pw", b"x")]),
        &cert,
        Some(Scope::NamespaceWide),
    )
    .unwrap();
    nsw.metadata.annotations = None;
    assert!(matches!(unseal(&nsw, &keys), Err(Error::Unseal(_))));

    // A strict value with a cluster-wide annotation added by hand does not open either.
    let mut widened = strict.clone();
    widened.metadata.annotations = Some(BTreeMap::from([(
        ANNOTATION_CLUSTER_WIDE.to_string(),
        "true".to_string(),
    )]));
    assert!(unseal(&widened, &keys).is_err());
}

#[test]
fn tampered_ciphertext_and_unknown_keys_fail_all_or_nothing() {
    let cert = key_pair(0).certificate().clone();
    let sealed = seal_secret(
        &secret("ns", "s", &[("a", b"one"), ("b", b"two")]),
        &cert,
        None,
    )
    .unwrap();

    let mut tampered = sealed.clone();
    let b = tampered.spec.encrypted_data.get_mut("b").unwrap();
    let mut raw = decode_base64_like_go(b).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 0x80;
    *b = encode_base64(&raw);
    match unseal(&tampered, &ring(&[0])) {
        Err(Error::Unseal(f)) => {
            assert_eq!(f.problems.len(), 1, "only b failed");
            assert_eq!(f.problems[0].item, "b");
        }
        other => panic!("expected an unseal failure, got {other:?}"),
    }

    let err = unseal(&sealed, &ring(&[1])).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("no key could decrypt secret (a, b)"),
        "{err}"
    );
    // Old and new keys together: the ring tries all of them.
    assert!(unseal(&sealed, &ring(&[1, 0])).is_ok());
}

#[test]
fn base64_with_line_breaks_is_accepted_and_bad_base64_named() {
    let cert = key_pair(0).certificate().clone();
    let mut sealed = seal_secret(&secret("ns", "s", &[("a", b"wrapped")]), &cert, None).unwrap();
    let v = sealed.spec.encrypted_data["a"].clone();
    let wrapped: String = v
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
        .collect();
    sealed.spec.encrypted_data.insert("a".into(), wrapped);
    assert_eq!(
        data_of(&unseal(&sealed, &ring(&[0])).unwrap())["a"],
        b"wrapped"
    );

    sealed
        .spec
        .encrypted_data
        .insert("bad".into(), "Ag*=".into());
    let err = unseal(&sealed, &ring(&[0])).unwrap_err().to_string();
    assert!(
        err.contains("illegal base64 data at input byte 2 (bad)"),
        "{err}"
    );
}

#[test]
fn template_metadata_type_immutable_and_owner_reference() {
    let cert = key_pair(0).certificate().clone();
    let mut input = secret("ns", "s", &[("user", b"admin"), ("pass", b"pw")]);
    input.type_ = Some("kubernetes.io/basic-auth".into());
    input.immutable = Some(true);
    input.metadata.labels = Some(BTreeMap::from([("app".to_string(), "db".to_string())]));
    input.metadata.annotations = Some(BTreeMap::from([
        ("note".to_string(), "kept".to_string()),
        (
            "kubectl.kubernetes.io/last-applied-configuration".to_string(),
            "{\"data\":\"leak\"}".to_string(),
        ),
    ]));
    input.metadata.uid = Some("server-uid".into());
    input.metadata.resource_version = Some("42".into());
    let mut sealed = seal_secret(&input, &cert, None).unwrap();
    let tpl = &sealed.spec.template;
    assert_eq!(tpl.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(tpl.immutable, Some(true));
    assert_eq!(tpl.metadata.uid, None);
    assert_eq!(tpl.metadata.resource_version, None);
    let anns = tpl.metadata.annotations.clone().unwrap();
    assert!(!anns.contains_key("kubectl.kubernetes.io/last-applied-configuration"));

    sealed.metadata.uid = Some("sealed-uid".into());
    sealed.spec.template.data.insert(
        "url".into(),
        "https://{{ .user }}:{{ index . \"pass\" }}@db".into(),
    );
    let out = unseal(&sealed, &ring(&[0])).unwrap();
    assert_eq!(out.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(out.immutable, Some(true));
    assert_eq!(out.metadata.labels.as_ref().unwrap()["app"], "db");
    assert_eq!(out.metadata.annotations.as_ref().unwrap()["note"], "kept");
    assert_eq!(data_of(&out)["url"], b"https://admin:pw@db");
    let owner = &out.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.kind, "SealedSecret");
    assert_eq!(owner.api_version, "bitnami.com/v1alpha1");
    assert_eq!(owner.name, "s");
    assert_eq!(owner.uid, "sealed-uid");
    assert_eq!(owner.controller, Some(true));
    assert_eq!(owner.block_owner_deletion, None);

    sealed
        .spec
        .template
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(ANNOTATION_SKIP_SET_OWNER_REFERENCES.into(), "true".into());
    let out = unseal(&sealed, &ring(&[0])).unwrap();
    assert_eq!(out.metadata.owner_references, None);

    sealed
        .spec
        .template
        .data
        .insert("broken".into(), "{{ if .user }}x{{ end }}".into());
    let err = unseal(&sealed, &ring(&[0])).unwrap_err().to_string();
    assert!(err.contains("(broken)"), "{err}");
}

#[test]
fn legacy_spec_data_is_accepted_unless_turned_off() {
    let pair = key_pair(0);
    let inner = secret("ns", "legacy", &[("k", b"v1 data")]);
    let json = serde_json::to_vec(&inner).unwrap();
    let ct = hybrid_encrypt(pair.certificate().public_key(), &json, b"ns/legacy").unwrap();
    let mut sealed = SealedSecret::default();
    sealed.metadata.name = Some("legacy".into());
    sealed.metadata.namespace = Some("ns".into());
    sealed.spec.data = Some(ByteString(ct));
    // Through YAML, as it would arrive from Git.
    let yaml = render(&sealed, Format::Yaml).unwrap();
    let parsed = SealedSecret::parse_all(&yaml, "legacy.yaml")
        .unwrap()
        .remove(0);
    let out = unseal(&parsed, &ring(&[0])).unwrap();
    assert_eq!(data_of(&out)["k"], b"v1 data");
    assert!(out.metadata.owner_references.is_some());

    let err = unseal_with(
        &parsed,
        &ring(&[0]),
        &UnsealOptions {
            accept_legacy_data: false,
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("deprecated spec.data"), "{err}");

    let mut both = parsed.clone();
    both.spec.encrypted_data.insert("x".into(), "AAAA".into());
    let err = unseal(&both, &ring(&[0])).unwrap_err();
    assert!(err.to_string().contains("at the same time"), "{err}");
}

#[test]
fn raw_values_need_name_and_namespace_by_scope() {
    let pair = key_pair(0);
    let cert = pair.certificate();
    let keys = ring(&[0]);
    let v = seal_raw(b"raw!", cert, Scope::Strict, Some("ns"), Some("n")).unwrap();
    let mut sealed = SealedSecret::default();
    sealed.metadata.name = Some("n".into());
    sealed.metadata.namespace = Some("ns".into());
    sealed.spec.encrypted_data.insert("k".into(), v);
    assert_eq!(data_of(&unseal(&sealed, &keys).unwrap())["k"], b"raw!");

    assert!(seal_raw(b"x", cert, Scope::Strict, Some("ns"), None).is_err());
    assert!(seal_raw(b"x", cert, Scope::NamespaceWide, None, None).is_err());
    let cw = seal_raw(b"x", cert, Scope::ClusterWide, None, None).unwrap();
    let label_free = hybrid_decrypt(
        [&PrivateDecryptingKey::from_pkcs8(&pair.private_key().to_pkcs8_der().unwrap()).unwrap()],
        &decode_base64_like_go(&cw).unwrap(),
        b"",
    )
    .unwrap();
    assert_eq!(label_free, b"x");
}

#[test]
fn merge_into_uses_the_existing_name_namespace_and_scope() {
    let cert = key_pair(0).certificate().clone();
    let mut existing = seal_secret(
        &secret("ns", "app", &[("old", b"1")]),
        &cert,
        Some(Scope::NamespaceWide),
    )
    .unwrap();
    let mut addition = secret("whatever", "ignored", &[("new", b"2")]);
    addition.metadata.labels = Some(BTreeMap::from([("tier".to_string(), "be".to_string())]));
    merge_into(&mut existing, &addition, &cert).unwrap();
    assert_eq!(existing.metadata.name.as_deref(), Some("app"));
    let out = unseal(&existing, &ring(&[0])).unwrap();
    let data = data_of(&out);
    assert_eq!(data["old"], b"1");
    assert_eq!(data["new"], b"2");
    assert_eq!(out.metadata.labels.unwrap()["tier"], "be");
}

#[test]
fn re_encrypt_moves_items_to_the_newest_key_and_keeps_the_rest() {
    let old = key_pair(0);
    let new = key_pair(1);
    let mut sealed = seal_secret(
        &secret("ns", "s", &[("a", b"alpha")]),
        old.certificate(),
        Some(Scope::NamespaceWide),
    )
    .unwrap();
    sealed
        .spec
        .template
        .data
        .insert("t".into(), "{{ .a }}!".into());
    sealed.metadata.creation_timestamp = None;
    sealed.metadata.uid = Some("u".into());
    let both = ring(&[0, 1]);
    let rotated = re_encrypt(&sealed, &both, new.certificate()).unwrap();
    assert_ne!(
        rotated.spec.encrypted_data["a"],
        sealed.spec.encrypted_data["a"]
    );
    assert_eq!(rotated.spec.template, sealed.spec.template);
    assert_eq!(rotated.metadata.uid, None);
    let out = unseal(&rotated, &ring(&[1])).unwrap();
    assert_eq!(data_of(&out)["t"], b"alpha!");
    assert!(
        unseal(&rotated, &ring(&[0])).is_err(),
        "old key no longer needed or able"
    );
}

#[test]
fn yaml_output_matches_kubeseal_shape() {
    let cert = key_pair(0).certificate().clone();
    let mut input = secret("ns", "s", &[("a", b"1")]);
    input.type_ = Some("Opaque".into());
    let sealed = seal_secret(&input, &cert, None).unwrap();
    let yaml = render(&sealed, Format::Yaml).unwrap();
    assert!(yaml.starts_with("---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: s\n  namespace: ns\nspec:\n  encryptedData:\n    a: Ag"), "{yaml}");
    assert!(
        yaml.contains(
            "\n  template:\n    metadata:\n      name: s\n      namespace: ns\n    type: Opaque\n"
        ),
        "{yaml}"
    );
    let json = render(&sealed, Format::Json).unwrap();
    assert!(
        json.starts_with(
            "{\n  \"apiVersion\": \"bitnami.com/v1alpha1\",\n  \"kind\": \"SealedSecret\""
        ),
        "{json}"
    );
    assert!(json.ends_with("}\n"));
}

#[test]
fn sealing_errors_name_what_is_missing() {
    let cert = key_pair(0).certificate().clone();
    let mut nameless = secret("ns", "", &[("a", b"1")]);
    nameless.metadata.name = None;
    let err = seal_secret(&nameless, &cert, None).unwrap_err().to_string();
    assert!(err.contains("metadata.name"), "{err}");
    let mut no_ns = secret("", "s", &[("a", b"1")]);
    no_ns.metadata.namespace = None;
    let err = seal_secret(&no_ns, &cert, None).unwrap_err().to_string();
    assert!(err.contains("metadata.namespace"), "{err}");
    assert!(seal_secret(&no_ns, &cert, Some(Scope::ClusterWide)).is_ok());
}
