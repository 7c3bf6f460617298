//! YAML in and out. Parsing resolves scalars as kyaml (go-yaml v3) does; emitting reproduces
//! kustomize's output, which is go-yaml v2 applied to each resource's JSON form.

mod emit;
mod parse;
mod scalar;

pub use emit::{to_yaml, to_yaml_object};
pub use parse::{YamlError, parse_documents, parse_documents_with};
