//! Focused server-side-apply behaviours on built-in kinds, each asserting the rule it names.

use fjord_smd::{
    ApplyError, ApplyRequest, FieldPath, FieldSet, UpdateRequest, WriteOutcome, apply,
    builtin_schema, update,
};
use serde_json::{Value, json};

const NOW: &str = "2026-01-01T00:00:00Z";
const LATER: &str = "2026-01-01T00:01:00Z";

fn kind_of(obj: &Value) -> (&'static str, &'static str, &'static str) {
    match obj["kind"].as_str() {
        Some("Deployment") => ("apps", "v1", "Deployment"),
        Some("ConfigMap") => ("", "v1", "ConfigMap"),
        Some("Service") => ("", "v1", "Service"),
        Some("Namespace") => ("", "v1", "Namespace"),
        other => panic!("no test kind {other:?}"),
    }
}

fn apply_at(
    live: Option<&Value>,
    obj: &Value,
    manager: &str,
    force: bool,
    now: &str,
    reset: &[FieldPath],
) -> Result<WriteOutcome, ApplyError> {
    let (g, v, k) = kind_of(obj);
    let s = builtin_schema();
    let ty = s.root_for_gvk(g, v, k).expect("root type");
    let api_version = if g.is_empty() {
        v.to_string()
    } else {
        format!("{g}/{v}")
    };
    let req = ApplyRequest {
        manager,
        force,
        api_version: &api_version,
        subresource: None,
        now,
        reset_fields: reset,
    };
    apply(s, &ty, live, obj, &req)
}

fn ssa(
    live: Option<&Value>,
    obj: &Value,
    manager: &str,
    force: bool,
) -> Result<WriteOutcome, ApplyError> {
    apply_at(live, obj, manager, force, NOW, &[])
}

fn put(live: Option<&Value>, obj: &Value, manager: &str, now: &str) -> WriteOutcome {
    let (g, v, k) = kind_of(obj);
    let s = builtin_schema();
    let ty = s.root_for_gvk(g, v, k).expect("root type");
    let req = UpdateRequest {
        manager,
        api_version: obj["apiVersion"].as_str().expect("apiVersion"),
        subresource: None,
        now,
        reset_fields: &[],
    };
    update(s, &ty, live, obj, &req)
}

/// The fieldsV1 of `manager`'s entry with `operation`, decoded (panics if it does not decode).
fn owned(obj: &Value, manager: &str, operation: &str) -> Option<FieldSet> {
    obj["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find_map(|e| {
            (e["manager"] == manager && e["operation"] == operation)
                .then(|| FieldSet::from_fields_v1(&e["fieldsV1"]).expect("fieldsV1 decodes"))
        })
}

fn path(p: &str) -> Vec<fjord_smd::PathElement> {
    FieldPath::from_dotted(p).elements().to_vec()
}

fn deploy(spec: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
}

fn with_containers(containers: Value) -> Value {
    deploy(json!({"selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": containers}}}))
}

fn all_entries_decode(obj: &Value) {
    for e in obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let set = FieldSet::from_fields_v1(&e["fieldsV1"]).expect("every entry decodes");
        assert_eq!(
            set.to_fields_v1(),
            e["fieldsV1"],
            "fieldsV1 re-encodes identically"
        );
    }
}

#[test]
fn same_value_is_shared_and_then_frozen() {
    let a = ssa(None, &deploy(json!({"replicas": 2})), "alice", false)
        .unwrap()
        .object;
    let b = ssa(Some(&a), &deploy(json!({"replicas": 2})), "bob", false).unwrap();
    assert!(!b.object_changed && b.managed_fields_changed);
    let both = b.object;
    assert!(
        owned(&both, "alice", "Apply")
            .unwrap()
            .contains(&path("spec.replicas"))
    );
    assert!(
        owned(&both, "bob", "Apply")
            .unwrap()
            .contains(&path("spec.replicas"))
    );
    let err = ssa(Some(&both), &deploy(json!({"replicas": 3})), "alice", false).unwrap_err();
    assert_eq!(err.code(), 409);
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"bob\": .spec.replicas"
    );
    all_entries_decode(&both);
}

