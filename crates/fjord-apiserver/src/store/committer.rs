//! The single writer. Writes queue on a channel; the committer thread takes everything queued as one
//! batch, checks preconditions in order (later writes in a batch see earlier ones), persists the batch
//! in one durable transaction, then publishes it to memory and wakes watchers, then answers every
//! writer. One fsync serves the whole batch: that is the group commit.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, RwLock};

use serde_json::Value;
use tokio::sync::oneshot;

use super::durable::Database;
use super::{Event, EventType, Mutation, Precondition, State, StoredObject, Write, stamp_revision};

/// Why a write was not applied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    /// The key exists but the write required it not to.
    #[error("already exists")]
    AlreadyExists,
    /// The key does not exist but the write required it to.
    #[error("not found")]
    NotFound,
    /// The key exists at another revision than the write required.
    #[error("the object has been modified (now at revision {current})")]
    Conflict {
        /// The revision it is at now.
        current: u64,
    },
    /// The batch could not be made durable; nothing of it was applied.
    #[error("persisting to the store failed: {0}")]
    Persist(String),
    /// The committer is gone (the store is shutting down).
    #[error("the store is shut down")]
    Closed,
}

enum Command {
    Write(Write, oneshot::Sender<Result<StoredObject, CommitError>>),
    Compact(u64, oneshot::Sender<Result<(), CommitError>>),
}

pub(super) struct Handle {
    tx: Option<mpsc::Sender<Command>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Handle {
    /// Closes the queue and waits for the committer to finish what was queued and release the
    /// database file, so that the store can be reopened at once.
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Handle {
    pub(super) async fn submit(&self, write: Write) -> Result<StoredObject, CommitError> {
        let (tx, rx) = oneshot::channel();
        self.sender()?
            .send(Command::Write(write, tx))
            .map_err(|_| CommitError::Closed)?;
        rx.await.map_err(|_| CommitError::Closed)?
    }

    fn sender(&self) -> Result<&mpsc::Sender<Command>, CommitError> {
        self.tx.as_ref().ok_or(CommitError::Closed)
    }

    pub(super) async fn compact(&self, upto: u64) -> Result<(), CommitError> {
        let (tx, rx) = oneshot::channel();
        self.sender()?
            .send(Command::Compact(upto, tx))
            .map_err(|_| CommitError::Closed)?;
        rx.await.map_err(|_| CommitError::Closed)?
    }
}

/// Most writes folded into one durable transaction.
const MAX_BATCH: usize = 1024;

pub(super) fn spawn(
    db: Option<Database>,
    state: Arc<RwLock<State>>,
    revision_tx: tokio::sync::watch::Sender<u64>,
) -> Handle {
    let (tx, rx) = mpsc::channel::<Command>();
    let thread = std::thread::Builder::new()
        .name("fjord-store-committer".into())
        .spawn(move || run(db, state, revision_tx, rx))
        .expect("spawning the store committer thread");
    Handle {
        tx: Some(tx),
        thread: Some(thread),
    }
}

/// A write that passed its precondition, waiting for the batch to become durable.
struct Staged {
    event: Event,
    reply: oneshot::Sender<Result<StoredObject, CommitError>>,
}

fn run(
    db: Option<Database>,
    state: Arc<RwLock<State>>,
    revision_tx: tokio::sync::watch::Sender<u64>,
    rx: mpsc::Receiver<Command>,
) {
    while let Ok(first) = rx.recv() {
        let mut commands = vec![first];
        while commands.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(c) => commands.push(c),
                Err(_) => break,
            }
        }
        let mut writes = Vec::new();
        for command in commands {
            match command {
                Command::Write(w, reply) => writes.push((w, reply)),
                Command::Compact(upto, reply) => {
                    // Flush what is queued before so the compaction point is in order.
                    commit_batch(&db, &state, &revision_tx, std::mem::take(&mut writes));
                    let result = compact(&db, &state, upto);
                    let _ = reply.send(result);
                }
            }
        }
        commit_batch(&db, &state, &revision_tx, writes);
    }
}

