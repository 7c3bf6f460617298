//! `fjord app` and `fjord login`: Applications from the command line, against Fjord's API
//! (`--server`, with the token `fjord login` saved or `FJORD_TOKEN`) or straight against the
//! cluster (`--core`, as Argo CD's core mode).

mod backend;
mod history;
mod output;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use backend::{ApiClient, Backend, Core};
use clap::{Args, Subcommand};
use fjord_server::api::actions::{RollbackRequest, SyncRequest};
use fjord_server::api::query::ListQuery;
use output::{ColorChoice, Format};
use serde_json::{Value, json};

#[derive(Debug, Args)]
pub struct Target {
    /// Fjord's server, e.g. http://127.0.0.1:8080 (default: the one `fjord login` saved).
    #[arg(long, env = "FJORD_SERVER", global = true)]
    server: Option<String>,
    /// Talk to the cluster directly (kubeconfig credentials) instead of Fjord's API.
    #[arg(long, global = true, conflicts_with = "server")]
    core: bool,
    /// Kubeconfig for --core.
    #[arg(long, env = "KUBECONFIG", global = true)]
    kubeconfig: Option<PathBuf>,
    /// Namespace of the Applications (--core).
    #[arg(long, default_value = "argocd", global = true)]
    namespace: String,
    /// Git cache for rendering desired state (--core diff).
    #[arg(long, global = true)]
    git_cache: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AppArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    command: AppCommand,
}

