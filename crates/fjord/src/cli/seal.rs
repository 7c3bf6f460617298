//! `fjord seal`: kubeseal's command line (same flags, same `SEALED_SECRETS_*` environment
//! variables, same output) over the `fjord-sealed` library. The arguments are validated into a
//! [`Mode`] before any I/O.
//!
//! The controller is reached through the Kubernetes API server's service proxy, as kubeseal
//! does by default (`--kubeconfig`, `--context`, `--controller-namespace`, `--controller-name`),
//! or at `--controller-url` (a Fjord addition: a direct base URL, e.g. after
//! `kubectl port-forward`).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, ValueEnum};
use controller::{Controller, http_get};
use fjord_sealed::k8s_openapi::api::core::v1::Secret;
mod controller;

use fjord_sealed::{Format, KeyRing, Scope, SealedSecret, SealingCert, UnsealOptions};

/// Arguments of `fjord seal` (kubeseal's flags).
#[derive(Debug, Args)]
pub struct SealArgs {
    /// Certificate to seal with: a PEM file, or an http(s):// or file:// URL. Without it the
    /// certificate is fetched from the controller.
    #[arg(long, env = "SEALED_SECRETS_CERT", value_name = "FILE|URL")]
    cert: Option<String>,
    /// Print the controller's current certificate and exit.
    #[arg(long)]
    fetch_cert: bool,
    /// Namespace of the controller (for the API server's service proxy).
    #[arg(
        long,
        env = "SEALED_SECRETS_CONTROLLER_NAMESPACE",
        default_value = "kube-system"
    )]
    controller_namespace: String,
    /// Name of the controller's Service (for the API server's service proxy).
    #[arg(
        long,
        env = "SEALED_SECRETS_CONTROLLER_NAME",
        default_value = "sealed-secrets-controller"
    )]
    controller_name: String,
    /// Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
    /// Base URL of the controller's HTTP endpoints (e.g. http://127.0.0.1:8080), used instead
    /// of the API server's service proxy.
    #[arg(long, env = "SEALED_SECRETS_CONTROLLER_URL", value_name = "URL")]
    controller_url: Option<String>,
    /// Output format (default json; a --sealed-secret-file ending in .yaml/.yml means yaml).
    #[arg(short = 'o', long, env = "SEALED_SECRETS_FORMAT", value_enum)]
    format: Option<OutputFormat>,
    /// Read the input from this file instead of stdin.
    #[arg(short = 'f', long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
    /// Write the output to this file (atomically) instead of stdout.
    #[arg(short = 'w', long, value_name = "FILE")]
    sealed_secret_file: Option<PathBuf>,
    /// Sealing scope; a non-strict value overrides the input Secret's scope annotations.
    #[arg(long, env = "SEALED_SECRETS_SCOPE", default_value = "strict")]
    scope: Scope,
    /// Name: for --raw the name of the strict scope; otherwise overrides the Secret's name.
    #[arg(long)]
    name: Option<String>,
    /// Namespace for Secrets that have none (and for --raw).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Seal one value (stdin or --from-file) and print only its base64 ciphertext.
    #[arg(long)]
    raw: bool,
    /// With --raw: the value's file (exactly one). Without --raw (a Fjord addition, like
    /// `kubectl create secret generic --from-file`): build the Secret from these files, named by
    /// --name in --namespace; the key defaults to the file name. Repeatable.
    #[arg(long, value_name = "[KEY=]PATH")]
    from_file: Vec<String>,
    /// Seal the input into this existing SealedSecret file, in place.
    #[arg(long, value_name = "FILE")]
    merge_into: Option<PathBuf>,
    /// Have the controller re-encrypt the input SealedSecrets with its newest key.
    #[arg(long, alias = "rotate")]
    re_encrypt: bool,
    /// Ask the controller whether the input SealedSecrets can be unsealed.
    #[arg(long)]
    validate: bool,
    /// Unseal the input SealedSecrets offline with --recovery-private-key and print the Secrets.
    #[arg(long)]
    recovery_unseal: bool,
    /// Private key file(s) for --recovery-unseal: PEM, a key Secret or a List backup.
    #[arg(long, value_delimiter = ',', value_name = "FILE")]
    recovery_private_key: Vec<PathBuf>,
    /// Allow sealing a Secret without data or stringData.
    #[arg(long)]
    allow_empty_data: bool,
}

/// `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Json,
    Yaml,
}

/// What the arguments ask for, after validation.
#[derive(Debug)]
enum Mode {
    FetchCert,
    Validate,
    ReEncrypt,
    RecoveryUnseal(Vec<PathBuf>),
    Raw(Option<PathBuf>),
    MergeInto(PathBuf),
    /// Seal a Secret built from files (key, path).
    FromFiles(Vec<(String, PathBuf)>),
    Seal,
}

