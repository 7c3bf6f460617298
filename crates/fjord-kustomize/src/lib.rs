//! Native `kustomize build`, producing the same YAML stream as `kubectl kustomize` (kustomize
//! v5.5). It reads files only through a [`FileSource`], so the engine renders straight from a
//! Git tree in memory; [`DiskSource`] reads the local disk. The default load restrictor applies:
//! no file outside its kustomization root, no symlink escape.
//!
//! Flow: [`build`] loads the kustomization, accumulates resources (files, directories, nested
//! kustomizations, components), runs generators and transformers per level, then at the top
//! adds generator hash suffixes, fixes name references, expands vars and sorts. The
//! [`ResourceList`] prints as YAML ([`ResourceList::to_yaml_string`]) or hands out JSON values.
//!
//! ```no_run
//! use fjord_kustomize::{build, BuildOptions, DiskSource};
//! let out = build(&DiskSource, "k8s/overlays/production".as_ref(), &BuildOptions::default())?;
//! print!("{}", out.to_yaml_string());
//! # Ok::<(), fjord_kustomize::Error>(())
//! ```
#![warn(missing_docs)]

mod build;
mod error;
mod fieldspec;
mod generate;
mod kustomization;
mod metadata;
mod nameref;
mod order;
mod patch;
mod plugins;
mod replacements;
mod resource;
mod source;
mod transform;
mod vars;
mod yaml;

pub use build::{BuildOptions, LoadRestrictor, ResourceList, build};
pub use error::{Error, Result};
pub use source::{DiskSource, FileSource, MemorySource};
pub use yaml::{YamlError, parse_documents, to_yaml};
