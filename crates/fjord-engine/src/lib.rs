//! Fjord's GitOps engine: the pure stages between a Git commit and an Application status.
//!
//! ```text
//! source (git: shared bare clone, ls-remote check, commit trees)      credentials
//!   └─▶ render (SourceTree → Renderer: directory | kustomize | helm) ─▶ desired objects
//!         └─▶ resource::prepare_desired (namespace, tracking id)
//!               └─▶ diff (desired vs live, on fields desired sets or `fjord` owns)
//! live ─▶ health (Argo CD's rules per kind, worst-of aggregation)
//! types: Argo CD's Application / AppProject and their status shape
//! ```
//!
//! Stages take and return data (`serde_json::Value` objects keyed by
//! [`resource::ResourceKey`]); nothing here talks to the Kubernetes API. The controller
//! wires them to kube-rs, and runs the blocking ones (`source`, rendering) off the async
//! runtime.
#![warn(missing_docs)]

pub mod audit;
pub mod controller;
pub mod diff;
pub mod health;
pub mod metrics;
pub mod plan;
pub mod render;
pub mod resource;
pub mod rollback;
pub mod source;
pub mod status;
pub mod sync_options;
pub mod types;

/// The README's example, compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
