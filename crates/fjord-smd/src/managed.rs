//! `metadata.managedFields` entries: identity (manager, operation, apiVersion for Update,
//! subresource), decoding with validation, encoding sorted as the apiserver sorts them, and
//! the cap that folds the oldest Update entries into `ancient-changes`.

use crate::fieldpath::FieldSet;
use crate::value::write_go_string;
use serde_json::{Map, Value, json};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

/// How a manager wrote its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write (create, update, patch).
    Update,
}

impl Operation {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// The identity of a managedFields entry. Apply entries are identified without their
/// apiVersion; ordering follows the apiserver's JSON-encoded identifier.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ManagerId {
    /// Field manager name.
    pub manager: String,
    /// Apply or Update.
    pub operation: Operation,
    /// The request's apiVersion (Update only; empty for Apply).
    pub api_version: String,
    /// Subresource (`status`, `scale`) or empty.
    pub subresource: String,
    id: String,
}

impl ManagerId {
    /// Builds an identity; `api_version` is dropped for Apply.
    pub fn new(manager: &str, operation: Operation, api_version: &str, subresource: &str) -> Self {
        let api_version = match operation {
            Operation::Apply => "",
            Operation::Update => api_version,
        };
        let mut id = String::from("{\"manager\":");
        write_go_string(manager, &mut id);
        id.push_str(",\"operation\":\"");
        id.push_str(operation.as_str());
        id.push('"');
        if !api_version.is_empty() {
            id.push_str(",\"apiVersion\":");
            write_go_string(api_version, &mut id);
        }
        if !subresource.is_empty() {
            id.push_str(",\"subresource\":");
            write_go_string(subresource, &mut id);
        }
        id.push('}');
        ManagerId {
            manager: manager.to_string(),
            operation,
            api_version: api_version.to_string(),
            subresource: subresource.to_string(),
            id,
        }
    }

    /// The apiserver's identifier string (JSON of the identifying fields).
    pub fn identifier(&self) -> &str {
        &self.id
    }

    /// How conflict messages name the manager: `"alice"`, `"ctl" using apps/v1`,
    /// `"x" with subresource "status"`.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        write_go_string(&self.manager, &mut s);
        if !self.subresource.is_empty() {
            s.push_str(" with subresource ");
            write_go_string(&self.subresource, &mut s);
        }
        if self.operation == Operation::Update {
            s.push_str(" using ");
            s.push_str(&self.api_version);
        }
        s
    }
}

impl Ord for ManagerId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.id.cmp(&other.id)
    }
}

impl PartialOrd for ManagerId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One manager's fields at an apiVersion.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct VersionedSet {
    pub set: FieldSet,
    pub api_version: String,
    pub applied: bool,
}

/// Decoded managedFields: sets and times per manager.
#[derive(Clone, Debug, Default)]
pub(crate) struct Managed {
    pub fields: BTreeMap<ManagerId, VersionedSet>,
    pub times: HashMap<ManagerId, String>,
}

/// True for `[{}]` (every entry empty): the request asks to clear managedFields.
pub(crate) fn is_reset(list: &Value) -> bool {
    match list.as_array() {
        Some(items) if !items.is_empty() => items
            .iter()
            .all(|e| e.as_object().is_some_and(Map::is_empty)),
        _ => false,
    }
}

/// Why a `metadata.managedFields` list could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("managedFields entry {index}: {reason}")]
pub struct ManagedFieldsError {
    /// Position of the bad entry.
    pub index: usize,
    /// What was wrong with it.
    pub reason: String,
}

/// One decoded `metadata.managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedFieldsEntry {
    /// Identity (manager, operation, apiVersion for Update, subresource).
    pub id: ManagerId,
    /// The entry's apiVersion (also set for Apply entries).
    pub api_version: String,
    /// RFC 3339 time, when recorded.
    pub time: Option<String>,
    /// The owned fields.
    pub fields: FieldSet,
}