/// kubectl's `[key=]path`; the key defaults to the file name.
fn file_source(spec: &str) -> Result<(String, PathBuf)> {
    let (key, path) = match spec.split_once('=') {
        Some((key, path)) => (key.to_string(), PathBuf::from(path)),
        None => {
            let path = PathBuf::from(spec);
            let key = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| anyhow!("--from-file {spec}: give it as key=path"))?
                .to_string();
            (key, path)
        }
    };
    if key.is_empty() {
        bail!("--from-file {spec}: the key is empty");
    }
    Ok((key, path))
}

impl SealArgs {
    fn mode(&self) -> Result<Mode> {
        let chosen = [
            (self.fetch_cert, "--fetch-cert"),
            (self.validate, "--validate"),
            (self.re_encrypt, "--re-encrypt"),
            (self.recovery_unseal, "--recovery-unseal"),
            (self.raw, "--raw"),
            (self.merge_into.is_some(), "--merge-into"),
        ];
        let on: Vec<&str> = chosen.iter().filter(|(b, _)| *b).map(|(_, n)| *n).collect();
        if on.len() > 1 {
            bail!("{} cannot be used together: pick one", on.join(" and "));
        }
        if let Some(other) = on.first().filter(|m| **m != "--raw")
            && !self.from_file.is_empty()
        {
            bail!("--from-file is used with --raw or to seal a new Secret, not with {other}");
        }
        if !self.recovery_private_key.is_empty() && !self.recovery_unseal {
            bail!("--recovery-private-key is only used with --recovery-unseal");
        }
        Ok(match on.first().copied() {
            Some("--fetch-cert") => Mode::FetchCert,
            Some("--validate") => Mode::Validate,
            Some("--re-encrypt") => Mode::ReEncrypt,
            Some("--recovery-unseal") => {
                if self.recovery_private_key.is_empty() {
                    bail!("--recovery-unseal needs at least one --recovery-private-key FILE");
                }
                Mode::RecoveryUnseal(self.recovery_private_key.clone())
            }
            Some("--raw") => {
                if self.from_file.len() > 1 {
                    bail!(
                        "--raw takes exactly one --from-file (got {})",
                        self.from_file.len()
                    );
                }
                let path = self.from_file.first().map(|spec| {
                    // kubectl's [key=]path: the key is irrelevant for a single raw value.
                    PathBuf::from(spec.split_once('=').map_or(spec.as_str(), |(_, p)| p))
                });
                Mode::Raw(path)
            }
            Some("--merge-into") => Mode::MergeInto(self.merge_into.clone().unwrap_or_default()),
            _ if !self.from_file.is_empty() => Mode::FromFiles(
                self.from_file
                    .iter()
                    .map(|spec| file_source(spec))
                    .collect::<Result<_>>()?,
            ),
            _ => Mode::Seal,
        })
    }

    /// The explicit scope: kubeseal treats the default (strict) as "let the input decide".
    fn forced_scope(&self) -> Option<Scope> {
        (self.scope != Scope::Strict).then_some(self.scope)
    }

    fn output_format(&self) -> Format {
        let by_extension = self
            .sealed_secret_file
            .as_deref()
            .and_then(Path::extension)
            .is_some_and(|e| e == "yaml" || e == "yml");
        match self.format {
            _ if by_extension => Format::Yaml,
            Some(OutputFormat::Yaml) => Format::Yaml,
            _ => Format::Json,
        }
    }

    fn controller(&self) -> Controller {
        match &self.controller_url {
            Some(url) => Controller::Url(url.trim_end_matches('/').to_string()),
            None => Controller::ServiceProxy {
                namespace: self.controller_namespace.clone(),
                name: self.controller_name.clone(),
                kubeconfig: self.kubeconfig.clone(),
                context: self.context.clone(),
            },
        }
    }
}

/// Run `fjord seal`.
pub fn run(args: SealArgs) -> Result<()> {
    match args.mode()? {
        Mode::FetchCert => {
            let (pem, origin) = certificate_pem(&args)?;
            // Parse it, so a broken answer is reported instead of printed.
            SealingCert::from_pem(&pem, &origin)?;
            write_output(&args, &pem)
        }
        Mode::Validate => validate(&args),
        Mode::ReEncrypt => re_encrypt(&args),
        Mode::RecoveryUnseal(key_files) => recovery_unseal(&args, &key_files),
        Mode::Raw(from_file) => {
            let value = match from_file {
                Some(path) => std::fs::read(&path)
                    .with_context(|| format!("reading --from-file {}", path.display()))?,
                None => read_stdin()?,
            };
            let cert = sealing_cert(&args)?;
            let sealed = fjord_sealed::seal_raw(
                &value,
                &cert,
                args.scope,
                args.namespace.as_deref(),
                args.name.as_deref(),
            )?;
            write_output(&args, sealed.as_bytes())
        }
        Mode::MergeInto(target) => merge_into(&args, &target),
        Mode::FromFiles(sources) => seal_files(&args, &sources),
        Mode::Seal => seal(&args),
    }
}

