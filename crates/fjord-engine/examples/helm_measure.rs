//! Prints how long a Helm render takes through `HelmRenderer` (chart copied out of the tree,
//! value files written, `helm template` run, output parsed) next to `helm template` alone.
//!
//! Run: `FJORD_HELM=target/interop/helm/helm cargo run --release -p fjord-engine --example helm_measure`

use fjord_engine::render::{
    Capabilities, HelmRenderer, LocalTree, RenderContext, Renderers, SourceTree,
};
use fjord_engine::types::{ApplicationSource, HelmSource};
use std::collections::BTreeMap;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let helm = fjord_engine::render::helm::run::locate()?;
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("repo");
    let chart = root.join("web");
    std::fs::create_dir_all(chart.join("templates"))?;
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: web\nversion: 1.0.0\n",
    )?;
    std::fs::write(
        chart.join("values.yaml"),
        "replicas: 1\nimage: nginx:1.27\n",
    )?;
    for i in 0..20 {
        std::fs::write(
            chart.join(format!("templates/cm{i}.yaml")),
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-{i}\ndata:\n  image: {{{{ .Values.image | quote }}}}\n  replicas: {{{{ .Values.replicas | quote }}}}\n"
            ),
        )?;
    }
    let renderers = Renderers::with_kustomize_and_helm(HelmRenderer {
        binary: Some(helm.clone()),
        ..HelmRenderer::new(dir.path().join("home"))
    });
    let tree = LocalTree::new(&root);
    let source = ApplicationSource {
        repo_url: "https://git.example.com/r.git".into(),
        path: Some("web".into()),
        helm: Some(Box::new(HelmSource {
            values: Some("replicas: 3\n".into()),
            ..Default::default()
        })),
        ..Default::default()
    };
    let caps = Capabilities {
        kube_version: "v1.33.0".into(),
        api_versions: (0..200)
            .map(|i| format!("g{i}.example.com/v1/Kind{i}"))
            .collect(),
    };
    let refs: BTreeMap<String, &dyn SourceTree> = BTreeMap::new();
    let ctx = RenderContext {
        app_name: "web",
        namespace: "prod",
        capabilities: Some(&caps),
        refs: Some(&refs),
    };
    let runs = 20;
    let start = Instant::now();
    let mut objects = 0;
    for _ in 0..runs {
        objects = renderers.render_with(&tree, &source, &ctx)?.1.objects.len();
    }
    let ours = start.elapsed() / runs;
    let start = Instant::now();
    for _ in 0..runs {
        let out = std::process::Command::new(&helm)
            .args(["template", "web", "web", "--namespace", "prod"])
            .current_dir(&root)
            .output()?;
        assert!(out.status.success());
    }
    let bare = start.elapsed() / runs;
    println!("helm render ({objects} objects, 200 API versions): {ours:?} per render");
    println!("helm template alone:                       {bare:?} per run");
    Ok(())
}
