//! Credentials: a generated CA, a serving certificate it signs, a bearer token, and the kubeconfig
//! that carries them to clients. With a data directory they are kept under `pki/` so that a
//! restarted server keeps its identity and old kubeconfigs keep working.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use rand::Rng;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A failure setting up credentials.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("generating the {what}: {source}")]
    Generate {
        /// Which certificate.
        what: &'static str,
        /// The cause.
        #[source]
        source: rcgen::Error,
    },
    /// Reading or writing a credentials file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A stored credentials file could not be parsed.
    #[error("{path} does not hold a valid PEM {what}")]
    BadPem {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        what: &'static str,
    },
    /// rustls refused the configuration.
    #[error("configuring TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The server's credentials.
pub struct Credentials {
    /// The CA certificate clients trust (PEM).
    pub ca_pem: String,
    /// The serving certificate chain (PEM).
    cert_pem: String,
    /// The serving key (PEM).
    key_pem: String,
    /// The bearer token.
    pub token: String,
}

const SANS_FILE: &str = "server.sans";

impl Credentials {
    /// Loads credentials from `dir/pki`, or generates them (and stores them when `dir` is given).
    /// The serving certificate names `hosts` plus localhost and the loopback addresses; stored
    /// credentials made for other names are replaced.
    pub fn load_or_generate(dir: Option<&Path>, hosts: &[String]) -> Result<Credentials, TlsError> {
        let mut sans: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        for h in hosts {
            if !h.is_empty() && h != "0.0.0.0" && h != "::" && !sans.contains(h) {
                sans.push(h.clone());
            }
        }
        let pki = dir.map(|d| d.join("pki"));
        if let Some(pki) = &pki
            && let Some(existing) = Self::load(pki, &sans)?
        {
            return Ok(existing);
        }
        let creds = Self::generate(&sans)?;
        if let Some(pki) = &pki {
            creds.store(pki, &sans)?;
        }
        Ok(creds)
    }

    fn generate(sans: &[String]) -> Result<Credentials, TlsError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let gen_err = |what| move |source| TlsError::Generate { what, source };
        let ca_key = KeyPair::generate().map_err(gen_err("CA key"))?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(gen_err("CA"))?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "fjord-apiserver-ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(gen_err("CA"))?;
        let issuer = Issuer::new(ca_params, &ca_key);
        let key = KeyPair::generate().map_err(gen_err("serving key"))?;
        let mut params =
            CertificateParams::new(sans.to_vec()).map_err(gen_err("serving certificate"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "fjord-apiserver");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(gen_err("serving certificate"))?;
        let mut token_bytes = [0u8; 32];
        rand::rng().fill(&mut token_bytes);
        Ok(Credentials {
            ca_pem: ca_cert.pem(),
            cert_pem: format!("{}{}", cert.pem(), ca_cert.pem()),
            key_pem: key.serialize_pem(),
            token: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token_bytes),
        })
    }

    fn load(pki: &Path, sans: &[String]) -> Result<Option<Credentials>, TlsError> {
        let read = |name: &str| -> Result<Option<String>, TlsError> {
            let path = pki.join(name);
            match std::fs::read_to_string(&path) {
                Ok(s) => Ok(Some(s)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(TlsError::Io {
                    action: "reading",
                    path,
                    source,
                }),
            }
        };
        let (Some(ca), Some(cert), Some(key), Some(token), Some(stored_sans)) = (
            read("ca.crt")?,
            read("server.crt")?,
            read("server.key")?,
            read("token")?,
            read(SANS_FILE)?,
        ) else {
            return Ok(None);
        };
        if stored_sans.lines().collect::<Vec<_>>()
            != sans.iter().map(String::as_str).collect::<Vec<_>>()
        {
            return Ok(None);
        }
        Ok(Some(Credentials {
            ca_pem: ca,
            cert_pem: cert,
            key_pem: key,
            token: token.trim().to_string(),
        }))
    }

    fn store(&self, pki: &Path, sans: &[String]) -> Result<(), TlsError> {
        std::fs::create_dir_all(pki).map_err(|source| TlsError::Io {
            action: "creating",
            path: pki.to_path_buf(),
            source,
        })?;
        for (name, content, private) in [
            ("ca.crt", self.ca_pem.as_str(), false),
            ("server.crt", self.cert_pem.as_str(), false),
            ("server.key", self.key_pem.as_str(), true),
            ("token", self.token.as_str(), true),
            (SANS_FILE, &sans.join("\n"), false),
        ] {
            write_file(&pki.join(name), content, private)?;
        }
        Ok(())
    }

    /// The rustls server configuration (HTTP/2 and HTTP/1.1 by ALPN).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|_| TlsError::BadPem {
                    path: PathBuf::from("server.crt"),
                    what: "certificate",
                })?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(|_| {
            TlsError::BadPem {
                path: PathBuf::from("server.key"),
                what: "private key",
            }
        })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Writes `content` to a temporary file beside `path` and renames it into place, so that a
/// reader waiting for `path` (a test harness, kubectl) never sees it half written; a private
/// file is owner-only from its creation.
fn write_file(path: &Path, content: &str, private: bool) -> Result<(), TlsError> {
    use std::io::Write;
    let io_err = |source| TlsError::Io {
        action: "writing",
        path: path.to_path_buf(),
        source,
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let written = options
        .open(&temp)
        .and_then(|mut f| f.write_all(content.as_bytes()))
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.map_err(io_err)
}

/// A kubeconfig for `server` (e.g. `https://127.0.0.1:6443`) with the CA (None for plain HTTP)
/// and the token.
pub fn kubeconfig(server: &str, ca_pem: Option<&str>, token: &str) -> String {
    let ca = match ca_pem {
        Some(pem) => format!(
            "    certificate-authority-data: {}\n",
            base64::engine::general_purpose::STANDARD.encode(pem)
        ),
        None => String::new(),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fjord\n  cluster:\n    server: {server}\n{ca}users:\n- name: fjord-admin\n  user:\n    token: {token}\ncontexts:\n- name: fjord\n  context:\n    cluster: fjord\n    user: fjord-admin\n    namespace: default\ncurrent-context: fjord\npreferences: {{}}\n"
    )
}

/// Writes the kubeconfig (owner-only permissions: it holds the token).
pub fn write_kubeconfig(path: &Path, content: &str) -> Result<(), TlsError> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|source| TlsError::Io {
            action: "creating",
            path: parent.to_path_buf(),
            source,
        })?;
    }
    write_file(path, content, true)
}