fn seal_files(args: &SealArgs, sources: &[(String, PathBuf)]) -> Result<()> {
    let Some(name) = args.name.clone() else {
        bail!("sealing --from-file needs --name (and --namespace unless cluster-wide)");
    };
    let mut data = std::collections::BTreeMap::new();
    for (key, path) in sources {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading --from-file {}", path.display()))?;
        if data
            .insert(key.clone(), fjord_sealed::k8s_openapi::ByteString(bytes))
            .is_some()
        {
            bail!("--from-file: the key {key:?} is given twice");
        }
    }
    let mut secret = Secret::default();
    secret.metadata.name = Some(name);
    secret.metadata.namespace = args.namespace.clone();
    secret.type_ = Some("Opaque".into());
    secret.data = Some(data);
    let cert = sealing_cert(args)?;
    let sealed = fjord_sealed::seal_secret(&secret, &cert, args.forced_scope())?;
    write_output(
        args,
        fjord_sealed::render(&sealed, args.output_format())?.as_bytes(),
    )
}

fn seal(args: &SealArgs) -> Result<()> {
    let (text, origin) = read_input(args)?;
    let secrets = parse_secrets(&text, &origin, args)?;
    let cert = sealing_cert(args)?;
    let format = args.output_format();
    let mut out = String::new();
    for secret in &secrets {
        let sealed = fjord_sealed::seal_secret(secret, &cert, args.forced_scope())?;
        out.push_str(&fjord_sealed::render(&sealed, format)?);
    }
    write_output(args, out.as_bytes())
}

fn merge_into(args: &SealArgs, target: &Path) -> Result<()> {
    let existing_text = std::fs::read_to_string(target)
        .with_context(|| format!("reading --merge-into file {}", target.display()))?;
    let origin = target.display().to_string();
    let mut all = SealedSecret::parse_all(&existing_text, &origin)?;
    if all.len() != 1 {
        bail!(
            "{origin} holds {} SealedSecrets; --merge-into needs exactly one",
            all.len()
        );
    }
    let mut existing = all.remove(0);
    if let Some(forced) = args.forced_scope() {
        let file_scope = Scope::from_annotations(existing.metadata.annotations.as_ref());
        if forced != file_scope {
            bail!(
                "--scope {forced} differs from the {file_scope} scope of {origin}: every item of \
                 a SealedSecret must share its scope; drop --scope or re-seal the whole file"
            );
        }
    }
    let (text, input_origin) = read_input(args)?;
    let secrets = parse_secrets(&text, &input_origin, args)?;
    let cert = sealing_cert(args)?;
    for secret in &secrets {
        fjord_sealed::merge_into(&mut existing, secret, &cert)?;
    }
    // Keep the file's own format unless --format says otherwise.
    let format = match args.format {
        Some(OutputFormat::Json) => Format::Json,
        Some(OutputFormat::Yaml) => Format::Yaml,
        None if existing_text.trim_start().starts_with('{') => Format::Json,
        None => Format::Yaml,
    };
    write_atomically(target, fjord_sealed::render(&existing, format)?.as_bytes())
}

fn recovery_unseal(args: &SealArgs, key_files: &[PathBuf]) -> Result<()> {
    let mut ring = KeyRing::new();
    for path in key_files {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading --recovery-private-key {}", path.display()))?;
        for key in fjord_sealed::private_keys_from_backup(&bytes, &path.display().to_string())? {
            ring.insert_private_key(key);
        }
    }
    let (text, origin) = read_input(args)?;
    let format = args.output_format();
    let options = UnsealOptions {
        accept_legacy_data: false,
    };
    let mut out = String::new();
    for sealed in SealedSecret::parse_all(&text, &origin)? {
        let secret = fjord_sealed::unseal_with(&sealed, &ring, &options)?;
        out.push_str(&fjord_sealed::render(&secret, format)?);
    }
    write_output(args, out.as_bytes())
}

fn validate(args: &SealArgs) -> Result<()> {
    let (text, origin) = read_input(args)?;
    let controller = args.controller();
    for sealed in SealedSecret::parse_all(&text, &origin)? {
        let body = serde_json::to_vec(&sealed)?;
        let (status, _) = controller.post("/v1/verify", &body)?;
        match status {
            200 => {}
            409 => bail!("unable to decrypt sealed secret: {}", sealed.object_ref()),
            other => bail!(
                "the controller answered HTTP {other} to /v1/verify for {}",
                sealed.object_ref()
            ),
        }
    }
    Ok(())
}

