//! `fjord-apiserver`: the embedded, Kubernetes-compatible control plane.
//!
//! One process serves the Kubernetes REST API over HTTPS (bearer token, generated CA) so that real
//! clients — kubectl, the Python client, kube-rs — use it as they would a cluster:
//!
//! ```text
//! request ─▶ http (auth, path → ResourceType, verb) ─▶ rest (admit, lifecycle, patch) ─▶ store
//!                                                        ▲                               │
//!                          registry (built-ins + CRDs) ──┘          watch ◀── revision log ┘
//! ```
//!
//! The store keeps every object in memory and on disk (redb), numbers every write with one global
//! revision, makes each batch durable before anyone sees it, and keeps a revision log for watches.
//! Entry point: [`start`] with a [`ServerConfig`].
#![warn(missing_docs)]

pub mod controllers;
pub mod defaults;
pub mod http;
pub mod immutable;
pub mod lifecycle;
pub mod object;
pub mod patch;
pub mod registry;
pub mod rest;
pub mod selector;
mod server;
pub mod store;
pub mod tls;

pub use controllers::ControllerOptions;
pub use server::{RunningServer, ServerConfig, StartError, start};