#[test]
fn force_moves_ownership_and_conflict_body_is_a_status() {
    let a = ssa(
        None,
        &deploy(json!({"replicas": 2, "paused": false})),
        "alice",
        false,
    )
    .unwrap()
    .object;
    let err = ssa(Some(&a), &deploy(json!({"replicas": 5})), "bob", false).unwrap_err();
    let st = err.status();
    assert_eq!(st["code"], 409);
    assert_eq!(st["reason"], "Conflict");
    assert_eq!(st["details"]["causes"][0]["reason"], "FieldManagerConflict");
    assert_eq!(st["details"]["causes"][0]["field"], ".spec.replicas");
    let b = ssa(Some(&a), &deploy(json!({"replicas": 5})), "bob", true)
        .unwrap()
        .object;
    assert_eq!(b["spec"]["replicas"], 5);
    let alice = owned(&b, "alice", "Apply").unwrap();
    assert!(!alice.contains(&path("spec.replicas")));
    assert!(alice.contains(&path("spec.paused")));
    assert!(
        owned(&b, "bob", "Apply")
            .unwrap()
            .contains(&path("spec.replicas"))
    );
}

#[test]
fn dropped_field_is_removed_unless_someone_else_owns_it() {
    let mut cfg = deploy(json!({"replicas": 1}));
    cfg["metadata"]["labels"] = json!({"team": "web", "tier": "front"});
    let a = ssa(None, &cfg, "alice", false).unwrap().object;
    let mut bob_cfg = deploy(json!({}));
    bob_cfg["metadata"]["labels"] = json!({"tier": "front"});
    let b = ssa(Some(&a), &bob_cfg, "bob", false).unwrap().object;
    // alice stops applying labels entirely: team goes, tier (also bob's) stays.
    let c = ssa(Some(&b), &deploy(json!({"replicas": 1})), "alice", false)
        .unwrap()
        .object;
    assert_eq!(c["metadata"]["labels"], json!({"tier": "front"}));
    assert_eq!(c["metadata"]["name"], "web", "metadata itself survives");
    // bob drops it too: the labels field disappears, name and namespace stay.
    let d = ssa(Some(&c), &deploy(json!({})), "bob", false)
        .unwrap()
        .object;
    assert!(d["metadata"].get("labels").is_none());
    assert_eq!(d["metadata"]["namespace"], "default");
}

