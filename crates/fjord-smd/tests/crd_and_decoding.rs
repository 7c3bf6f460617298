//! CRD schema conversion details and the public managedFields decoder.

use fjord_smd::{ApplyRequest, Operation, Schema, apply, builtin_schema, decode_entries};
use serde_json::json;

#[test]
fn builtin_roots_resolve_by_gvk() {
    let s = builtin_schema();
    for (g, v, k) in [
        ("apps", "v1", "Deployment"),
        ("", "v1", "Service"),
        ("batch", "v1", "CronJob"),
        ("networking.k8s.io", "v1", "Ingress"),
        ("rbac.authorization.k8s.io", "v1", "ClusterRole"),
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
    ] {
        let t = s
            .root_for_gvk(g, v, k)
            .unwrap_or_else(|| panic!("{g}/{v} {k}"));
        assert!(s.gvks_of(t).iter().any(|x| x.2 == k));
    }
    assert!(s.root_for_gvk("apps", "v1", "NoSuchKind").is_none());
}

#[test]
fn crd_lists_are_atomic_unless_marked_and_embedded_resources_get_metadata() {
    let schema = json!({
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {
                "hosts": {"type": "array", "items": {"type": "string"}},
                "rules": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "properties": {
                              "name": {"type": "string"}, "port": {"type": "integer"}}}},
                "inner": {"type": "object", "x-kubernetes-embedded-resource": true,
                          "x-kubernetes-preserve-unknown-fields": true}
            }}
        }
    });
    let (s, t) = Schema::from_crd_schema("example.com", "v1", "Gadget", &schema).unwrap();
    let req = ApplyRequest {
        manager: "a",
        force: false,
        api_version: "example.com/v1",
        subresource: None,
        now: "2026-01-01T00:00:00Z",
        reset_fields: &[],
    };
    let obj = json!({"apiVersion": "example.com/v1", "kind": "Gadget",
        "metadata": {"name": "g", "labels": {"x": "y"}},
        "spec": {"hosts": ["a"], "rules": [{"name": "r", "port": 1}],
                 "inner": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}}});
    let out = apply(&s, &t, None, &obj, &req).unwrap().object;
    let fields = serde_json::to_string(&out["metadata"]["managedFields"][0]["fieldsV1"]).unwrap();
    assert!(
        fields.contains(r#""f:hosts":{}"#),
        "unmarked list is one leaf: {fields}"
    );
    assert!(
        fields.contains(r#"k:{\"name\":\"r\"}"#),
        "map-list items keyed: {fields}"
    );
    assert!(
        fields.contains(r#""f:labels":{"f:x":{}}"#),
        "metadata is ObjectMeta: {fields}"
    );
    assert!(fields.contains(r#""f:inner":{"f:apiVersion":{},"f:data":{".":{},"f:k":{}},"f:kind":{},"f:metadata":{"f:name":{}}}"#), "{fields}");
    let wrong = json!({"apiVersion": "example.com/v1", "kind": "Other", "metadata": {"name": "g"}});
    assert_eq!(apply(&s, &t, None, &wrong, &req).unwrap_err().code(), 400);
    let bad = json!({"type": "object", "properties": {"a": {"type": "array", "x-kubernetes-list-type": "map"}}});
    assert!(Schema::from_crd_schema("example.com", "v1", "Bad", &bad).is_err());
}

#[test]
fn managed_fields_decoder_validates_entries() {
    let ok = json!([{"manager": "m", "operation": "Update", "apiVersion": "v1", "time": "2026-01-01T00:00:00Z",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}, "subresource": "status"}]);
    let e = decode_entries(&ok).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].id.operation, Operation::Update);
    assert_eq!(e[0].id.subresource, "status");
    assert_eq!(e[0].time.as_deref(), Some("2026-01-01T00:00:00Z"));
    let bad_op = json!([{"manager": "m", "operation": "Patch", "apiVersion": "v1", "fieldsType": "FieldsV1"}]);
    assert_eq!(
        decode_entries(&bad_op).unwrap_err().reason,
        "operation must be `Apply` or `Update`"
    );
    let bad_type = json!([{"manager": "m", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV2"}]);
    assert!(decode_entries(&bad_type).is_err());
    let bad_fields = json!([{}, {"manager": "m", "operation": "Apply", "apiVersion": "v1",
        "fieldsType": "FieldsV1", "fieldsV1": {"q:x": {}}}]);
    assert_eq!(decode_entries(&bad_fields).unwrap_err().index, 0);
    assert!(decode_entries(&json!(null)).unwrap().is_empty());
}

#[test]
fn unknown_fields_are_pruned_and_reported() {
    let s = builtin_schema();
    let t = s.root_for_gvk("apps", "v1", "Deployment").unwrap();
    let mut obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d", "labels": {"any": "key"}, "bogus": 1},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "imagee": "x"}]}}}});
    let removed = fjord_smd::prune_unknown_fields(s, &t, &mut obj);
    assert_eq!(
        removed,
        ["metadata.bogus", "spec.template.spec.containers[0].imagee"]
    );
    assert!(obj["metadata"].get("bogus").is_none());
    assert_eq!(obj["metadata"]["labels"]["any"], "key");
    assert_eq!(
        obj["spec"]["template"]["spec"]["containers"][0],
        json!({"name": "c"})
    );
}

#[test]
fn untyped_value_changing_kind_moves_ownership() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
        "x-kubernetes-preserve-unknown-fields": true}}});
    let (s, t) = Schema::from_crd_schema("example.com", "v1", "Blob", &schema).unwrap();
    let req = |m| ApplyRequest {
        manager: m,
        force: false,
        api_version: "example.com/v1",
        subresource: None,
        now: "2026-01-01T00:00:00Z",
        reset_fields: &[],
    };
    let obj = |v| json!({"apiVersion": "example.com/v1", "kind": "Blob", "metadata": {"name": "b"}, "spec": {"x": v}});
    let a = apply(&s, &t, None, &obj(json!("scalar")), &req("alice"))
        .unwrap()
        .object;
    let err = apply(&s, &t, Some(&a), &obj(json!({"nested": 1})), &req("bob")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"alice\": .spec.x"
    );
}

