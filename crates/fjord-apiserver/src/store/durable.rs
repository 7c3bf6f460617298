//! On-disk persistence with redb: the latest version of every object, the revision log (for watch
//! resume after a restart) and two counters. Every batch is one transaction committed with
//! `Durability::Immediate` (fsync before the committer publishes or answers).
//!
//! Records are JSON: they are small, self-describing, and debuggable with any redb viewer.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::Value;

use super::{Event, EventType, OpenError, State, StoredObject};

/// key → (revision, object JSON)
const OBJECTS: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("objects");
/// revision → log record JSON (`{"t": "A"|"M"|"D", "k": key, "o": object}`)
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
/// "revision" and "compacted"
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

pub(super) struct Database {
    db: redb::Database,
}

const FILE_NAME: &str = "fjord-store.redb";

pub(super) fn open(dir: &Path) -> Result<(Database, State), OpenError> {
    let path = dir.join(FILE_NAME);
    let path_str = path.display().to_string();
    let db_err = |e: redb::Error| OpenError::Database {
        path: path_str.clone(),
        source: Box::new(e),
    };
    std::fs::create_dir_all(dir).map_err(|e| db_err(redb::Error::Io(e)))?;
    let db = redb::Database::create(&path).map_err(|e| db_err(e.into()))?;
    // Make sure the tables exist, so that reads of a fresh database work.
    {
        let tx = db.begin_write().map_err(|e| db_err(e.into()))?;
        tx.open_table(OBJECTS).map_err(|e| db_err(e.into()))?;
        tx.open_table(LOG).map_err(|e| db_err(e.into()))?;
        tx.open_table(META).map_err(|e| db_err(e.into()))?;
        tx.commit().map_err(|e| db_err(e.into()))?;
    }
    let mut state = State::default();
    let rx = db.begin_read().map_err(|e| db_err(e.into()))?;
    let meta = rx.open_table(META).map_err(|e| db_err(e.into()))?;
    state.rev = meta
        .get("revision")
        .map_err(|e| db_err(e.into()))?
        .map(|v| v.value())
        .unwrap_or(0);
    state.compacted = meta
        .get("compacted")
        .map_err(|e| db_err(e.into()))?
        .map(|v| v.value())
        .unwrap_or(0);
    let corrupt = |key: String, message: String| OpenError::Corrupt {
        path: path_str.clone(),
        key,
        message,
    };
    let objects = rx.open_table(OBJECTS).map_err(|e| db_err(e.into()))?;
    for item in objects.iter().map_err(|e| db_err(e.into()))? {
        let (k, v) = item.map_err(|e| db_err(e.into()))?;
        let (rev, bytes) = v.value();
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| corrupt(k.value().to_string(), e.to_string()))?;
        state.objects.insert(
            k.value().to_string(),
            StoredObject {
                rev,
                value: Arc::new(value),
            },
        );
    }
    let log = rx.open_table(LOG).map_err(|e| db_err(e.into()))?;
    // The previous version of each key, to give MODIFIED/DELETED events their `prev` again.
    let mut last_by_key: HashMap<String, Arc<Value>> = HashMap::new();
    for item in log.iter().map_err(|e| db_err(e.into()))? {
        let (rev, bytes) = item.map_err(|e| db_err(e.into()))?;
        let rev = rev.value();
        let record: LogRecord = serde_json::from_slice(bytes.value())
            .map_err(|e| corrupt(format!("log/{rev}"), e.to_string()))?;
        let object = Arc::new(record.o);
        let prev = last_by_key.insert(record.k.clone(), object.clone());
        state.log.push_back(Arc::new(Event {
            rev,
            kind: record.t.into(),
            key: record.k,
            object,
            prev,
        }));
    }
    Ok((Database { db }, state))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct LogRecord {
    t: Code,
    k: String,
    o: Value,
}

#[derive(serde::Serialize, serde::Deserialize, Clone, Copy)]
enum Code {
    A,
    M,
    D,
}

impl From<Code> for EventType {
    fn from(c: Code) -> Self {
        match c {
            Code::A => EventType::Added,
            Code::M => EventType::Modified,
            Code::D => EventType::Deleted,
        }
    }
}

impl From<EventType> for Code {
    fn from(t: EventType) -> Self {
        match t {
            EventType::Added => Code::A,
            EventType::Modified => Code::M,
            EventType::Deleted => Code::D,
        }
    }
}

impl Database {
    /// Writes a batch of events (already checked and numbered) in one durable transaction.
    pub(super) fn persist<'a>(
        &self,
        events: impl Iterator<Item = &'a Event>,
    ) -> Result<(), redb::Error> {
        let tx = self.db.begin_write()?;
        {
            let mut objects = tx.open_table(OBJECTS)?;
            let mut log = tx.open_table(LOG)?;
            let mut meta = tx.open_table(META)?;
            let mut last = None;
            for event in events {
                let record = serde_json::to_vec(&LogRecordRef {
                    t: event.kind.into(),
                    k: &event.key,
                    o: &event.object,
                })
                .map_err(|e| redb::Error::Io(std::io::Error::other(e)))?;
                log.insert(event.rev, record.as_slice())?;
                match event.kind {
                    EventType::Deleted => {
                        objects.remove(event.key.as_str())?;
                    }
                    _ => {
                        let bytes = serde_json::to_vec(&*event.object)
                            .map_err(|e| redb::Error::Io(std::io::Error::other(e)))?;
                        objects.insert(event.key.as_str(), (event.rev, bytes.as_slice()))?;
                    }
                }
                last = Some(event.rev);
            }
            if let Some(rev) = last {
                meta.insert("revision", rev)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes log records up to and including `upto`.
    pub(super) fn compact(&self, upto: u64) -> Result<(), redb::Error> {
        let tx = self.db.begin_write()?;
        {
            let mut log = tx.open_table(LOG)?;
            log.retain_in(..=upto, |_, _| false)?;
            let mut meta = tx.open_table(META)?;
            meta.insert("compacted", upto)?;
        }
        tx.commit()?;
        Ok(())
    }
}

#[derive(serde::Serialize)]
struct LogRecordRef<'a> {
    t: Code,
    k: &'a str,
    o: &'a Value,
}