#[derive(Debug, Subcommand)]
enum AppCommand {
    /// List Applications.
    List {
        /// Projects, comma-separated.
        #[arg(short = 'p', long)]
        project: Option<String>,
        /// Sync statuses, comma-separated (Synced, OutOfSync, Unknown).
        #[arg(long)]
        sync: Option<String>,
        /// Health statuses, comma-separated.
        #[arg(long)]
        health: Option<String>,
        /// Label selector.
        #[arg(short = 'l', long)]
        selector: Option<String>,
        /// Text search.
        #[arg(long)]
        search: Option<String>,
        /// Sort field (name, project, sync, health, createdAt, reconciledAt; '-' descends).
        #[arg(long)]
        sort: Option<String>,
        /// Fetch every page (default: the first 1000).
        #[arg(long)]
        all: bool,
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Show one Application.
    Get {
        name: String,
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Show how live differs from Git (exit code 1 when it does).
    Diff {
        name: String,
        #[arg(long, value_enum, default_value = "auto")]
        color: ColorChoice,
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Sync an Application (writes its `operation`, as Argo CD does).
    Sync {
        name: String,
        /// Delete objects no longer in Git.
        #[arg(long)]
        prune: bool,
        /// Plan only.
        #[arg(long)]
        dry_run: bool,
        /// Revision to sync to.
        #[arg(long)]
        revision: Option<String>,
        /// Only these objects: GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME (repeatable).
        #[arg(long = "resource")]
        resources: Vec<String>,
        /// Wait until Synced and Healthy.
        #[arg(long)]
        wait: bool,
        /// Seconds to wait.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Deployment history.
    History {
        name: String,
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Roll back to a history entry.
    Rollback {
        name: String,
        /// The history ID.
        id: i64,
        #[arg(long)]
        prune: bool,
        #[arg(long)]
        dry_run: bool,
        /// Wait until Synced and Healthy.
        #[arg(long)]
        wait: bool,
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Wait until an Application is Synced and Healthy (or only what is asked).
    Wait {
        name: String,
        /// Wait for Synced only.
        #[arg(long)]
        sync: bool,
        /// Wait for Healthy only.
        #[arg(long)]
        health: bool,
        /// Wait for the operation to finish.
        #[arg(long)]
        operation: bool,
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Delete an Application (and its resources, unless --cascade=false).
    Delete {
        name: String,
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        cascade: bool,
        /// Do not ask.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Fjord's server, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    server: String,
    /// Read the token from this file instead of standard input.
    #[arg(long)]
    token_file: Option<PathBuf>,
}

fn config_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("FJORD_CONFIG") {
        return Ok(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME").context("HOME is not set; set FJORD_CONFIG")?;
    Ok(PathBuf::from(home).join(".config/fjord/config.json"))
}

fn saved() -> Option<Value> {
    let text = std::fs::read_to_string(config_path().ok()?).ok()?;
    serde_json::from_str(&text).ok()
}

/// `fjord login`: checks the token against the server and saves both (file mode 0600).
pub fn login(args: LoginArgs) -> Result<()> {
    let token = match &args.token_file {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => {
            if std::io::stdin().is_terminal() {
                eprint!("Token: ");
                let _ = std::io::stderr().flush();
            }
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the token")?;
            line
        }
    };
    let token = token.trim();
    if token.is_empty() {
        bail!("no token given (on standard input or with --token-file)");
    }
    let client = ApiClient::new(&args.server, token);
    let who = client.call("GET", "/api/v1/session", None)?;
    let path = config_path()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&json!({"server": client.server, "token": token}))?;
    write_private(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    println!(
        "Logged in to {} as {}; saved in {}",
        client.server,
        output::s(&who, "user"),
        path.display()
    );
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

fn backend(t: &Target) -> Result<Backend> {
    if t.core {
        let cache = t
            .git_cache
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("fjord-cli-git-cache"));
        return Ok(Backend::Core(Core::new(
            t.kubeconfig.as_deref(),
            &t.namespace,
            cache,
        )?));
    }
    let saved = saved();
    let server = t
        .server
        .clone()
        .or_else(|| saved.as_ref().map(|s| output::s(s, "server")))
        .filter(|s| !s.is_empty())
        .context(
            "no server: pass --server URL, set FJORD_SERVER, run `fjord login`, or use --core",
        )?;
    let token = std::env::var("FJORD_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| {
            saved
                .as_ref()
                .filter(|s| {
                    output::s(s, "server").trim_end_matches('/') == server.trim_end_matches('/')
                })
                .map(|s| output::s(s, "token"))
        })
        .unwrap_or_default();
    Ok(Backend::Api(ApiClient::new(&server, &token)))
}

fn print(text: &str) {
    print!("{text}");
    let _ = std::io::stdout().flush();
}

/// `GROUP:KIND:NAME` or `GROUP:KIND:NAMESPACE/NAME`.
fn parse_resource(s: &str) -> Result<Value> {
    let parts: Vec<&str> = s.splitn(3, ':').collect();
    let [group, kind, rest] = parts.as_slice() else {
        bail!("--resource {s:?}: expected GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME");
    };
    if kind.is_empty() || rest.is_empty() {
        bail!("--resource {s:?}: kind and name are required");
    }
    let (namespace, name) = match rest.split_once('/') {
        Some((ns, n)) => (Some(ns), n),
        None => (None, *rest),
    };
    Ok(json!({"group": group, "kind": kind, "name": name, "namespace": namespace}))
}

pub fn run(args: AppArgs) -> Result<()> {
    let b = backend(&args.target)?;
    match args.command {
        AppCommand::List {
            project,
            sync,
            health,
            selector,
            search,
            sort,
            all,
            output,
        } => {
            let mut q = ListQuery {
                project,
                sync,
                health,
                selector,
                search,
                sort,
                limit: Some(1000),
                ..Default::default()
            };
            let mut page = b.list(&q)?;
            let mut items: Vec<Value> = page["items"].as_array().cloned().unwrap_or_default();
            while all && page["continue"].is_string() {
                q.continue_token = page["continue"].as_str().map(String::from);
                page = b.list(&q)?;
                items.extend(page["items"].as_array().cloned().unwrap_or_default());
            }
            page["items"] = Value::Array(items);
            match output {
                Format::Table => print(&output::app_table(&page)),
                Format::Name => {
                    for a in page["items"].as_array().into_iter().flatten() {
                        println!("{}", output::s(a, "name"));
                    }
                }
                f => print(&output::structured(&page, f)?),
            }
        }
        AppCommand::Get { name, output } => {
            let app = b.get(&name)?;
            match output {
                Format::Table => print(&output::app_details(&app)),
                Format::Name => println!("{}", output::s(&app["metadata"], "name")),
                f => print(&output::structured(&app, f)?),
            }
        }
        AppCommand::Diff {
            name,
            color,
            output,
        } => {
            let diff = b.diff(&name)?;
            let changed = diff["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| i["status"] != "Unchanged")
                .count();
            match output {
                Format::Json | Format::Yaml => print(&output::structured(&diff, output)?),
                _ => print(&output::diff_text(&diff, output::use_color(color)).0),
            }
            if changed > 0 {
                bail!("{changed} object(s) differ from Git");
            }
        }
        AppCommand::Sync {
            name,
            prune,
            dry_run,
            revision,
            resources,
            wait: w,
            timeout,
        } => {
            let resources: Vec<Value> = resources
                .iter()
                .map(|r| parse_resource(r))
                .collect::<Result<_>>()?;
            let body = json!({"prune": prune, "dryRun": dry_run, "revision": revision, "resources": resources});
            let req: SyncRequest = serde_json::from_value(body.clone())?;
            b.sync(&name, &req, &body)?;
            eprintln!("sync of {name} requested");
            if w {
                wait(&b, &name, Want::all(), timeout)?;
            }
        }
        AppCommand::History { name, output } => {
            let h = b.history(&name)?;
            match output {
                Format::Table | Format::Name => print(&format!(
                    "{}{}",
                    output::history_table(&h),
                    history::audit_text(&h)
                )),
                f => print(&output::structured(&h, f)?),
            }
        }
        AppCommand::Rollback {
            name,
            id,
            prune,
            dry_run,
            wait: w,
            timeout,
        } => {
            b.rollback(
                &name,
                &RollbackRequest {
                    id,
                    prune: Some(prune),
                    dry_run: Some(dry_run),
                },
            )?;
            eprintln!("rollback of {name} to history {id} requested");
            if w {
                wait(&b, &name, Want::all(), timeout)?;
            }
        }
        AppCommand::Wait {
            name,
            sync,
            health,
            operation,
            timeout,
        } => {
            let want = if !sync && !health && !operation {
                Want::all()
            } else {
                Want {
                    sync,
                    health,
                    operation,
                }
            };
            wait(&b, &name, want, timeout)?;
        }
        AppCommand::Delete { name, cascade, yes } => {
            if !yes {
                if !std::io::stdin().is_terminal() {
                    bail!(
                        "refusing to delete {name} without --yes (standard input is not a terminal)"
                    );
                }
                eprint!(
                    "Delete application {name}{}? [y/N] ",
                    if cascade { " and its resources" } else { "" }
                );
                let _ = std::io::stderr().flush();
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                if !matches!(line.trim(), "y" | "Y" | "yes") {
                    bail!("not deleted");
                }
            }
            b.delete(&name, cascade)?;
            println!(
                "application {name} deleted{}",
                if cascade { " (with its resources)" } else { "" }
            );
        }
    }
    Ok(())
}

/// What `wait` waits for.
#[derive(Clone, Copy, Debug)]
struct Want {
    sync: bool,
    health: bool,
    operation: bool,
}

impl Want {
    fn all() -> Self {
        Want {
            sync: true,
            health: true,
            operation: true,
        }
    }

    fn met(&self, summary: &Value) -> bool {
        (!self.sync || summary["sync"] == "Synced")
            && (!self.health || summary["health"] == "Healthy")
            && (!self.operation
                || (summary["operationPending"] != true && summary["operationPhase"] != "Running"))
    }
}

/// Polls until `want` holds, showing each new state (a spinner on a terminal).
fn wait(b: &Backend, name: &str, want: Want, timeout: u64) -> Result<()> {
    let start = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let spinner = ['|', '/', '-', '\\'];
    let mut last = String::new();
    let mut tick = 0usize;
    loop {
        let app = b.get(name)?;
        let sm = &app["summary"];
        let state = format!(
            "sync {}, health {}{}",
            output::s(sm, "sync"),
            output::s(sm, "health"),
            match output::s(sm, "operationPhase").as_str() {
                "" => String::new(),
                p => format!(", operation {p}"),
            }
        );
        let elapsed = start.elapsed().as_secs();
        if tty {
            eprint!(
                "\r{} [{elapsed:>3}s] {name}: {state}\x1b[K",
                spinner[tick % 4]
            );
            tick += 1;
        } else if state != last {
            eprintln!("[{elapsed:>3}s] {name}: {state}");
        }
        last = state;
        if want.met(sm) {
            if tty {
                eprintln!();
            }
            println!("{name}: {last}");
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(timeout) {
            if tty {
                eprintln!();
            }
            bail!("timed out after {timeout}s waiting for {name} ({last})");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_parse_with_and_without_namespace() {
        assert_eq!(
            parse_resource("apps:Deployment:prod/web").unwrap(),
            json!({"group": "apps", "kind": "Deployment", "name": "web", "namespace": "prod"})
        );
        assert_eq!(
            parse_resource(":Service:web").unwrap(),
            json!({"group": "", "kind": "Service", "name": "web", "namespace": null})
        );
        assert!(parse_resource("Deployment/web").is_err());
    }

    #[test]
    fn waiting_for_everything_needs_the_operation_finished() {
        let w = Want::all();
        assert!(w.met(&json!({"sync": "Synced", "health": "Healthy", "operationPending": false})));
        assert!(
            !w.met(&json!({"sync": "Synced", "health": "Healthy", "operationPhase": "Running"}))
        );
        let only_health = Want {
            sync: false,
            health: true,
            operation: false,
        };
        assert!(only_health.met(&json!({"sync": "OutOfSync", "health": "Healthy"})));
    }
}