/// Decodes and validates every entry of a `metadata.managedFields` list (null = no entries),
/// as the apiserver does before using them.
pub fn decode_entries(list: &Value) -> Result<Vec<ManagedFieldsEntry>, ManagedFieldsError> {
    let Some(items) = list.as_array() else {
        return if list.is_null() {
            Ok(Vec::new())
        } else {
            Err(ManagedFieldsError {
                index: 0,
                reason: "managedFields must be a list".into(),
            })
        };
    };
    let mut out = Vec::with_capacity(items.len());
    for (index, e) in items.iter().enumerate() {
        let fail = |reason: String| ManagedFieldsError { index, reason };
        let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
        let operation = match s("operation") {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return Err(fail("operation must be `Apply` or `Update`".into())),
        };
        if s("apiVersion").is_empty() {
            return Err(fail("apiVersion must not be empty".into()));
        }
        match s("fieldsType") {
            "FieldsV1" => {}
            "" => return Err(fail("missing fieldsType".into())),
            other => return Err(fail(format!("invalid fieldsType {other:?}"))),
        }
        let fields = match e.get("fieldsV1") {
            Some(v) => FieldSet::from_fields_v1(v).map_err(|err| fail(err.to_string()))?,
            None => FieldSet::new(),
        };
        out.push(ManagedFieldsEntry {
            id: ManagerId::new(s("manager"), operation, s("apiVersion"), s("subresource")),
            api_version: s("apiVersion").to_string(),
            time: e.get("time").and_then(Value::as_str).map(String::from),
            fields,
        });
    }
    Ok(out)
}

/// Decodes a `metadata.managedFields` list into sets and times per manager.
pub(crate) fn decode(list: &Value) -> Result<Managed, ManagedFieldsError> {
    let mut managed = Managed::default();
    for e in decode_entries(list)? {
        if let Some(t) = e.time {
            managed.times.insert(e.id.clone(), t);
        }
        let applied = e.id.operation == Operation::Apply;
        managed.fields.insert(
            e.id,
            VersionedSet {
                set: e.fields,
                api_version: e.api_version,
                applied,
            },
        );
    }
    Ok(managed)
}

/// Seconds since the epoch of an RFC 3339 timestamp (0 when absent or unparsable).
pub(crate) fn unix_seconds(t: Option<&str>) -> i64 {
    t.and_then(parse_rfc3339).unwrap_or(0)
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' => 0,
        b'+' | b'-' => {
            let sign = if b[i] == b'-' { -1 } else { 1 };
            sign * (num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60)
        }
        _ => return None,
    };
    // Days from civil (proleptic Gregorian).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

/// Encodes entries sorted like the apiserver: operation, time, manager, apiVersion,
/// subresource.
pub(crate) fn encode(managed: &Managed) -> Vec<Value> {
    let mut entries: Vec<(&ManagerId, &VersionedSet, Option<&String>)> = managed
        .fields
        .iter()
        .map(|(id, vs)| (id, vs, managed.times.get(id)))
        .collect();
    entries.sort_by(|a, b| {
        a.0.operation
            .as_str()
            .cmp(b.0.operation.as_str())
            .then_with(|| {
                unix_seconds(a.2.map(String::as_str)).cmp(&unix_seconds(b.2.map(String::as_str)))
            })
            .then_with(|| a.0.manager.cmp(&b.0.manager))
            .then_with(|| a.1.api_version.cmp(&b.1.api_version))
            .then_with(|| a.0.subresource.cmp(&b.0.subresource))
    });
    entries
        .into_iter()
        .map(|(id, vs, time)| {
            let mut e = Map::new();
            e.insert("manager".into(), json!(id.manager));
            e.insert("operation".into(), json!(id.operation.as_str()));
            e.insert("apiVersion".into(), json!(vs.api_version));
            if let Some(t) = time {
                e.insert("time".into(), json!(t));
            }
            e.insert("fieldsType".into(), json!("FieldsV1"));
            e.insert("fieldsV1".into(), vs.set.to_fields_v1());
            if !id.subresource.is_empty() {
                e.insert("subresource".into(), json!(id.subresource));
            }
            Value::Object(e)
        })
        .collect()
}

