//! The store: every object of the control plane, one global revision, and the revision log that
//! watches resume from.
//!
//! Reads are served from memory (`State`, behind a read-write lock). Writes go through one committer
//! thread (see `committer`) that checks each write's precondition, assigns the next revision, makes a
//! whole batch durable with a single commit (group commit), and only then publishes it: a client sees a
//! write, through a read or a watch, only once it survives `kill -9`.
//!
//! Keys are `group/resource/namespace/name` (an empty namespace for cluster-scoped objects), so that
//! one resource type, or one namespace of it, is a contiguous range.

mod committer;
mod durable;

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, RwLock};

use serde_json::Value;

pub use committer::CommitError;

/// One stored object at the revision of its last write.
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// The revision of the object's last write (its `metadata.resourceVersion`).
    pub rev: u64,
    /// The object, with `metadata.resourceVersion` set to `rev`.
    pub value: Arc<Value>,
}

/// What a write did to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// The key did not exist before.
    Added,
    /// The key existed and was replaced.
    Modified,
    /// The key was removed; the event carries its last state at the deletion's revision.
    Deleted,
}

impl EventType {
    /// The watch event type name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One entry of the revision log.
#[derive(Debug)]
pub struct Event {
    /// The revision this write created.
    pub rev: u64,
    /// What happened.
    pub kind: EventType,
    /// The store key.
    pub key: String,
    /// The object after the write (for deletions: its last state, at `rev`).
    pub object: Arc<Value>,
    /// The object before the write, when known (needed to turn selector transitions into
    /// ADDED/DELETED for filtered watches).
    pub prev: Option<Arc<Value>>,
}

/// The condition under which a write may happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// The key must not exist (create).
    MustNotExist,
    /// The key must exist at exactly this revision (update after read, optimistic concurrency).
    AtRevision(u64),
}

/// A change to one key.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Store this object (its `metadata.resourceVersion` is set by the store).
    Put(Value),
    /// Remove the key.
    Delete,
}

/// A write request.
#[derive(Debug, Clone)]
pub struct Write {
    /// The store key.
    pub key: String,
    /// When the write may happen.
    pub precondition: Precondition,
    /// What to do.
    pub mutation: Mutation,
}

/// Store tuning.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Revisions always kept in the log, whatever compaction is asked for (kine keeps 1,000).
    pub min_retained_revisions: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            min_retained_revisions: 1000,
        }
    }
}

/// Errors opening the store.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database file could not be opened or created.
    #[error("opening the store database {path}: {source}")]
    Database {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: Box<redb::Error>,
    },
    /// A stored record could not be decoded.
    #[error("the store database {path} holds an unreadable record under {key}: {message}")]
    Corrupt {
        /// The file.
        path: String,
        /// The record's key.
        key: String,
        /// What was wrong.
        message: String,
    },
}

/// A watch asked for history the log no longer holds.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("too old resource version: {requested} ({compacted})")]
pub struct Compacted {
    /// The revision asked for.
    pub requested: u64,
    /// The oldest revision the log can resume from.
    pub compacted: u64,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, StoredObject>,
    rev: u64,
    /// Every event with `rev > compacted`, oldest first.
    log: VecDeque<Arc<Event>>,
    compacted: u64,
}

/// The object store. Cheap to share (`Arc<Store>`).
pub struct Store {
    state: Arc<RwLock<State>>,
    committer: committer::Handle,
    revision_tx: tokio::sync::watch::Sender<u64>,
    options: StoreOptions,
}

impl Store {
    /// Opens a durable store in `dir` (created if missing), or an in-memory one when `dir` is None.
    pub fn open(dir: Option<&Path>, options: StoreOptions) -> Result<Arc<Store>, OpenError> {
        let (db, state) = match dir {
            Some(dir) => {
                let (db, state) = durable::open(dir)?;
                (Some(db), state)
            }
            None => (None, State::default()),
        };
        let rev = state.rev;
        let state = Arc::new(RwLock::new(state));
        let (revision_tx, _) = tokio::sync::watch::channel(rev);
        let committer = committer::spawn(db, state.clone(), revision_tx.clone());
        Ok(Arc::new(Store {
            state,
            committer,
            revision_tx,
            options,
        }))
    }

    /// The newest revision.
    pub fn current_revision(&self) -> u64 {
        self.read().rev
    }

    /// The oldest revision a watch can still resume from.
    pub fn compacted_revision(&self) -> u64 {
        self.read().compacted
    }

    /// One object.
    pub fn get(&self, key: &str) -> Option<StoredObject> {
        self.read().objects.get(key).cloned()
    }

    /// Every object whose key starts with `prefix` after `after` (exclusive; for paging), at most
    /// `limit` of them, and the revision the list was read at. Returns whether more remain.
    pub fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: Option<usize>,
        mut keep: impl FnMut(&StoredObject) -> bool,
    ) -> (Vec<StoredObject>, u64, bool) {
        let state = self.read();
        let start = match after {
            Some(key) => std::ops::Bound::Excluded(key.to_string()),
            None => std::ops::Bound::Included(prefix.to_string()),
        };
        let mut out = Vec::new();
        let mut more = false;
        for (_, obj) in state
            .objects
            .range((start, std::ops::Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            if !keep(obj) {
                continue;
            }
            if limit.is_some_and(|l| out.len() >= l) {
                more = true;
                break;
            }
            out.push(obj.clone());
        }
        (out, state.rev, more)
    }

    /// Applies one write durably. Returns the stored object (for deletions: the last state at the
    /// deletion's revision).
    ///
    /// Guarantees: when this returns Ok, the write is on disk (for a durable store) and visible to
    /// reads and watches. Errors: a failed precondition returns the current object, if any; a
    /// persistence failure writes nothing.
    pub async fn write(&self, write: Write) -> Result<StoredObject, CommitError> {
        self.committer.submit(write).await
    }

    /// Events after `after` (exclusive) whose keys start with `prefix`, and the revision the log was
    /// read up to; or `Compacted` when the log no longer reaches back that far.
    pub fn events_after(
        &self,
        after: u64,
        prefix: &str,
    ) -> Result<(Vec<Arc<Event>>, u64), Compacted> {
        let state = self.read();
        if after < state.compacted {
            return Err(Compacted {
                requested: after,
                compacted: state.compacted,
            });
        }
        let start = state.log.partition_point(|e| e.rev <= after);
        let events = state
            .log
            .range(start..)
            .filter(|e| e.key.starts_with(prefix))
            .cloned()
            .collect();
        Ok((events, state.rev))
    }

    /// A receiver that changes whenever the revision moves.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.revision_tx.subscribe()
    }

    /// Drops log entries up to `upto` (clamped so the last `min_retained_revisions` stay).
    /// Returns the new compaction point.
    pub async fn compact(&self, upto: u64) -> Result<u64, CommitError> {
        let current = self.current_revision();
        let limit = current.saturating_sub(self.options.min_retained_revisions);
        let target = upto.min(limit);
        if target <= self.compacted_revision() {
            return Ok(self.compacted_revision());
        }
        self.committer.compact(target).await?;
        Ok(target)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A poisoned lock means a panic while publishing a batch; the state itself is still
        // consistent because publishing only appends.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// Sets `metadata.resourceVersion` on an object.
pub(crate) fn stamp_revision(value: &mut Value, rev: u64) {
    if let Some(obj) = value.as_object_mut() {
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("resourceVersion".into(), Value::String(rev.to_string()));
        }
    }
}

#[cfg(test)]
mod tests;
