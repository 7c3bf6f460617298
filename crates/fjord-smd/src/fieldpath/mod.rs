//! Field paths and field sets: what a manager owns, and the `fieldsV1` wire form.

mod element;
mod fields_v1;
mod set;

pub(crate) use element::path_string;
pub use element::{FieldPath, PathElement};
pub use fields_v1::FieldsV1Error;
pub use set::FieldSet;