/// Name of the entry the oldest Update entries are folded into.
pub(crate) const ANCIENT_CHANGES: &str = "ancient-changes";
/// Update entries kept before folding.
pub(crate) const MAX_UPDATE_MANAGERS: usize = 10;

/// Folds the oldest Update entries into `ancient-changes` (per apiVersion) until at most
/// [`MAX_UPDATE_MANAGERS`] remain, exactly as the apiserver's cap does: entries are taken
/// oldest first; the first one of each apiVersion is remembered, and from the second one on
/// each is merged into that version's bucket (created by renaming the remembered one); the
/// bucket takes the time of the entry merged last.
pub(crate) fn cap_update_managers(managed: &mut Managed) {
    let mut updaters: Vec<ManagerId> = managed
        .fields
        .iter()
        .filter(|(_, vs)| !vs.applied)
        .map(|(id, _)| id.clone())
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort_by(|a, b| {
        let ta = unix_seconds(managed.times.get(a).map(String::as_str));
        let tb = unix_seconds(managed.times.get(b).map(String::as_str));
        ta.cmp(&tb).then_with(|| a.cmp(b))
    });
    let mut first_of_version: HashMap<String, ManagerId> = HashMap::new();
    let mut length = updaters.len();
    for id in updaters {
        if length <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(vs) = managed.fields.get(&id).cloned() else {
            continue;
        };
        let time = managed.times.get(&id).cloned();
        let bucket = ManagerId::new(ANCIENT_CHANGES, Operation::Update, &vs.api_version, "");
        let Some(first) = first_of_version.get(&vs.api_version) else {
            first_of_version.insert(vs.api_version.clone(), id);
            continue;
        };
        if !managed.fields.contains_key(&bucket)
            && let Some(s) = managed.fields.remove(first)
        {
            managed.fields.insert(bucket.clone(), s);
        }
        let merged = match managed.fields.get(&bucket) {
            Some(b) => vs.set.union(&b.set),
            None => vs.set.clone(),
        };
        managed.fields.insert(
            bucket.clone(),
            VersionedSet {
                set: merged,
                api_version: vs.api_version.clone(),
                applied: false,
            },
        );
        managed.fields.remove(&id);
        length -= 1;
        match time {
            Some(t) => managed.times.insert(bucket, t),
            None => managed.times.remove(&bucket),
        };
    }
}

/// Two managedFields lists hold the same entries, ignoring times and order (did ownership
/// change?).
pub(crate) fn same_entries(a: Option<&Value>, b: Option<&Value>) -> bool {
    let empty = Vec::new();
    let a = a.and_then(Value::as_array).unwrap_or(&empty);
    let b = b.and_then(Value::as_array).unwrap_or(&empty);
    fn key(e: &Value) -> [&str; 5] {
        [
            "manager",
            "operation",
            "apiVersion",
            "subresource",
            "fieldsType",
        ]
        .map(|k| e.get(k).and_then(Value::as_str).unwrap_or(""))
    }
    a.len() == b.len()
        && a.iter().all(|x| {
            b.iter()
                .any(|y| key(x) == key(y) && x.get("fieldsV1") == y.get("fieldsV1"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339() {
        assert_eq!(unix_seconds(Some("1970-01-01T00:00:00Z")), 0);
        assert_eq!(unix_seconds(Some("2026-01-01T00:00:05Z")), 1_767_225_605);
        assert_eq!(
            unix_seconds(Some("2026-01-01T01:00:05+01:00")),
            1_767_225_605
        );
        assert_eq!(unix_seconds(Some("garbage")), 0);
    }

    #[test]
    fn identifier_matches_apiserver_json() {
        let id = ManagerId::new("ctl", Operation::Update, "apps/v1", "status");
        assert_eq!(
            id.identifier(),
            r#"{"manager":"ctl","operation":"Update","apiVersion":"apps/v1","subresource":"status"}"#
        );
        assert_eq!(
            id.describe(),
            r#""ctl" with subresource "status" using apps/v1"#
        );
        let a = ManagerId::new("alice", Operation::Apply, "apps/v1", "");
        assert_eq!(a.api_version, "");
    }
}
