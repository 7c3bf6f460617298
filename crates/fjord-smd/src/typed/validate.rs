//! Typing: does a value fit the schema? Errors carry the SMD path and wording
//! (`.spec.replicas: expected numeric (int or float), got string`) because the apiserver puts
//! them verbatim into its error responses.

use super::{Handle, check_item, handle, item_pe, pick};
use crate::fieldpath::{PathElement, path_string};
use crate::schema::ListType;
use crate::schema::{ScalarKind, Schema, TypeRef};
use crate::value::{go_json, go_type_name};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;

/// Typing errors, each with its path.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationErrors(pub Vec<(String, String)>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = |(path, msg): &(String, String)| {
            if path.is_empty() {
                msg.clone()
            } else {
                format!("{path}: {msg}")
            }
        };
        match self.0.as_slice() {
            [e] => f.write_str(&one(e)),
            es => {
                f.write_str("errors:")?;
                for e in es {
                    write!(f, "\n  {}", one(e))?;
                }
                Ok(())
            }
        }
    }
}

/// Checks `v` against type `ty`. `allow_duplicates` accepts repeated list keys (live objects).
pub(crate) fn validate(
    schema: &Schema,
    ty: TypeRef,
    v: &Value,
    allow_duplicates: bool,
) -> Result<(), ValidationErrors> {
    let mut w = Validator {
        schema,
        allow_duplicates,
        path: Vec::new(),
        errors: Vec::new(),
    };
    w.walk(ty, v);
    if w.errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(w.errors))
    }
}

/// A path step that borrows field names (materialised only for error messages).
enum Step<'s, 'v> {
    Field(&'v str),
    Item(&'s ListType, usize, &'v Value),
}

struct Validator<'s, 'v> {
    schema: &'s Schema,
    allow_duplicates: bool,
    path: Vec<Step<'s, 'v>>,
    errors: Vec<(String, String)>,
}

impl<'s, 'v> Validator<'s, 'v> {
    fn error(&mut self, msg: String) {
        let path: Vec<PathElement> = self
            .path
            .iter()
            .map(|s| match s {
                Step::Field(n) => PathElement::Field((*n).to_string()),
                Step::Item(l, i, item) => {
                    item_pe(l, *i, item).unwrap_or(PathElement::Index(*i as i64))
                }
            })
            .collect();
        self.errors.push((path_string(&path), msg));
    }

    fn walk(&mut self, ty: TypeRef, v: &'v Value) {
        let schema: &'s Schema = self.schema;
        let atom = schema.atom(ty);
        let Some(h) = handle(atom, pick(atom, Some(v))) else {
            return;
        };
        match h {
            Handle::Scalar(k) => self.scalar(k, v),
            Handle::List(l) => {
                let items = match v {
                    Value::Null => return,
                    Value::Array(items) => items,
                    other => return self.error(format!("expected list, got {}", go_json(other))),
                };
                let mut seen = BTreeSet::new();
                let check_duplicates = !l.atomic && !self.allow_duplicates;
                for (i, item) in items.iter().enumerate() {
                    if let Err(e) = check_item(l, item) {
                        // Without a name the rest of the list cannot be reported on.
                        self.error(format!("element {i}: {e}"));
                        return;
                    }
                    if check_duplicates && let Ok(pe) = item_pe(l, i, item) {
                        if seen.contains(&pe) {
                            self.error(format!("duplicate entries for key {pe}"));
                        } else {
                            seen.insert(pe);
                        }
                    }
                    self.path.push(Step::Item(l, i, item));
                    self.walk(l.elem, item);
                    self.path.pop();
                }
            }
            Handle::Map(m) => {
                let obj = match v {
                    Value::Null => return,
                    Value::Object(o) => o,
                    other => return self.error(format!("expected map, got {}", go_json(other))),
                };
                for (k, val) in obj {
                    self.path.push(Step::Field(k));
                    match m.child_type(k) {
                        Some(t) => self.walk(t, val),
                        None => self.error("field not declared in schema".into()),
                    }
                    self.path.pop();
                }
            }
        }
    }

    fn scalar(&mut self, k: ScalarKind, v: &Value) {
        let ok = matches!(
            (k, v),
            (_, Value::Null)
                | (ScalarKind::Numeric, Value::Number(_))
                | (ScalarKind::String, Value::String(_))
                | (ScalarKind::Boolean, Value::Bool(_))
                | (
                    ScalarKind::Untyped,
                    Value::Number(_) | Value::String(_) | Value::Bool(_)
                )
        );
        if ok {
            return;
        }
        let msg = match k {
            ScalarKind::Numeric => {
                format!("expected numeric (int or float), got {}", go_type_name(v))
            }
            ScalarKind::String => format!("expected string, got {}", go_json(v)),
            ScalarKind::Boolean => format!("expected boolean, got {}", go_json(v)),
            ScalarKind::Untyped => format!("expected any scalar, got {}", go_json(v)),
        };
        self.error(msg);
    }
}