#[test]
fn containers_merge_by_name_and_ports_by_port_and_defaulted_protocol() {
    let a = ssa(
        None,
        &with_containers(json!([{"name": "app", "image": "app:1",
            "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}],
            "env": [{"name": "A", "value": "1"}]}])),
        "alice",
        false,
    )
    .unwrap()
    .object;
    // bob adds a sidecar, port 53/TCP (a new item) and names 80/TCP explicitly (same item).
    let b = ssa(
        Some(&a),
        &with_containers(json!([
            {"name": "app", "ports": [{"containerPort": 53}, {"containerPort": 80, "protocol": "TCP"}],
             "env": [{"name": "B", "value": "2"}]},
            {"name": "proxy", "image": "envoy"}])),
        "bob",
        false,
    )
    .unwrap()
    .object;
    let cs = b["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(cs.len(), 2);
    assert_eq!(cs[0]["name"], "app");
    assert_eq!(cs[0]["image"], "app:1");
    assert_eq!(
        cs[0]["ports"].as_array().unwrap().len(),
        3,
        "53/UDP, 53/TCP and 80/TCP"
    );
    assert_eq!(cs[0]["env"].as_array().unwrap().len(), 2);
    let fields =
        serde_json::to_string(&owned(&b, "alice", "Apply").unwrap().to_fields_v1()).unwrap();
    assert!(
        fields.contains(r#"k:{\"containerPort\":80,\"protocol\":\"TCP\"}"#),
        "{fields}"
    );
    let bob = serde_json::to_string(&owned(&b, "bob", "Apply").unwrap().to_fields_v1()).unwrap();
    assert!(bob.contains(r#"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:protocol":{}}"#), "{bob}");
    assert!(bob.contains(r#"k:{\"name\":\"proxy\"}"#));
    all_entries_decode(&b);
}

#[test]
fn merged_list_follows_applied_order() {
    let a = ssa(
        None,
        &with_containers(json!([{"name": "a", "image": "x"}, {"name": "b", "image": "x"}])),
        "alice",
        false,
    )
    .unwrap()
    .object;
    let b = ssa(Some(&a), &with_containers(json!([{"name": "z", "image": "x"}, {"name": "a", "image": "x"}, {"name": "b", "image": "x"}])), "alice", false)
        .unwrap()
        .object;
    let names: Vec<&str> = b["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["z", "a", "b"]);
}

#[test]
fn finalizers_are_a_set() {
    let cm = |fins: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default", "finalizers": fins}})
    };
    let a = ssa(None, &cm(json!(["a.io/x"])), "alice", false)
        .unwrap()
        .object;
    let b = ssa(Some(&a), &cm(json!(["b.io/y"])), "bob", false)
        .unwrap()
        .object;
    assert_eq!(b["metadata"]["finalizers"], json!(["a.io/x", "b.io/y"]));
    let set = owned(&b, "alice", "Apply").unwrap();
    assert_eq!(
        serde_json::to_string(&set.to_fields_v1()).unwrap(),
        r#"{"f:metadata":{"f:finalizers":{"v:\"a.io/x\"":{}}}}"#
    );
    let mut without = cm(json!(null));
    without["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("finalizers");
    let c = ssa(Some(&b), &without, "alice", false).unwrap().object;
    assert_eq!(c["metadata"]["finalizers"], json!(["b.io/y"]));
}

#[test]
fn atomic_list_conflicts_as_a_whole() {
    let a = ssa(
        None,
        &with_containers(json!([{"name": "c", "image": "x", "args": ["a"]}])),
        "alice",
        false,
    )
    .unwrap()
    .object;
    let err = ssa(
        Some(&a),
        &with_containers(json!([{"name": "c", "args": ["a", "b"]}])),
        "bob",
        false,
    )
    .unwrap_err();
    let ApplyError::Conflicts(cs) = err else {
        panic!("expected conflicts")
    };
    assert_eq!(cs.conflicts.len(), 1);
    assert_eq!(
        cs.conflicts[0].field,
        ".spec.template.spec.containers[name=\"c\"].args"
    );
}

#[test]
fn no_op_apply_changes_nothing() {
    let cfg = with_containers(json!([{"name": "c", "image": "x"}]));
    let a = ssa(None, &cfg, "alice", false).unwrap().object;
    let again = apply_at(Some(&a), &cfg, "alice", false, LATER, &[]).unwrap();
    assert!(!again.object_changed);
    assert!(!again.managed_fields_changed);
    assert_eq!(again.object, a, "same object, same managedFields time");
}

#[test]
fn update_claims_only_what_it_changes_and_never_conflicts() {
    let a = ssa(
        None,
        &deploy(json!({"replicas": 2, "paused": false})),
        "alice",
        false,
    )
    .unwrap()
    .object;
    let mut edited = a.clone();
    edited["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    edited["spec"]["replicas"] = json!(4);
    let u = put(Some(&a), &edited, "kubectl-edit", LATER).object;
    let editor = owned(&u, "kubectl-edit", "Update").unwrap();
    assert!(editor.contains(&path("spec.replicas")));
    assert!(!editor.contains(&path("spec.paused")));
    assert!(
        !owned(&u, "alice", "Apply")
            .unwrap()
            .contains(&path("spec.replicas"))
    );
    // Removing a field creates no entry and takes it from its owner.
    let mut removed = u.clone();
    removed["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    removed["spec"].as_object_mut().unwrap().remove("paused");
    let r = put(Some(&u), &removed, "remover", LATER).object;
    assert!(owned(&r, "remover", "Update").is_none());
    assert!(
        owned(&r, "alice", "Apply").is_none(),
        "alice owned only paused"
    );
}

#[test]
fn update_entries_are_capped_into_ancient_changes() {
    let mut obj = put(
        None,
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default"}, "data": {}}),
        "creator",
        NOW,
    )
    .object;
    for i in 0..12 {
        let mut next = obj.clone();
        next["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        next["data"][format!("k{i}")] = json!("v");
        let now = format!("2026-01-01T00:00:{:02}Z", i + 1);
        obj = put(Some(&obj), &next, &format!("writer-{i}"), &now).object;
    }
    let entries = obj["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(entries.len(), 10);
    let ancient = owned(&obj, "ancient-changes", "Update").expect("bucket entry");
    assert!(ancient.contains(&path("data.k0")) && ancient.contains(&path("data.k1")));
    assert!(owned(&obj, "writer-11", "Update").is_some());
}

#[test]
fn bad_requests_and_typing_errors() {
    let mut wrong = deploy(json!({}));
    wrong["apiVersion"] = json!("apps/v1beta1");
    let e = ssa(None, &wrong, "a", false).unwrap_err();
    assert_eq!(
        (e.code(), e.to_string().as_str()),
        (400, "invalid object type: apps/v1beta1, Kind=Deployment")
    );
    let mut mf = deploy(json!({}));
    mf["metadata"]["managedFields"] = json!([]);
    let e = ssa(None, &mf, "a", false).unwrap_err();
    assert_eq!(
        (e.code(), e.to_string().as_str()),
        (400, "metadata.managedFields must be nil")
    );
    let e = ssa(None, &deploy(json!({"replicas": "3"})), "a", false).unwrap_err();
    assert_eq!(e.code(), 500);
    assert_eq!(
        e.to_string(),
        "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.replicas: expected numeric (int or float), got string"
    );
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default"},
        "spec": {"ports": [{"protocol": "UDP"}]}});
    let e = ssa(None, &svc, "a", false).unwrap_err();
    assert!(e.to_string().contains(".spec.ports: element 0: associative list with keys has an element that omits key field \"port\""), "{e}");
    let dup = with_containers(json!([{"name": "c", "env": [{"name": "A"}, {"name": "A"}]}]));
    let e = ssa(None, &dup, "a", false).unwrap_err();
    assert!(
        e.to_string().ends_with(
            ".spec.template.spec.containers[name=\"c\"].env: duplicate entries for key [name=\"A\"]"
        ),
        "{e}"
    );
}

#[test]
fn reset_fields_are_neither_stored_nor_owned() {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"},
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
    let reset = [
        FieldPath::from_dotted("status"),
        FieldPath::from_dotted("spec.finalizers"),
    ];
    let out = apply_at(None, &ns, "alice", false, NOW, &reset)
        .unwrap()
        .object;
    assert!(out.get("status").is_none());
    assert!(out["spec"].get("finalizers").is_none());
    assert!(
        out["metadata"].get("managedFields").is_none(),
        "nothing owned, no entry"
    );
}

#[test]
fn managed_fields_reset_clears_and_untracked_update_stays_untracked() {
    let cm = |v: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default"}, "data": {"a": v}})
    };
    let a = ssa(None, &cm("1"), "alice", false).unwrap().object;
    let mut clear = cm("1");
    clear["metadata"]["managedFields"] = json!([{}]);
    let c = put(Some(&a), &clear, "ctl", LATER);
    assert!(c.managed_fields_changed && !c.object_changed);
    assert!(c.object["metadata"].get("managedFields").is_none());
    let u = put(Some(&c.object), &cm("2"), "ctl", LATER).object;
    assert!(u["metadata"].get("managedFields").is_none());
    // First apply records what was there under before-first-apply and conflicts with it.
    let e = ssa(Some(&u), &cm("1"), "alice", false).unwrap_err();
    assert!(
        e.to_string()
            .contains("conflict with \"before-first-apply\" using v1: .data.a"),
        "{e}"
    );
}
