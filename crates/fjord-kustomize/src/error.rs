//! The one error type of the crate. Each variant names the build step that failed and carries
//! the file (and, where it applies, the field or object) so a user can find the problem.

use std::path::PathBuf;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory named by a kustomization could not be read.
    #[error("reading {path}: {source}")]
    ReadFile {
        /// The path that failed.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML.
    #[error("{path}: MalformedYAMLError: {message}")]
    ParseYaml {
        /// The file.
        path: PathBuf,
        /// Parser message with line.
        message: String,
    },
    /// A directory has no kustomization file.
    #[error(
        "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{}'",
        dir.display()
    )]
    MissingKustomization {
        /// The directory.
        dir: PathBuf,
    },
    /// A directory has more than one kustomization file.
    #[error("Found multiple kustomization files under: {}", dir.display())]
    MultipleKustomizations {
        /// The directory.
        dir: PathBuf,
    },
    /// A kustomization file has a field with a wrong shape or value.
    #[error("{}: invalid Kustomization: field '{field}': {message}", path.display())]
    InvalidKustomization {
        /// The kustomization file.
        path: PathBuf,
        /// The field, dotted (`patches[1].target`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A feature this implementation deliberately does not provide.
    #[error("{}: field '{field}': {message}", path.display())]
    Unsupported {
        /// The kustomization file.
        path: PathBuf,
        /// The field.
        field: String,
        /// Why.
        message: String,
    },
    /// An entry of `resources`, `components`, a patch or generator file names nothing that exists.
    #[error("{}: field '{field}': '{entry}' not found: no such file or directory", path.display())]
    NotFound {
        /// The kustomization file naming the entry.
        path: PathBuf,
        /// The field that names it.
        field: String,
        /// The entry as written.
        entry: String,
    },
    /// A file lies outside the kustomization root (kustomize's default load restrictor).
    #[error(
        "{}: field '{field}': security; file '{}' is not in or below '{}'",
        path.display(), file.display(), root.display()
    )]
    LoadRestriction {
        /// The kustomization file naming it.
        path: PathBuf,
        /// The field.
        field: String,
        /// The resolved file.
        file: PathBuf,
        /// The kustomization root.
        root: PathBuf,
    },
    /// Kustomizations refer to each other in a loop.
    #[error("{}: field '{field}': cycle detected: '{}' is already being built", path.display(), dir.display())]
    Cycle {
        /// The kustomization file with the entry that closes the loop.
        path: PathBuf,
        /// The field.
        field: String,
        /// The directory seen twice.
        dir: PathBuf,
    },
    /// Two resources have the same id.
    #[error("{}: field '{field}': '{entry}': may not add resource with an already registered id: {id}", path.display())]
    ConflictingId {
        /// The kustomization file.
        path: PathBuf,
        /// The field whose entry brought the second one.
        field: String,
        /// The entry as written.
        entry: String,
        /// The id, kustomize style (`Kind.version.group/name.namespace`).
        id: String,
    },
    /// A resource document lacks what every resource needs (kind, metadata.name).
    #[error("{}: invalid resource: {message}", path.display())]
    InvalidResource {
        /// The file.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
    /// A transformer, patch, generator, replacement or var failed.
    #[error("{}: field '{field}': {message}", path.display())]
    Transform {
        /// The kustomization file.
        path: PathBuf,
        /// The field of that file whose step failed.
        field: String,
        /// What went wrong, naming the object.
        message: String,
    },
}

/// Result with the crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