#[test]
fn odd_inputs_are_errors_not_panics() {
    use fjord_smd::{UpdateRequest, update};
    let s = builtin_schema();
    let t = s.root_for_gvk("", "v1", "ConfigMap").unwrap();
    let req = ApplyRequest {
        manager: "",
        force: false,
        api_version: "v1",
        subresource: None,
        now: "not a time",
        reset_fields: &[],
    };
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
    for applied in [
        json!([]),
        json!("x"),
        json!(null),
        json!({"apiVersion": "v1"}),
    ] {
        assert_eq!(apply(s, &t, None, &applied, &req).unwrap_err().code(), 400);
    }
    for live in [
        json!([]),
        json!("x"),
        json!({"metadata": {"managedFields": "nope"}}),
    ] {
        assert_eq!(
            apply(s, &t, Some(&live), &cm, &req).unwrap_err().code(),
            500,
            "{live}"
        );
    }
    let bad = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": 1}});
    assert_eq!(apply(s, &t, None, &bad, &req).unwrap_err().code(), 500);
    let created = apply(s, &t, None, &cm, &req).unwrap().object;
    assert_eq!(
        created["metadata"]["managedFields"][0]["manager"],
        "unknown"
    );
    let ureq = UpdateRequest {
        manager: "",
        api_version: "v1",
        subresource: None,
        now: "2026-01-01T00:00:00Z",
        reset_fields: &[],
    };
    let out = update(s, &t, Some(&created), &bad, &ureq);
    assert!(out.field_manager_error.is_some());
    assert!(out.object["metadata"].get("managedFields").is_none());
    let out = update(s, &t, None, &json!("x"), &ureq);
    assert!(out.field_manager_error.is_some());
}
