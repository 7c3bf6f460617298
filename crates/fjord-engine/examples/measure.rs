//! Measures the pure stages on synthetic input and prints the timings (no assertions).
//!
//! `cargo run --release -p fjord-engine --example measure`

use fjord_engine::diff::{DiffOptions, diff};
use fjord_engine::health::assess;
use fjord_engine::render::{DirectoryRenderer, LocalTree};
use fjord_engine::source::{GitAuth, GitRepo};
use fjord_engine::types::DirectorySource;
use fjord_smd::{ApplyRequest, FieldPath, apply, builtin_schema};
use serde_json::{Value, json};
use std::time::Instant;

fn deployment(i: usize) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("web-{i}"), "namespace": "prod", "labels": {"app": "web"},
            "annotations": {"argocd.argoproj.io/tracking-id": format!("shop:apps/Deployment:prod/web-{i}")}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                    "ports": [{"containerPort": 8080}],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "resources": {"limits": {"cpu": "0.5", "memory": "1Gi"}}}]}}}})
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = 2000;
    let dir = std::env::temp_dir().join(format!("fjord-measure-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("app/sub"))?;
    for i in 0..n {
        let text = serde_norway::to_string(&deployment(i))?;
        let sub = if i % 2 == 0 { "app" } else { "app/sub" };
        std::fs::write(dir.join(format!("{sub}/d{i}.yaml")), text)?;
    }
    let opts = DirectorySource {
        recurse: Some(true),
        ..Default::default()
    };
    let t = Instant::now();
    let rendered = DirectoryRenderer.render_dir(&LocalTree::new(&dir), "app", Some(&opts))?;
    let render = t.elapsed();

    // The same files committed to a repository, fetched and rendered from the commit's tree.
    let git = |args: &[&str]| -> Result<(), Box<dyn std::error::Error>> {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(&dir)
            .env("GIT_AUTHOR_NAME", "m")
            .env("GIT_AUTHOR_EMAIL", "m@example.com")
            .env("GIT_COMMITTER_NAME", "m")
            .env("GIT_COMMITTER_EMAIL", "m@example.com")
            .status()?
            .success();
        if ok {
            Ok(())
        } else {
            Err(format!("git {args:?} failed").into())
        }
    };
    git(&["init", "--quiet", "-b", "main"])?;
    git(&["add", "."])?;
    git(&["commit", "--quiet", "-m", "m"])?;
    let cache = std::env::temp_dir().join(format!("fjord-measure-cache-{}", std::process::id()));
    let repo = GitRepo::new(
        &cache,
        &format!("file://{}", dir.display()),
        GitAuth::default(),
    );
    let t = Instant::now();
    let refs = repo.ls_remote()?;
    let check = t.elapsed();
    let sha = repo.resolve(&refs, "HEAD")?;
    let t = Instant::now();
    repo.fetch(&[])?;
    let fetch = t.elapsed();
    let t = Instant::now();
    let tree = repo.tree(&sha)?;
    let from_git = DirectoryRenderer.render_dir(&tree, "app", Some(&opts))?;
    let git_render = t.elapsed();
    std::fs::remove_dir_all(&dir)?;
    std::fs::remove_dir_all(&cache)?;

    let schema = builtin_schema();
    let ty = schema
        .root_for_gvk("apps", "v1", "Deployment")
        .ok_or("no Deployment type")?;
    let status = [FieldPath::from_dotted("status")];
    let req = ApplyRequest {
        manager: "fjord",
        force: true,
        api_version: "apps/v1",
        subresource: None,
        now: "2026-01-01T00:00:00Z",
        reset_fields: &status,
    };
    let lives: Vec<Value> = rendered
        .objects
        .iter()
        .map(|o| apply(schema, &ty, None, &o.object, &req).map(|w| w.object))
        .collect::<Result<_, _>>()?;
    let t = Instant::now();
    let mut synced = 0;
    for (o, live) in rendered.objects.iter().zip(&lives) {
        let d = diff(Some(&o.object), Some(live), &DiffOptions::default())?;
        synced += usize::from(d.unified.is_empty());
    }
    let diffs = t.elapsed();
    let t = Instant::now();
    let assessed = lives.iter().filter(|l| assess(l).is_some()).count();
    let health = t.elapsed();
    println!(
        "render: {} objects from {} files in {:?} ({:.1} µs/object)",
        rendered.objects.len(),
        rendered.files_read,
        render,
        render.as_micros() as f64 / n as f64
    );
    println!(
        "diff:   {n} applied Deployments, {synced} Synced, in {:?} ({:.1} µs/object)",
        diffs,
        diffs.as_micros() as f64 / n as f64
    );
    println!(
        "git:    ls-remote {check:?}, first fetch {fetch:?}, render {} objects from the commit tree in {git_render:?}",
        from_git.objects.len()
    );
    println!("health: {assessed} objects assessed in {:?}", health);
    Ok(())
}