fn commit_batch(
    db: &Option<Database>,
    state: &Arc<RwLock<State>>,
    revision_tx: &tokio::sync::watch::Sender<u64>,
    writes: Vec<(Write, oneshot::Sender<Result<StoredObject, CommitError>>)>,
) {
    if writes.is_empty() {
        return;
    }
    let mut staged: Vec<Staged> = Vec::with_capacity(writes.len());
    {
        let current = state.read().unwrap_or_else(|e| e.into_inner());
        let mut next_rev = current.rev;
        // Keys written earlier in this batch: later writes must see them.
        let mut overlay: HashMap<String, Option<StoredObject>> = HashMap::new();
        for (write, reply) in writes {
            let existing = match overlay.get(&write.key) {
                Some(v) => v.clone(),
                None => current.objects.get(&write.key).cloned(),
            };
            if let Err(e) = check(&write, existing.as_ref()) {
                let _ = reply.send(Err(e));
                continue;
            }
            next_rev += 1;
            let rev = next_rev;
            let (kind, object) = match write.mutation {
                Mutation::Put(mut value) => {
                    stamp_revision(&mut value, rev);
                    let kind = if existing.is_some() {
                        EventType::Modified
                    } else {
                        EventType::Added
                    };
                    (kind, Arc::new(value))
                }
                Mutation::Delete => {
                    let mut last = existing
                        .as_ref()
                        .map(|o| (*o.value).clone())
                        .unwrap_or(Value::Null);
                    stamp_revision(&mut last, rev);
                    (EventType::Deleted, Arc::new(last))
                }
            };
            overlay.insert(
                write.key.clone(),
                (kind != EventType::Deleted).then(|| StoredObject {
                    rev,
                    value: object.clone(),
                }),
            );
            staged.push(Staged {
                event: Event {
                    rev,
                    kind,
                    key: write.key,
                    object,
                    prev: existing.map(|o| o.value),
                },
                reply,
            });
        }
    }
    if staged.is_empty() {
        return;
    }
    if let Some(db) = db
        && let Err(e) = db.persist(staged.iter().map(|s| &s.event))
    {
        tracing::error!(error = %e, "persisting a batch of writes failed");
        for s in staged {
            let _ = s.reply.send(Err(CommitError::Persist(e.to_string())));
        }
        return;
    }
    let mut replies = Vec::with_capacity(staged.len());
    let new_rev;
    {
        let mut st = state.write().unwrap_or_else(|e| e.into_inner());
        for s in staged {
            let event = Arc::new(s.event);
            let stored = StoredObject {
                rev: event.rev,
                value: event.object.clone(),
            };
            match event.kind {
                EventType::Deleted => {
                    st.objects.remove(&event.key);
                }
                _ => {
                    st.objects.insert(event.key.clone(), stored.clone());
                }
            }
            st.rev = event.rev;
            st.log.push_back(event);
            replies.push((s.reply, stored));
        }
        new_rev = st.rev;
    }
    revision_tx.send_replace(new_rev);
    for (reply, stored) in replies {
        let _ = reply.send(Ok(stored));
    }
}

fn check(write: &Write, existing: Option<&StoredObject>) -> Result<(), CommitError> {
    match (write.precondition, existing) {
        (Precondition::MustNotExist, Some(_)) => Err(CommitError::AlreadyExists),
        (Precondition::MustNotExist, None) => match write.mutation {
            Mutation::Delete => Err(CommitError::NotFound),
            Mutation::Put(_) => Ok(()),
        },
        (Precondition::AtRevision(_), None) => Err(CommitError::NotFound),
        (Precondition::AtRevision(rev), Some(obj)) if obj.rev != rev => {
            Err(CommitError::Conflict { current: obj.rev })
        }
        (Precondition::AtRevision(_), Some(_)) => Ok(()),
    }
}

fn compact(
    db: &Option<Database>,
    state: &Arc<RwLock<State>>,
    upto: u64,
) -> Result<(), CommitError> {
    if let Some(db) = db {
        db.compact(upto)
            .map_err(|e| CommitError::Persist(e.to_string()))?;
    }
    let mut st = state.write().unwrap_or_else(|e| e.into_inner());
    while st.log.front().is_some_and(|e| e.rev <= upto) {
        st.log.pop_front();
    }
    st.compacted = st.compacted.max(upto);
    Ok(())
}
