//! Fjord's GitOps engine, as pure library modules.
//!
//! Data flows one way: `types` (the Argo CD Application) → `render` (desired objects from a
//! source tree) → `diff` (desired against live, on the fields Fjord manages) → `health`
//! (live object health). `resource` holds the keys and annotations every stage shares.
//! Nothing here talks to a cluster or a network; the controller wires these stages to kube.
#![warn(missing_docs)]

pub mod diff;
pub mod health;
pub mod render;
pub mod resource;
pub mod source;
pub mod types;
