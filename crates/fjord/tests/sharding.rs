//! Sharding end to end: one embedded control plane, three `fjord controller --sharding`
//! processes and 300 Applications (one shared Git repository, one ConfigMap each).
//!
//! Every reconcile logs `replica`, `app`, `start_ms` and `end_ms` on target `fjord::shard`;
//! the test reads the processes' stderr and checks that each Application was reconciled by
//! exactly the replica the ring assigns it, that no two replicas' reconciles of one
//! Application overlap in time, that a fourth replica takes over about a quarter while the
//! rest stay where they were, and that after `kill -9` of one replica the survivors reconcile
//! its Applications (the time is printed). The leader (and only it) creates the
//! `default` AppProject.
//!
//! Figures for BENCHMARKS.md: `FJORD_SHARD_APPS=300 FJORD_SHARD_THROUGHPUT=1 cargo test -p fjord
//! --release --test sharding -- --ignored --nocapture` also measures the time to Synced with
//! 1, 2 and 3 replicas.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fjord_e2e::{TestCluster, client};
use fjord_engine::controller::shard::ring::Ring;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};

const NS: &str = "argocd";
/// Lease duration of the replicas (`FJORD_SHARD_LEASE`, default 6 s: short, with room for a
/// loaded CI machine to renew in time).
fn lease_seconds() -> u64 {
    std::env::var("FJORD_SHARD_LEASE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}

fn apps_count() -> usize {
    std::env::var("FJORD_SHARD_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn app_name(i: usize) -> String {
    format!("app-{i:04}")
}

fn git(dir: &Path, args: &[&str]) -> String {
    fjord_e2e::git(dir, None, args)
}

/// A bare repository with `apps/app-NNNN/configmap.yaml` for each Application.
fn fleet_repo(dir: &Path, apps: usize) -> PathBuf {
    let work = dir.join("work");
    let bare = dir.join("fleet.git");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "-q", "--bare", "-b", "main"]);
    for i in 0..apps {
        let d = work.join("apps").join(app_name(i));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("configmap.yaml"),
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\ndata:\n  index: \"{i}\"\n",
                app_name(i)
            ),
        )
        .unwrap();
    }
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "fleet"]);
    git(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
    bare
}

fn applications(client: &kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    );
    Api::namespaced_with(client.clone(), NS, &ar)
}

async fn create_apps(client: &kube::Client, bare: &Path, apps: usize) {
    let api = applications(client);
    for i in 0..apps {
        let app: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": app_name(i), "namespace": NS},
            "spec": {
                "project": "default",
                "source": {"repoURL": format!("file://{}", bare.display()), "path": format!("apps/{}", app_name(i)), "targetRevision": "main"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "fleet"},
                "syncPolicy": {"automated": {}}
            }
        }))
        .unwrap();
        api.create(&PostParams::default(), &app).await.unwrap();
    }
}

async fn synced_count(client: &kube::Client) -> usize {
    let list = applications(client)
        .list(&ListParams::default())
        .await
        .unwrap();
    list.items
        .iter()
        .filter(|a| a.data["status"]["sync"]["status"] == "Synced")
        .count()
}

