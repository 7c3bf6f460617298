//! Starting and stopping the server: store, registry (with stored CRDs), bootstrap namespaces,
//! credentials, kubeconfig, and the accept loop (TLS with HTTP/2 and HTTP/1.1, or plain HTTP when
//! asked for explicitly).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::http::{HttpState, router};
use crate::registry::{Registry, types_from_crd};
use crate::rest::{Api, WatchOptions};
use crate::store::{Mutation, Precondition, Store, StoreOptions, Write};
use crate::tls::{Credentials, kubeconfig, write_kubeconfig};

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Where the store and credentials live; None keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// Where to write the kubeconfig, if anywhere.
    pub kubeconfig_path: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS.
    pub insecure_http: bool,
    /// Watch timing.
    pub watch: WatchOptions,
    /// Store tuning.
    pub store: StoreOptions,
    /// How often the revision log is compacted (None: never).
    pub compaction_interval: Option<Duration>,
    /// The simulated controllers and the garbage collector.
    pub controllers: crate::controllers::ControllerOptions,
}

impl ServerConfig {
    /// Defaults for `listen`, in memory, HTTPS.
    pub fn new(listen: SocketAddr) -> ServerConfig {
        ServerConfig {
            listen,
            data_dir: None,
            kubeconfig_path: None,
            insecure_http: false,
            watch: WatchOptions::default(),
            store: StoreOptions::default(),
            compaction_interval: Some(Duration::from_secs(300)),
            controllers: Default::default(),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::OpenError),
    /// Credentials could not be set up.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The listen address could not be bound.
    #[error("listening on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing the bootstrap objects failed.
    #[error("creating the bootstrap namespaces: {0}")]
    Bootstrap(crate::store::CommitError),
}

/// A running server.
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    /// The URL clients use.
    pub url: String,
    /// A kubeconfig for it.
    pub kubeconfig: String,
    /// The bearer token.
    pub token: String,
    /// The CA certificate (None for plain HTTP).
    pub ca_pem: Option<String>,
    store: Arc<Store>,
    requests: Arc<std::sync::atomic::AtomicU64>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting, closes every connection (watches included) and flushes nothing more:
    /// acknowledged writes are already durable.
    /// Returns once the store is closed (its file can be reopened at once), or after 5 seconds if
    /// a background task still holds it.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&self.store) > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let store = self.store;
        // Dropping the last handle joins the committer thread, which releases the database.
        let _ = tokio::task::spawn_blocking(move || drop(store)).await;
    }

    /// Waits until the server stops (it stops only through `shutdown`).
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    /// Compacts the revision log now, up to the current revision (within the store's minimum
    /// retention). Returns the new compaction point.
    pub async fn compact_now(&self) -> Result<u64, crate::store::CommitError> {
        self.store.compact(self.store.current_revision()).await
    }

    /// HTTP requests received since the start (watches count once, when they open).
    pub fn requests_served(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The store (for in-process inspection by tests and benchmarks).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}

/// Namespaces every cluster has.
const BOOTSTRAP_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Starts the server in the background.
pub async fn start(config: ServerConfig) -> Result<RunningServer, StartError> {
    let store = Store::open(config.data_dir.as_deref(), config.store.clone())?;
    let registry = Arc::new(Registry::new());
    load_crds(&store, &registry);
    bootstrap(&store).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let host = match addr.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let creds =
        Credentials::load_or_generate(config.data_dir.as_deref(), &[addr.ip().to_string()])?;
    let scheme = if config.insecure_http {
        "http"
    } else {
        "https"
    };
    let url = format!("{scheme}://{host}:{}", addr.port());
    let ca_pem = (!config.insecure_http).then(|| creds.ca_pem.clone());
    let kubeconfig_text = kubeconfig(&url, ca_pem.as_deref(), &creds.token);
    if let Some(path) = &config.kubeconfig_path {
        write_kubeconfig(path, &kubeconfig_text)?;
    }
    let tls = if config.insecure_http {
        None
    } else {
        Some(tokio_rustls::TlsAcceptor::from(creds.server_config()?))
    };
    let api = Arc::new(Api {
        store: store.clone(),
        registry,
        watch: config.watch.clone(),
        schemas: Default::default(),
        allocations: Default::default(),
    });
    let requests = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let state = Arc::new(HttpState {
        requests: requests.clone(),
        resource_requests: Default::default(),
        api: api.clone(),
        token: creds.token.clone(),
        server_address: format!("{host}:{}", addr.port()),
    });
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    if let Some(every) = config.compaction_interval {
        tokio::spawn(compactor(store.clone(), every, shutdown_rx.clone()));
    }
    crate::controllers::spawn(api, config.controllers.clone(), shutdown_rx.clone());
    let task = tokio::spawn(accept_loop(listener, tls, state, shutdown_rx));
    tracing::info!(%url, "fjord-apiserver listening");
    Ok(RunningServer {
        addr,
        url,
        kubeconfig: kubeconfig_text,
        token: creds.token,
        ca_pem,
        store,
        requests,
        shutdown: shutdown_tx,
        task,
    })
}

/// Serves every stored CRD's kinds.
fn load_crds(store: &Store, registry: &Registry) {
    let (crds, _, _) = store.list(
        "apiextensions.k8s.io/customresourcedefinitions/",
        None,
        None,
        |_| true,
    );
    for crd in crds {
        let name = crate::object::name(&crd.value).to_string();
        match types_from_crd(&crd.value) {
            Ok(types) => registry.set_crd_types(&name, types),
            Err(e) => tracing::warn!(crd = %name, error = %e, "stored CRD cannot be served"),
        }
    }
}

async fn bootstrap(store: &Store) -> Result<(), StartError> {
    for ns in BOOTSTRAP_NAMESPACES {
        let key = format!("/namespaces//{ns}");
        if store.get(&key).is_some() {
            continue;
        }
        let obj = json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "uid": uuid::Uuid::new_v4().to_string(),
                         "creationTimestamp": crate::object::now(),
                         "labels": {"kubernetes.io/metadata.name": ns}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        match store
            .write(Write {
                key,
                precondition: Precondition::MustNotExist,
                mutation: Mutation::Put(obj),
            })
            .await
        {
            Ok(_) | Err(crate::store::CommitError::AlreadyExists) => {}
            Err(e) => return Err(StartError::Bootstrap(e)),
        }
    }
    Ok(())
}

async fn compactor(store: Arc<Store>, every: Duration, mut shutdown: watch::Receiver<bool>) {
    // Each round compacts up to where the log was one interval ago, so every event stays
    // resumable for at least one interval.
    let mut previous = store.current_revision();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = store.compact(previous).await {
            tracing::warn!(error = %e, "compacting the revision log failed");
        }
        previous = store.current_revision();
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: Arc<HttpState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = router(state);
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let service = hyper_util::service::TowerToHyperService::new(app);
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let result = match tls {
                Some(acceptor) => match acceptor.accept(tcp).await {
                    Ok(stream) => {
                        builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .await
                    }
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                },
                None => {
                    builder
                        .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                        .await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}
