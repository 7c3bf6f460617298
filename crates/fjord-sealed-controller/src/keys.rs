//! The key manager: loads the key Secrets of the controller's namespace into a key ring, creates
//! the first key and renews it on schedule (old keys stay, for decryption), and picks up key
//! Secrets that appear later (a restored backup) at once.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fjord_sealed::{KeyOptions, KeyPair, KeyRing};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;

use crate::Error;

/// Shared, swappable view of the current key ring.
pub type KeyRingWatch = watch::Receiver<Arc<KeyRing>>;

/// Key management settings.
#[derive(Debug, Clone)]
pub struct KeyConfig {
    /// Namespace of the key Secrets (the controller's own).
    pub namespace: String,
    /// `generateName` prefix of new key Secrets.
    pub key_prefix: String,
    /// How often a new key is generated (0: never after the first).
    pub renew_period: Duration,
    /// RSA key size.
    pub key_bits: usize,
}

fn creation_time(secret: &Secret) -> Option<SystemTime> {
    secret
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| SystemTime::from(t.0))
}

/// Adds every key Secret of `secrets` to `ring`; returns whether anything was added.
fn absorb(ring: &mut KeyRing, secrets: &[Secret]) -> bool {
    let mut added = false;
    for s in secrets.iter().filter(|s| fjord_sealed::is_key_secret(s)) {
        match fjord_sealed::key_pair_from_secret(s) {
            Ok(pair) => added |= ring.insert_ordered(pair, creation_time(s)),
            Err(e) => tracing::warn!(
                secret = s.metadata.name.as_deref().unwrap_or(""),
                error = %e,
                "ignoring a key Secret that cannot be read"
            ),
        }
    }
    added
}

async fn generate(config: &KeyConfig, api: &Api<Secret>) -> Result<(KeyPair, Secret), Error> {
    let bits = config.key_bits;
    let pair = tokio::task::spawn_blocking(move || {
        KeyPair::generate(&KeyOptions {
            bits,
            ..Default::default()
        })
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))?
    .map_err(Error::Sealed)?;
    let secret = fjord_sealed::key_pair_to_secret(&pair, &config.namespace, &config.key_prefix)
        .map_err(Error::Sealed)?;
    let created = api
        .create(&PostParams::default(), &secret)
        .await
        .map_err(|e| Error::Kube("creating a sealing key Secret", e))?;
    tracing::info!(
        secret = created.metadata.name.as_deref().unwrap_or(""),
        fingerprint = pair.certificate().fingerprint(),
        "new sealing key"
    );
    Ok((pair, created))
}

/// Loads the keys (creating the first one when there is none or the newest is due for renewal)
/// and keeps the ring current in the background: renewal on schedule, key Secrets added later.
///
/// Errors: the initial list or key creation fails.
pub async fn start(
    client: kube::Client,
    config: KeyConfig,
) -> Result<(KeyRingWatch, tokio::task::JoinHandle<()>), Error> {
    let api: Api<Secret> = Api::namespaced(client, &config.namespace);
    let existing = api
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::Kube("listing the key Secrets", e))?;
    let mut ring = KeyRing::new();
    absorb(&mut ring, &existing.items);
    if ring.is_empty() || ring.needs_new_key(SystemTime::now(), config.renew_period) {
        let (pair, secret) = generate(&config, &api).await?;
        ring.insert_ordered(pair, creation_time(&secret));
    }
    let (tx, rx) = watch::channel(Arc::new(ring));
    let task = tokio::spawn(maintain(api, config, tx));
    Ok((rx, task))
}

async fn maintain(api: Api<Secret>, config: KeyConfig, tx: watch::Sender<Arc<KeyRing>>) {
    let mut secrets = std::pin::pin!(
        watcher(api.clone(), watcher::Config::default())
            .default_backoff()
            .filter_map(|e| async move { e.ok() })
    );
    loop {
        let next_renewal = tx
            .borrow()
            .next_renewal(config.renew_period)
            .and_then(|at| at.duration_since(SystemTime::now()).ok())
            .unwrap_or(Duration::from_secs(3600));
        let renew = !config.renew_period.is_zero();
        tokio::select! {
            event = secrets.next() => {
                let Some(event) = event else { return };
                let added: Vec<Secret> = match event {
                    watcher::Event::Apply(s) | watcher::Event::InitApply(s) => vec![s],
                    _ => continue,
                };
                let mut ring = (**tx.borrow()).clone();
                if absorb(&mut ring, &added) {
                    tracing::info!(keys = ring.len(), "key ring updated from key Secrets");
                    tx.send_replace(Arc::new(ring));
                }
            }
            _ = tokio::time::sleep(next_renewal), if renew => {
                match generate(&config, &api).await {
                    Ok((pair, secret)) => {
                        let mut ring = (**tx.borrow()).clone();
                        ring.insert_ordered(pair, creation_time(&secret));
                        tx.send_replace(Arc::new(ring));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "renewing the sealing key failed; retrying in a minute");
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                }
            }
        }
    }
}