fn re_encrypt(args: &SealArgs) -> Result<()> {
    let (text, origin) = read_input(args)?;
    let controller = args.controller();
    let format = args.output_format();
    let mut out = String::new();
    for sealed in SealedSecret::parse_all(&text, &origin)? {
        let body = serde_json::to_vec(&sealed)?;
        let (status, answer) = controller.post("/v1/rotate", &body)?;
        if status != 200 {
            bail!(
                "the controller could not re-encrypt {} (HTTP {status}): {}",
                sealed.object_ref(),
                String::from_utf8_lossy(&answer).trim()
            );
        }
        let mut rotated: SealedSecret = serde_json::from_slice(&answer)
            .context("the controller's /v1/rotate answer is not a SealedSecret")?;
        rotated.metadata.creation_timestamp = None;
        rotated.metadata.generation = None;
        out.push_str(&fjord_sealed::render(&rotated, format)?);
    }
    match (&args.secret_file, &args.sealed_secret_file) {
        (Some(input), None) => write_atomically(input, out.as_bytes()),
        _ => write_output(args, out.as_bytes()),
    }
}

fn parse_secrets(text: &str, origin: &str, args: &SealArgs) -> Result<Vec<Secret>> {
    let docs = fjord_sealed::parse_documents(text, origin)?;
    if docs.is_empty() {
        bail!("{origin} holds no Secret to seal");
    }
    let mut secrets = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        let kind = doc.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        if kind != "Secret" {
            bail!("{origin}: document {} is a {kind:?}, not a Secret", i + 1);
        }
        let mut secret: Secret = fjord_sealed::from_document(doc, origin, "Secret")?;
        if let Some(name) = &args.name {
            secret.metadata.name = Some(name.clone());
        }
        match (&secret.metadata.namespace, &args.namespace) {
            (Some(own), Some(flag)) if !own.is_empty() && own != flag => bail!(
                "Secret {} is in namespace {own:?} but --namespace says {flag:?}: drop one",
                fjord_sealed::object_ref(&secret.metadata)
            ),
            (None, Some(flag)) => secret.metadata.namespace = Some(flag.clone()),
            (Some(own), Some(flag)) if own.is_empty() => {
                secret.metadata.namespace = Some(flag.clone())
            }
            _ => {}
        }
        let empty = secret.data.as_ref().is_none_or(|d| d.is_empty())
            && secret.string_data.as_ref().is_none_or(|d| d.is_empty());
        if empty && !args.allow_empty_data {
            bail!(
                "Secret {} has no data or stringData: add some, or pass --allow-empty-data",
                fjord_sealed::object_ref(&secret.metadata)
            );
        }
        secrets.push(secret);
    }
    Ok(secrets)
}

/// The sealing certificate, refused when expired.
fn sealing_cert(args: &SealArgs) -> Result<SealingCert> {
    let (pem, origin) = certificate_pem(args)?;
    let cert = SealingCert::from_pem(&pem, &origin)?;
    cert.check_not_expired(SystemTime::now())?;
    Ok(cert)
}

/// PEM bytes of the certificate and where they came from.
fn certificate_pem(args: &SealArgs) -> Result<(Vec<u8>, String)> {
    match args.cert.as_deref() {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            let (status, body) = http_get(url)?;
            if status != 200 {
                bail!("fetching the certificate from {url}: HTTP {status}");
            }
            Ok((body, url.to_string()))
        }
        Some(spec) => {
            let path = spec.strip_prefix("file://").unwrap_or(spec);
            let pem = std::fs::read(path).with_context(|| format!("reading --cert {path}"))?;
            Ok((pem, path.to_string()))
        }
        None => {
            let controller = args.controller();
            let pem = controller.get("/v1/cert.pem")?;
            Ok((pem, controller.describe("/v1/cert.pem")))
        }
    }
}

fn read_stdin() -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .context("reading stdin")?;
    Ok(buf)
}

fn read_input(args: &SealArgs) -> Result<(String, String)> {
    let (bytes, origin) = match &args.secret_file {
        Some(path) => (
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            path.display().to_string(),
        ),
        None => (read_stdin()?, "stdin".to_string()),
    };
    let text = String::from_utf8(bytes).map_err(|_| anyhow!("{origin} is not UTF-8 text"))?;
    Ok((text, origin))
}

fn write_output(args: &SealArgs, bytes: &[u8]) -> Result<()> {
    match &args.sealed_secret_file {
        Some(path) => write_atomically(path, bytes),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes).context("writing to stdout")?;
            stdout.flush().context("writing to stdout")
        }
    }
}

/// Write through a temporary file in the same directory and rename it into place, so a failed
/// run never leaves a half-written file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| anyhow!("replacing {}: {}", path.display(), e.error))?;
    Ok(())
}
