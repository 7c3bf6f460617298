//! The public API on small in-memory trees, with literal expected output (recorded from
//! `kubectl kustomize` on the same files).

use fjord_kustomize::{BuildOptions, Error, LoadRestrictor, MemorySource, build};
use std::path::Path;

fn tree(files: &[(&str, &str)]) -> MemorySource {
    let mut m = MemorySource::new();
    for (p, c) in files {
        m.insert(Path::new("/r").join(p), c.as_bytes().to_vec());
    }
    m
}

fn render(files: &[(&str, &str)], dir: &str) -> Result<String, Error> {
    build(
        &tree(files),
        &Path::new("/r").join(dir),
        &BuildOptions::default(),
    )
    .map(|l| l.to_yaml_string())
}

#[test]
fn prefix_and_generated_hash_follow_into_references() {
    let out = render(
        &[
            (
                "app/kustomization.yaml",
                "namePrefix: p-\nresources: [pod.yaml]\nconfigMapGenerator:\n- name: cfg\n  literals: [a=1]\n",
            ),
            (
                "app/pod.yaml",
                "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: c\n    image: x\n    envFrom:\n    - configMapRef: {name: cfg}\n",
            ),
        ],
        "app",
    )
    .unwrap();
    assert_eq!(
        out,
        "apiVersion: v1\ndata:\n  a: \"1\"\nkind: ConfigMap\nmetadata:\n  name: p-cfg-h29d89cmmt\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata:\n  name: p-web\nspec:\n  containers:\n  - envFrom:\n    - configMapRef:\n        name: p-cfg-h29d89cmmt\n    image: x\n    name: c\n"
    );
}

#[test]
fn namespace_moves_objects_and_keeps_cluster_scoped_ones() {
    let out = render(
        &[
            ("k/kustomization.yaml", "namespace: team\nresources: [r.yaml]\n"),
            (
                "k/r.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: cr}\n",
            ),
        ],
        "k",
    )
    .unwrap();
    assert_eq!(
        out,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: cr\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: team\n"
    );
}

#[test]
fn file_outside_root_is_refused_unless_restrictor_lifted() {
    let files = [
        ("k/kustomization.yaml", "resources: [../cm.yaml]\n"),
        (
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        ),
    ];
    let err = render(&files, "k").unwrap_err();
    assert!(matches!(err, Error::LoadRestriction { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("/r/k/kustomization.yaml: field 'resources'"),
        "{err}"
    );
    let opts = BuildOptions {
        load_restrictor: LoadRestrictor::None,
    };
    let ok = build(&tree(&files), Path::new("/r/k"), &opts).unwrap();
    assert_eq!(ok.len(), 1);
}

#[test]
fn malformed_kustomization_names_file_and_line() {
    let err = render(
        &[("k/kustomization.yaml", "resources:\n- a\n  b: [\n")],
        "k",
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("/r/k/kustomization.yaml: MalformedYAMLError: line "),
        "{msg}"
    );
}

#[test]
fn generator_behavior_create_conflicts_with_existing_object() {
    let err = render(
        &[
            (
                "k/kustomization.yaml",
                "resources: [cm.yaml]\nconfigMapGenerator:\n- name: c\n  literals: [a=b]\n",
            ),
            (
                "k/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
            ),
        ],
        "k",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "/r/k/kustomization.yaml: field 'configMapGenerator[0]': id ConfigMap.v1.[noGrp]/c.[noNs] exists; behavior must be merge or replace"
    );
}

#[test]
fn values_are_handed_out_as_json() {
    let list = build(
        &tree(&[
            (
                "k/kustomization.yaml",
                "resources: [d.yaml]\nreplicas:\n- name: d\n  count: 4\n",
            ),
            (
                "k/d.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
            ),
        ]),
        Path::new("/r/k"),
        &BuildOptions::default(),
    )
    .unwrap();
    assert_eq!(
        list.into_values(),
        vec![
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 4}})
        ]
    );
}
