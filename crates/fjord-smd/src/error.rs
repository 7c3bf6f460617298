//! Errors of an apply, shaped so the apiserver can answer with the exact Status body a
//! kube-apiserver sends: 409 with FieldManagerConflict causes, 400 for a wrong object type or
//! managedFields in the request, 500 for typing failures.

use crate::managed::{ManagerId, Operation};
use serde_json::{Value, json};

/// One conflicting field.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The manager that owns the field.
    pub manager: String,
    /// How that manager wrote it.
    pub operation: Operation,
    /// Its apiVersion (Update entries only).
    pub api_version: Option<String>,
    /// Its subresource, if any.
    pub subresource: Option<String>,
    /// The field path (`.spec.replicas`, `.spec.template.spec.containers[name="nginx"].args`).
    pub field: String,
    /// The cause message (`conflict with "alice"`, `conflict with "ctl" using apps/v1`).
    pub message: String,
}

/// All conflicts of a rejected apply, grouped by manager (sorted by manager identifier), paths
/// in field-set order.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflicts {
    /// The conflicts.
    pub conflicts: Vec<Conflict>,
    message: String,
}

impl Conflicts {
    pub(crate) fn from_sets(sets: &[(ManagerId, crate::fieldpath::FieldSet)]) -> Self {
        let mut sets: Vec<&(ManagerId, crate::fieldpath::FieldSet)> = sets.iter().collect();
        sets.sort_by(|a, b| a.0.cmp(&b.0));
        let mut conflicts = Vec::new();
        let mut lines = Vec::new();
        for (id, set) in sets {
            let who = id.describe();
            lines.push(format!("conflicts with {who}:"));
            set.for_each_path(&mut |p| {
                let field = crate::fieldpath::path_string(p);
                lines.push(format!("- {field}"));
                conflicts.push(Conflict {
                    manager: id.manager.clone(),
                    operation: id.operation,
                    api_version: (id.operation == Operation::Update)
                        .then(|| id.api_version.clone()),
                    subresource: (!id.subresource.is_empty()).then(|| id.subresource.clone()),
                    field,
                    message: format!("conflict with {who}"),
                });
            });
        }
        let message = match conflicts.as_slice() {
            [c] => format!("Apply failed with 1 conflict: {}: {}", c.message, c.field),
            cs => format!(
                "Apply failed with {} conflicts: {}",
                cs.len(),
                lines.join("\n")
            ),
        };
        Conflicts { conflicts, message }
    }

    /// The error message (`Apply failed with 1 conflict: conflict with "alice": .spec.replicas`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The 409 Status body.
    pub fn status(&self) -> Value {
        let causes: Vec<Value> = self
            .conflicts
            .iter()
            .map(|c| json!({"reason": "FieldManagerConflict", "message": c.message, "field": c.field}))
            .collect();
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": "Conflict",
            "details": {"causes": causes}, "code": 409
        })
    }
}

impl std::fmt::Display for Conflicts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Why an apply was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Other managers own fields the apply changes (409).
    #[error("{0}")]
    Conflicts(Conflicts),
    /// The request is malformed: wrong apiVersion/kind, managedFields present (400).
    #[error("{message}")]
    Invalid {
        /// The message.
        message: String,
    },
    /// The objects do not fit the schema, or managedFields cannot be decoded (500).
    #[error("{message}")]
    Failed {
        /// The message.
        message: String,
    },
}

impl ApplyError {
    /// HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApplyError::Conflicts(_) => 409,
            ApplyError::Invalid { .. } => 400,
            ApplyError::Failed { .. } => 500,
        }
    }

    /// The Status body a kube-apiserver returns.
    pub fn status(&self) -> Value {
        match self {
            ApplyError::Conflicts(c) => c.status(),
            ApplyError::Invalid { message } => json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": "BadRequest", "code": 400
            }),
            ApplyError::Failed { message } => json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "code": 500
            }),
        }
    }
}