/// A `fjord controller` process, killed when dropped.
struct Replica {
    id: String,
    child: Child,
    log: PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Namespace of the Sealed Secrets keys in the sharding test.
const KEYS_NS: &str = "sealed-keys";

fn start_replica(tc: &TestCluster, dir: &Path, id: &str, sharding: bool) -> Replica {
    let log = dir.join(format!("{id}.log"));
    let file = std::fs::File::create(&log).unwrap();
    let mut args = vec![
        "controller".to_string(),
        "--kubeconfig".into(),
        tc.kubeconfig.display().to_string(),
        "--namespace".into(),
        NS.into(),
        "--repo-cache-dir".into(),
        dir.join(format!("cache-{id}")).display().to_string(),
        "--resync-seconds".into(),
        "3600".into(),
        "--poll-seconds".into(),
        "3600".into(),
        "--concurrent".into(),
        "8".into(),
        "--metrics-listen".into(),
        "127.0.0.1:0".into(),
    ];
    if sharding {
        // The Sealed Secrets controller runs on the leader only.
        args.extend([
            "--sealed-secrets-namespace".into(),
            KEYS_NS.into(),
            "--sealed-secrets-listen".into(),
            "127.0.0.1:0".into(),
        ]);
        args.extend([
            "--sharding".into(),
            "--replica-id".into(),
            id.into(),
            "--shard-lease-duration".into(),
            lease_seconds().to_string(),
        ]);
    } else {
        args.push("--no-sealed-secrets".into());
    }
    let child = Command::new(env!("CARGO_BIN_EXE_fjord"))
        .args(&args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env_remove("POD_NAME")
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .expect("fjord controller starts");
    Replica {
        id: id.into(),
        child,
        log,
    }
}

/// One reconcile as logged on `fjord::shard`.
#[derive(Debug, Clone)]
struct Reconcile {
    replica: String,
    app: String,
    start: u64,
    end: u64,
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn reconciles(replicas: &[&Replica]) -> Vec<Reconcile> {
    let mut all = Vec::new();
    for r in replicas {
        let text = std::fs::read_to_string(&r.log).unwrap_or_default();
        for line in text.lines().map(strip_ansi) {
            let Some(at) = line.find("fjord::shard: reconcile ") else {
                continue;
            };
            let fields: HashMap<&str, &str> = line[at..]
                .split_whitespace()
                .filter_map(|t| t.split_once('='))
                .collect();
            let (Some(replica), Some(app), Some(start), Some(end), Some(outcome)) = (
                fields.get("replica"),
                fields.get("app"),
                fields.get("start_ms").and_then(|v| v.parse().ok()),
                fields.get("end_ms").and_then(|v| v.parse().ok()),
                fields.get("outcome"),
            ) else {
                panic!("unparsable shard line in {}: {line}", r.log.display());
            };
            assert_eq!(*replica, r.id, "{line}");
            // Cancelled reconciles count too: they may have acted until cancelled.
            let _ = outcome;
            all.push(Reconcile {
                replica: replica.to_string(),
                app: app.trim_start_matches(&format!("{NS}/")).to_string(),
                start,
                end,
            });
        }
    }
    all
}

/// No two replicas' reconciles of one Application overlap.
fn assert_no_overlap(all: &[Reconcile]) {
    let mut by_app: BTreeMap<&str, Vec<&Reconcile>> = BTreeMap::new();
    for r in all {
        by_app.entry(&r.app).or_default().push(r);
    }
    for (app, mut rs) in by_app {
        rs.sort_by_key(|r| r.start);
        for pair in rs.windows(2) {
            if pair[0].replica != pair[1].replica {
                assert!(
                    pair[0].end <= pair[1].start,
                    "{app}: {} reconciled {}..{} while {} reconciled {}..{}",
                    pair[0].replica,
                    pair[0].start,
                    pair[0].end,
                    pair[1].replica,
                    pair[1].start,
                    pair[1].end
                );
            }
        }
    }
}

fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn member_views(client: &kube::Client) -> BTreeMap<String, String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), NS);
    let list = leases
        .list(&ListParams::default().labels("fjord.dev/shard=member"))
        .await
        .unwrap();
    list.items
        .iter()
        .filter_map(|l| {
            let holder = l.spec.as_ref()?.holder_identity.clone()?;
            let view = l
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("fjord.dev/shard-view").cloned())
                .unwrap_or_default();
            Some((holder, view))
        })
        .collect()
}

/// Waits until exactly `members` hold member Leases, all publishing their ring's view.
async fn wait_agreement(client: &kube::Client, members: &[&str], timeout: Duration) {
    let want = Ring::new(members.iter().copied()).view_hash();
    let names: BTreeSet<String> = members.iter().map(|m| m.to_string()).collect();
    let deadline = Instant::now() + timeout;
    loop {
        let views = member_views(client).await;
        let holders: BTreeSet<String> = views.keys().cloned().collect();
        if holders == names && views.values().all(|v| *v == want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no agreement on {members:?} within {timeout:?}: {views:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_until<F: AsyncFnMut() -> bool>(what: &str, timeout: Duration, mut check: F) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn setup(tc: &TestCluster, with_default_project: bool) -> kube::Client {
    let client = client(tc).await;
    fjord_engine::controller::install::install_crds(&client)
        .await
        .unwrap();
    if with_default_project {
        fjord_engine::controller::install::ensure_namespace_and_default_project(&client, NS)
            .await
            .unwrap();
    } else {
        tc.kubectl_ok("1.33", &["create", "namespace", NS]).unwrap();
    }
    tc.kubectl_ok("1.33", &["create", "namespace", "fleet"])
        .unwrap();
    tc.kubectl_ok("1.33", &["create", "namespace", KEYS_NS])
        .unwrap();
    let crd = tc.scratch().join("sealedsecret-crd.yaml");
    std::fs::write(&crd, fjord_sealed_controller::CRD_YAML).unwrap();
    tc.kubectl_ok("1.33", &["apply", "-f", crd.to_str().unwrap()])
        .unwrap();
    client
}

const SEALED_STARTED: &str = "leader: starting the Sealed Secrets controller";

/// The Applications a replica reports in `argocd_app_info` (its `/metrics`, whose address it
/// prints at start).
fn reported_apps(r: &Replica) -> BTreeSet<String> {
    let log = log_of(r);
    let url = log
        .lines()
        .find_map(|l| l.split("metrics on ").nth(1))
        .unwrap_or_else(|| panic!("{}: no metrics address in its log", r.id))
        .trim()
        .to_string();
    let text = ureq::get(&url)
        .call()
        .unwrap_or_else(|e| panic!("{}: scraping {url}: {e}", r.id))
        .body_mut()
        .read_to_string()
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("argocd_app_info{"))
        .filter_map(|l| l.split(",name=\"").nth(1)?.split('"').next())
        .map(str::to_string)
        .collect()
}

fn log_of(r: &Replica) -> String {
    strip_ansi(&std::fs::read_to_string(&r.log).unwrap_or_default())
}

async fn key_secrets(client: &kube::Client) -> usize {
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), KEYS_NS);
    secrets
        .list(&ListParams::default().labels("sealedsecrets.bitnami.com/sealed-secrets-key"))
        .await
        .unwrap()
        .items
        .len()
}

async fn leader_of(client: &kube::Client) -> String {
    let leases: Api<Lease> = Api::namespaced(client.clone(), NS);
    leases
        .get_opt("fjord-controller-leader")
        .await
        .unwrap()
        .and_then(|l| l.spec?.holder_identity)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: starts the embedded control plane and four fjord controller processes"]
async fn three_replicas_share_300_applications_hand_over_on_kill_and_on_join() {
    let apps = apps_count();
    let tc = TestCluster::start().await.unwrap();
    let dir = tc.scratch().to_path_buf();
    // The leader creates the default project: none exists before the replicas start.
    let client = setup(&tc, false).await;
    let bare = fleet_repo(&dir, apps);

    let r1 = start_replica(&tc, &dir, "r1", true);
    let r2 = start_replica(&tc, &dir, "r2", true);
    let r3 = start_replica(&tc, &dir, "r3", true);
    wait_agreement(&client, &["r1", "r2", "r3"], Duration::from_secs(60)).await;
    let mut leader = String::new();
    wait_until("a leader", Duration::from_secs(30), async || {
        leader = leader_of(&client).await;
        !leader.is_empty()
    })
    .await;
    assert!(["r1", "r2", "r3"].contains(&leader.as_str()), "{leader}");
    // Cluster-wide duties on the leader only: one sealing key, one Sealed Secrets controller,
    // and the default AppProject.
    wait_until(
        "the leader's sealing key",
        Duration::from_secs(60),
        async || key_secrets(&client).await >= 1,
    )
    .await;
    wait_until(
        "the default AppProject",
        Duration::from_secs(30),
        async || {
            tc.kubectl_ok("1.33", &["get", "appproject", "default", "-n", NS])
                .is_ok()
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        key_secrets(&client).await,
        1,
        "only the leader manages keys"
    );
    for r in [&r1, &r2, &r3] {
        assert_eq!(
            log_of(r).contains(SEALED_STARTED),
            r.id == leader,
            "{}: Sealed Secrets controller started on the leader ({leader}) only",
            r.id
        );
    }

    // Phase 1: 300 Applications, each reconciled by its ring owner only.
    let started = Instant::now();
    create_apps(&client, &bare, apps).await;
    wait_until(
        "every Application Synced",
        Duration::from_secs(240),
        async || synced_count(&client).await == apps,
    )
    .await;
    let phase1 = started.elapsed();
    println!("{apps} Applications Synced by 3 replicas in {phase1:.1?}");
    let projects = tc
        .kubectl_ok("1.33", &["get", "appprojects", "-n", NS, "-o", "name"])
        .unwrap();
    assert!(
        projects.contains("appproject.argoproj.io/default"),
        "{projects}"
    );
    let ring3 = Ring::new(["r1", "r2", "r3"]);
    let all = reconciles(&[&r1, &r2, &r3]);
    assert_no_overlap(&all);
    let mut by_app: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in &all {
        by_app
            .entry(r.app.clone())
            .or_default()
            .insert(r.replica.clone());
    }
    assert_eq!(by_app.len(), apps, "every Application was reconciled");
    for (app, replicas) in &by_app {
        let owner = ring3.owner(&format!("{NS}/{app}")).unwrap();
        assert_eq!(
            replicas,
            &BTreeSet::from([owner.to_string()]),
            "{app}: reconciled by {replicas:?}, owner {owner}"
        );
    }
    let share: BTreeMap<&str, usize> = ["r1", "r2", "r3"]
        .iter()
        .map(|id| (*id, by_app.values().filter(|r| r.contains(*id)).count()))
        .collect();
    println!("shares with 3 replicas: {share:?}");
    // Metrics: each replica reports the Applications it owns, so that the replicas' series
    // add up to every Application once (dashboards sum them).
    let mut reported: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in [&r1, &r2, &r3] {
        for app in reported_apps(r) {
            reported.entry(app).or_default().push(r.id.clone());
        }
    }
    assert_eq!(reported.len(), apps, "every Application in argocd_app_info");
    for (app, by) in &reported {
        let owner = ring3.owner(&format!("{NS}/{app}")).unwrap();
        assert_eq!(by, &[owner.to_string()], "{app}: reported by {by:?}");
    }
    // Audit records: each Application's sync was recorded by its owner, and only by it.
    let events: serde_json::Value = serde_json::from_str(
        &tc.kubectl_ok(
            "1.33",
            &[
                "get",
                "events",
                "-n",
                NS,
                "-l",
                "fjord.dev/audit=true",
                "-o",
                "json",
            ],
        )
        .unwrap(),
    )
    .unwrap();
    let mut recorded: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in events["items"].as_array().unwrap() {
        let text = e["metadata"]["annotations"]["fjord.dev/audit-record"]
            .as_str()
            .expect("an audit Event carries its record");
        let record: serde_json::Value = serde_json::from_str(text).unwrap();
        recorded
            .entry(record["application"]["name"].as_str().unwrap().to_string())
            .or_default()
            .insert(record["controller"].as_str().unwrap_or("").to_string());
    }
    assert_eq!(
        recorded.len(),
        apps,
        "an audit record for every Application"
    );
    for (app, by) in &recorded {
        let owner = ring3.owner(&format!("{NS}/{app}")).unwrap();
        assert_eq!(
            by,
            &BTreeSet::from([owner.to_string()]),
            "{app}: audit records by {by:?}"
        );
    }

    // Steady state: nothing changes, so the replicas' only requests are their Lease renewals
    // (one per replica and the leader's, every third of the lease duration).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let window = Duration::from_secs(4 * lease_seconds());
    let before = api_requests(&client).await;
    tokio::time::sleep(window).await;
    let requests = api_requests(&client).await - before - 1;
    let renewals = 4 * (window.as_secs() * 3 / lease_seconds());
    println!(
        "steady state: {requests} API requests in {window:?} with 3 replicas ({renewals} renewals expected)"
    );
    assert!(
        requests <= renewals + 8,
        "{requests} requests in {window:?}: more than the renewals"
    );

    // Phase 2: a fourth replica joins and takes about a quarter; the rest stay.
    let joined_at = epoch_ms();
    let r4 = start_replica(&tc, &dir, "r4", true);
    let four = ["r1", "r2", "r3", "r4"];
    wait_agreement(&client, &four, Duration::from_secs(60)).await;
    let ring4 = Ring::new(four);
    let expect_r4: BTreeSet<String> = (0..apps)
        .map(app_name)
        .filter(|a| ring4.owns("r4", &format!("{NS}/{a}")))
        .collect();
    wait_until(
        "the newcomer reconciles its Applications",
        Duration::from_secs(90),
        async || {
            let got: BTreeSet<String> = reconciles(&[&r4]).into_iter().map(|r| r.app).collect();
            expect_r4.is_subset(&got)
        },
    )
    .await;
    let after_join: Vec<Reconcile> = reconciles(&[&r1, &r2, &r3, &r4])
        .into_iter()
        .filter(|r| r.start >= joined_at)
        .collect();
    let moved: BTreeSet<String> = after_join
        .iter()
        .filter(|r| r.replica == "r4")
        .map(|r| r.app.clone())
        .collect();
    assert_eq!(
        moved, expect_r4,
        "the newcomer reconciles exactly its ring share"
    );
    let fraction = moved.len() as f64 / apps as f64;
    let joined_ms = after_join
        .iter()
        .filter(|r| r.replica == "r4")
        .map(|r| r.end)
        .max()
        .unwrap_or(joined_at)
        - joined_at;
    println!(
        "a fourth replica took {} of {apps} Applications ({:.1} %), all reconciled {joined_ms} ms after its start",
        moved.len(),
        fraction * 100.0
    );
    assert!(
        (0.10..=0.40).contains(&fraction),
        "about a quarter should move, moved {fraction:.3}"
    );
    // The rest stay: every Application that did not move is reconciled, if at all, by the
    // owner it had with three replicas.
    for r in after_join.iter().filter(|r| r.replica != "r4") {
        let key = format!("{NS}/{}", r.app);
        assert_eq!(ring3.owner(&key), Some(r.replica.as_str()), "{}", r.app);
    }
    for a in (0..apps).map(app_name).filter(|a| !moved.contains(a)) {
        let key = format!("{NS}/{a}");
        assert_eq!(
            ring4.owner(&key),
            ring3.owner(&key),
            "{a} moved between old replicas"
        );
    }

    // Phase 3: kill -9 a replica that is not the leader; the survivors take its Applications.
    let victim_id = ["r1", "r2", "r3"]
        .into_iter()
        .find(|id| *id != leader)
        .unwrap();
    let (mut victim, survivors): (Vec<Replica>, Vec<Replica>) = [r1, r2, r3, r4]
        .into_iter()
        .partition(|r| r.id == victim_id);
    let mut victim = victim.remove(0);
    let victims_apps: BTreeSet<String> = (0..apps)
        .map(app_name)
        .filter(|a| ring4.owns(victim_id, &format!("{NS}/{a}")))
        .collect();
    let killed_at = epoch_ms();
    victim.child.kill().unwrap();
    let _ = victim.child.wait();
    let survivor_ids: Vec<&str> = survivors.iter().map(|r| r.id.as_str()).collect();
    let refs: Vec<&Replica> = survivors.iter().collect();
    wait_until(
        "the survivors reconcile the dead replica's Applications",
        Duration::from_secs(90),
        async || {
            let taken: BTreeSet<String> = reconciles(&refs)
                .into_iter()
                .filter(|r| r.start >= killed_at)
                .map(|r| r.app)
                .collect();
            victims_apps.is_subset(&taken)
        },
    )
    .await;
    let after_kill: Vec<Reconcile> = reconciles(&refs)
        .into_iter()
        .filter(|r| r.start >= killed_at)
        .collect();
    let takeover_ms = victims_apps
        .iter()
        .filter_map(|a| {
            after_kill
                .iter()
                .filter(|r| &r.app == a)
                .map(|r| r.end)
                .min()
        })
        .max()
        .unwrap()
        - killed_at;
    let first_ms = after_kill
        .iter()
        .filter(|r| victims_apps.contains(&r.app))
        .map(|r| r.start)
        .min()
        .unwrap()
        - killed_at;
    println!(
        "kill -9 of {victim_id}: its {} Applications reconciled by the survivors; first started after {first_ms} ms, all done after {takeover_ms} ms (lease {} s)",
        victims_apps.len(),
        lease_seconds()
    );
    let ring_after = Ring::new(survivor_ids.iter().copied());
    for r in &after_kill {
        assert_eq!(
            ring_after.owner(&format!("{NS}/{}", r.app)),
            Some(r.replica.as_str()),
            "{} reconciled by a non-owner after the kill",
            r.app
        );
    }
    // The leader removes the dead replica's Lease once it is long expired.
    wait_agreement(&client, &survivor_ids, Duration::from_secs(60)).await;

    // Phase 4: the leader stops gracefully (SIGTERM): it gives up its Lease and leadership,
    // another replica leads, starts the Sealed Secrets controller and keeps the one key.
    let (mut old_leader, rest): (Vec<Replica>, Vec<Replica>) =
        survivors.into_iter().partition(|r| r.id == leader);
    let mut old_leader = old_leader.remove(0);
    let termed_at = epoch_ms();
    let status = Command::new("kill")
        .args(["-TERM", &old_leader.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest_ids: Vec<&str> = rest.iter().map(|r| r.id.as_str()).collect();
    let mut new_leader = String::new();
    wait_until("a new leader", Duration::from_secs(60), async || {
        new_leader = leader_of(&client).await;
        rest_ids.contains(&new_leader.as_str())
    })
    .await;
    let leader_after_ms = epoch_ms() - termed_at;
    wait_agreement(&client, &rest_ids, Duration::from_secs(60)).await;
    let agreed_after_ms = epoch_ms() - termed_at;
    let new_leader_replica = rest.iter().find(|r| r.id == new_leader).unwrap();
    wait_until(
        "the new leader's Sealed Secrets controller",
        Duration::from_secs(30),
        async || log_of(new_leader_replica).contains(SEALED_STARTED),
    )
    .await;
    let exited = wait_exit(&mut old_leader.child, Duration::from_secs(20));
    assert!(exited, "the old leader exits after SIGTERM");
    assert!(
        log_of(&old_leader).contains("left the shard"),
        "graceful shutdown deletes the member Lease"
    );
    println!(
        "SIGTERM of the leader {leader}: {new_leader} leads after {leader_after_ms} ms; the two left agree after {agreed_after_ms} ms"
    );
    assert_eq!(
        key_secrets(&client).await,
        1,
        "the new leader reuses the key"
    );
    let ring_last = Ring::new(rest_ids.iter().copied());
    let last_apps: BTreeSet<String> = (0..apps)
        .map(app_name)
        .filter(|a| ring_after.owns(&leader, &format!("{NS}/{a}")))
        .collect();
    let refs: Vec<&Replica> = rest.iter().collect();
    wait_until(
        "the old leader's Applications taken over",
        Duration::from_secs(90),
        async || {
            let taken: BTreeSet<String> = reconciles(&refs)
                .into_iter()
                .filter(|r| r.start >= termed_at)
                .map(|r| r.app)
                .collect();
            last_apps.is_subset(&taken)
        },
    )
    .await;
    for r in reconciles(&refs).iter().filter(|r| r.start >= termed_at) {
        assert_eq!(
            ring_last.owner(&format!("{NS}/{}", r.app)),
            Some(r.replica.as_str())
        );
    }

    let mut everyone: Vec<&Replica> = rest.iter().collect();
    everyone.push(&victim);
    everyone.push(&old_leader);
    assert_no_overlap(&reconciles(&everyone));
    drop(victim);
    assert_eq!(synced_count(&client).await, apps);
}

/// The API server's request counter (its `/metrics`).
async fn api_requests(client: &kube::Client) -> u64 {
    let req = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = client.request_text(req).await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("fjord_apiserver_requests_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the API server counts requests")
}

fn wait_exit(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Time to Synced for the same fleet with 1, 2 and 3 replicas (run with
/// `FJORD_SHARD_THROUGHPUT=1`); prints, asserts nothing about speed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: three fleets of 300 Applications"]
async fn throughput_with_one_two_and_three_replicas() {
    if std::env::var_os("FJORD_SHARD_THROUGHPUT").is_none() {
        println!("set FJORD_SHARD_THROUGHPUT=1 to measure");
        return;
    }
    let apps = apps_count();
    for n in 1..=3usize {
        let tc = TestCluster::start().await.unwrap();
        let dir = tc.scratch().to_path_buf();
        let client = setup(&tc, true).await;
        let bare = fleet_repo(&dir, apps);
        let ids: Vec<String> = (1..=n).map(|i| format!("t{i}")).collect();
        let replicas: Vec<Replica> = ids
            .iter()
            .map(|id| start_replica(&tc, &dir, id, n > 1))
            .collect();
        if n > 1 {
            let members: Vec<&str> = ids.iter().map(String::as_str).collect();
            wait_agreement(&client, &members, Duration::from_secs(60)).await;
        } else {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let started = Instant::now();
        create_apps(&client, &bare, apps).await;
        wait_until(
            "every Application Synced",
            Duration::from_secs(600),
            async || synced_count(&client).await == apps,
        )
        .await;
        let took = started.elapsed();
        println!(
            "{n} replica(s): {apps} Applications Synced in {took:.1?} ({:.1} Applications/s)",
            apps as f64 / took.as_secs_f64()
        );
        drop(replicas);
    }
}

/// The API server goes away for three lease durations: both replicas fence themselves
/// (cancel and stop), then come back through a new agreement; no Application is reconciled
/// by two replicas at once across the outage, and each ends with its ring owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: starts the embedded control plane (stopped and restarted) and two fjord controller processes"]
async fn replicas_fence_during_an_api_outage_and_resume_without_overlap() {
    let apps = 60;
    let mut tc = TestCluster::start().await.unwrap();
    let dir = tc.scratch().to_path_buf();
    let client = setup(&tc, true).await;
    let bare = fleet_repo(&dir, apps);
    let a = start_replica(&tc, &dir, "ra", true);
    let b = start_replica(&tc, &dir, "rb", true);
    wait_agreement(&client, &["ra", "rb"], Duration::from_secs(60)).await;
    create_apps(&client, &bare, apps).await;
    wait_until(
        "every Application Synced",
        Duration::from_secs(120),
        async || synced_count(&client).await == apps,
    )
    .await;

    tc.stop().await;
    tokio::time::sleep(Duration::from_secs(3 * lease_seconds())).await;
    for r in [&a, &b] {
        assert!(
            log_of(r).contains("shard Lease not renewed in time: stopped reconciling"),
            "{} fenced itself during the outage",
            r.id
        );
    }
    let back_at = epoch_ms();
    tc.restart().await.unwrap();
    let client = fjord_e2e::client(&tc).await;
    wait_agreement(&client, &["ra", "rb"], Duration::from_secs(90)).await;
    let ring = Ring::new(["ra", "rb"]);
    wait_until(
        "every Application reconciled by its owner after the outage",
        Duration::from_secs(90),
        async || {
            let after: BTreeSet<(String, String)> = reconciles(&[&a, &b])
                .into_iter()
                .filter(|r| r.start >= back_at)
                .map(|r| (r.app, r.replica))
                .collect();
            (0..apps).map(app_name).all(|app| {
                let owner = ring.owner(&format!("{NS}/{app}")).unwrap().to_string();
                after.contains(&(app, owner))
            })
        },
    )
    .await;
    let resumed_ms = epoch_ms() - back_at;
    println!(
        "after a {} s outage both replicas resumed their shares within {resumed_ms} ms",
        3 * lease_seconds()
    );
    assert_no_overlap(&reconciles(&[&a, &b]));
    assert_eq!(synced_count(&client).await, apps);
}
