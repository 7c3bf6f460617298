//! Keys: the sealing certificate (public half, what `kubeseal --cert` reads), private keys (what
//! the controller keeps in its key Secrets), and the key ring that opens values with any key it
//! holds and seals with the newest.
//!
//! Key material never reaches `Debug` output: private keys print their fingerprint only.

mod der;
mod generate;
mod secret;

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{PrivateDecryptingKey, PublicEncryptingKey};
use base64::Engine as _;
use x509_parser::prelude::FromDer;

use crate::error::{Error, Result};

pub use generate::{DEFAULT_KEY_BITS, DEFAULT_KEY_VALIDITY, KeyOptions};
pub use secret::{
    DEFAULT_KEY_PREFIX, KEY_LABEL, KEY_LABEL_ACTIVE, LEGACY_KEY_SECRET_NAME, is_key_secret,
    key_pair_from_secret, key_pair_to_secret, private_keys_from_backup,
};

/// The sealing certificate: an X.509 certificate whose RSA public key seals values.
#[derive(Clone)]
pub struct SealingCert {
    der: Vec<u8>,
    public_key: PublicEncryptingKey,
    not_before: SystemTime,
    not_after: SystemTime,
    fingerprint: String,
    origin: String,
}

impl SealingCert {
    /// Read the first `CERTIFICATE` block of a PEM text (as kubeseal does). `origin` names where
    /// it came from in errors (a file name, URL or key Secret).
    pub fn from_pem(pem_text: &[u8], origin: &str) -> Result<Self> {
        let blocks = pem::parse_many(pem_text).map_err(|e| Error::CertificateParse {
            origin: origin.into(),
            reason: format!("not PEM: {e}"),
        })?;
        let block = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or_else(|| Error::CertificateParse {
                origin: origin.into(),
                reason: "no PEM block of type CERTIFICATE found".into(),
            })?;
        Self::from_der(block.contents(), origin)
    }

    /// Read a DER certificate.
    pub fn from_der(der: &[u8], origin: &str) -> Result<Self> {
        let fail = |reason: String| Error::CertificateParse {
            origin: origin.into(),
            reason,
        };
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| fail(format!("not an X.509 certificate: {e}")))?;
        let validity = cert.validity();
        let not_before = unix_to_system(validity.not_before.timestamp());
        let not_after = unix_to_system(validity.not_after.timestamp());
        let spki = cert.public_key().raw;
        let public_key = PublicEncryptingKey::from_der(spki).map_err(|e| {
            fail(format!(
                "the certificate's key is not an RSA key of 2048 to 8192 bits ({e})"
            ))
        })?;
        let fingerprint = ssh_fingerprint_of_spki(spki)
            .ok_or_else(|| fail("the certificate's key is not an RSA key".into()))?;
        Ok(SealingCert {
            der: der.to_vec(),
            public_key,
            not_before,
            not_after,
            fingerprint,
            origin: origin.into(),
        })
    }

    /// Refuse a certificate whose validity ended before `now` (kubeseal does; NotBefore is not
    /// checked, as in kubeseal).
    pub fn check_not_expired(&self, now: SystemTime) -> Result<()> {
        if self.not_after < now {
            return Err(Error::CertificateExpired {
                origin: self.origin.clone(),
                not_after: rfc3339(self.not_after),
            });
        }
        Ok(())
    }

    /// The RSA public key that seals.
    pub fn public_key(&self) -> &PublicEncryptingKey {
        &self.public_key
    }

    /// Start of validity.
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// `SHA256:…` fingerprint of the public key, as `ssh-keygen -lf` prints and as the Bitnami
    /// controller keys its registry.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Where the certificate was read from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM text (`-----BEGIN CERTIFICATE-----`), what `/v1/cert.pem` serves.
    pub fn to_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.der)
    }

    /// The public key alone as an SPKI `PUBLIC KEY` PEM (what some third-party sealers take).
    pub fn public_key_pem(&self) -> Result<String> {
        let spki = self
            .public_key
            .as_der()
            .map_err(|_| Error::CertificateParse {
                origin: self.origin.clone(),
                reason: "cannot encode its public key".into(),
            })?;
        Ok(pem_encode("PUBLIC KEY", spki.as_ref()))
    }
}

impl fmt::Debug for SealingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingCert")
            .field("origin", &self.origin)
            .field("fingerprint", &self.fingerprint)
            .field("not_before", &rfc3339(self.not_before))
            .field("not_after", &rfc3339(self.not_after))
            .finish()
    }
}

/// An RSA private key able to open sealed values.
#[derive(Clone)]
pub struct PrivateKey {
    key: PrivateDecryptingKey,
    fingerprint: String,
}

impl PrivateKey {
    /// Generate a fresh RSA key of `bits` bits (2048, 3072, 4096 or 8192).
    pub fn generate(bits: usize) -> Result<Self> {
        let size = match bits {
            2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
            3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
            4096 => aws_lc_rs::rsa::KeySize::Rsa4096,
            8192 => aws_lc_rs::rsa::KeySize::Rsa8192,
            _ => {
                return Err(Error::KeyGeneration {
                    bits,
                    reason: "supported sizes are 2048, 3072, 4096 and 8192 bits".into(),
                });
            }
        };
        let key = PrivateDecryptingKey::generate(size).map_err(|_| Error::KeyGeneration {
            bits,
            reason: "the RSA key generator failed".into(),
        })?;
        Self::from_decrypting_key(key, "generated key")
    }

    /// Read the first private key of a PEM text: `RSA PRIVATE KEY` (PKCS#1, what the controller
    /// writes) or `PRIVATE KEY` (PKCS#8). Other PEM blocks (certificates) are skipped.
    pub fn from_pem(pem_text: &[u8], origin: &str) -> Result<Self> {
        let fail = |reason: String| Error::PrivateKeyParse {
            origin: origin.into(),
            reason,
        };
        let blocks = pem::parse_many(pem_text).map_err(|e| fail(format!("not PEM: {e}")))?;
        for block in &blocks {
            match block.tag() {
                "RSA PRIVATE KEY" => return Self::from_pkcs1_der(block.contents(), origin),
                "PRIVATE KEY" => return Self::from_pkcs8_der(block.contents(), origin),
                "EC PRIVATE KEY" => {
                    return Err(fail("it is an EC key; Sealed Secrets keys are RSA".into()));
                }
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(fail(
                        "it is password-protected; decrypt it first (openssl pkey)".into(),
                    ));
                }
                _ => {}
            }
        }
        Err(fail(
            "no PEM block of type RSA PRIVATE KEY or PRIVATE KEY found".into(),
        ))
    }

    /// Read a PKCS#1 `RSAPrivateKey` DER.
    pub fn from_pkcs1_der(der: &[u8], origin: &str) -> Result<Self> {
        Self::from_pkcs8_der(&der::pkcs1_to_pkcs8(der), origin)
    }

    /// Read a PKCS#8 `PrivateKeyInfo` DER holding an RSA key.
    pub fn from_pkcs8_der(der: &[u8], origin: &str) -> Result<Self> {
        let key = PrivateDecryptingKey::from_pkcs8(der).map_err(|e| Error::PrivateKeyParse {
            origin: origin.into(),
            reason: format!("not an RSA private key of 2048 to 8192 bits ({e})"),
        })?;
        Self::from_decrypting_key(key, origin)
    }

    fn from_decrypting_key(key: PrivateDecryptingKey, origin: &str) -> Result<Self> {
        let spki = key
            .public_key()
            .as_der()
            .map_err(|_| Error::PrivateKeyParse {
                origin: origin.into(),
                reason: "cannot derive its public key".into(),
            })?;
        let fingerprint =
            ssh_fingerprint_of_spki(spki.as_ref()).ok_or_else(|| Error::PrivateKeyParse {
                origin: origin.into(),
                reason: "cannot derive its public key".into(),
            })?;
        Ok(PrivateKey { key, fingerprint })
    }

    /// PKCS#1 PEM (`RSA PRIVATE KEY`), the encoding of a key Secret's `tls.key`.
    pub fn to_pkcs1_pem(&self) -> Result<String> {
        let pkcs8 = self.key.as_der().map_err(|_| self.encode_error("PKCS#8"))?;
        let pkcs1 =
            der::pkcs8_to_pkcs1(pkcs8.as_ref()).ok_or_else(|| self.encode_error("PKCS#1"))?;
        Ok(pem_encode("RSA PRIVATE KEY", &pkcs1))
    }

    /// PKCS#8 DER.
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>> {
        let pkcs8 = self.key.as_der().map_err(|_| self.encode_error("PKCS#8"))?;
        Ok(pkcs8.as_ref().to_vec())
    }

    fn encode_error(&self, what: &str) -> Error {
        Error::PrivateKeyParse {
            origin: format!("key {}", self.fingerprint),
            reason: format!("cannot encode it as {what}"),
        }
    }

    /// `SHA256:…` fingerprint of the public key.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.key.key_size_bits()
    }

    /// The public half.
    pub fn public_key(&self) -> PublicEncryptingKey {
        self.key.public_key()
    }

    pub(crate) fn decrypting_key(&self) -> &PrivateDecryptingKey {
        &self.key
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("fingerprint", &self.fingerprint)
            .field("bits", &self.bits())
            .finish_non_exhaustive()
    }
}

/// A private key with its certificate: one key Secret's worth.
#[derive(Clone, Debug)]
pub struct KeyPair {
    private_key: PrivateKey,
    certificate: SealingCert,
}

impl KeyPair {
    /// Pair a key with its certificate; fails when the certificate is for another key.
    pub fn new(private_key: PrivateKey, certificate: SealingCert) -> Result<Self> {
        if private_key.fingerprint() != certificate.fingerprint() {
            return Err(Error::CertificateParse {
                origin: certificate.origin().into(),
                reason: format!(
                    "the certificate is for key {}, not for the private key {}",
                    certificate.fingerprint(),
                    private_key.fingerprint()
                ),
            });
        }
        Ok(KeyPair {
            private_key,
            certificate,
        })
    }

    /// Read a key PEM and a certificate PEM (`tls.key`, `tls.crt`).
    pub fn from_pem(key_pem: &[u8], cert_pem: &[u8], origin: &str) -> Result<Self> {
        let private_key = PrivateKey::from_pem(key_pem, origin)?;
        let certificate = SealingCert::from_pem(cert_pem, origin)?;
        Self::new(private_key, certificate)
    }

    /// The private key.
    pub fn private_key(&self) -> &PrivateKey {
        &self.private_key
    }

    /// The certificate.
    pub fn certificate(&self) -> &SealingCert {
        &self.certificate
    }
}

/// All keys a controller (or a recovery run) can open values with. Sealing uses the newest
/// certificate (greatest NotBefore, the Bitnami default ordering); opening tries every key.
#[derive(Clone, Debug, Default)]
pub struct KeyRing {
    entries: Vec<RingEntry>,
}

#[derive(Clone, Debug)]
struct RingEntry {
    private_key: PrivateKey,
    certificate: Option<SealingCert>,
    /// Overrides the certificate's NotBefore for "newest" (the controller's
    /// `--key-order-priority=SecretCreationTimestamp`).
    ordering_time: Option<SystemTime>,
}

impl RingEntry {
    fn ordering_time(&self) -> Option<SystemTime> {
        self.ordering_time
            .or_else(|| self.certificate.as_ref().map(SealingCert::not_before))
    }
}

impl KeyRing {
    /// An empty ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a key pair. Returns false (and changes nothing, except supplying a missing
    /// certificate) when a key with the same fingerprint is already present.
    pub fn insert(&mut self, pair: KeyPair) -> bool {
        self.insert_ordered(pair, None)
    }

    /// Add a key pair ordered by `ordering_time` (e.g. its key Secret's creationTimestamp)
    /// instead of its certificate's NotBefore. Same duplicate rule as [`KeyRing::insert`].
    pub fn insert_ordered(&mut self, pair: KeyPair, ordering_time: Option<SystemTime>) -> bool {
        if let Some(entry) = self
            .entries
            .iter_mut()
            .find(|e| e.private_key.fingerprint() == pair.private_key.fingerprint())
        {
            if entry.certificate.is_none() {
                entry.certificate = Some(pair.certificate);
            }
            return false;
        }
        self.entries.push(RingEntry {
            private_key: pair.private_key,
            certificate: Some(pair.certificate),
            ordering_time,
        });
        true
    }

    /// Add a private key without a certificate (recovery: opening only). False if present.
    pub fn insert_private_key(&mut self, key: PrivateKey) -> bool {
        if self.contains(key.fingerprint()) {
            return false;
        }
        self.entries.push(RingEntry {
            private_key: key,
            certificate: None,
            ordering_time: None,
        });
        true
    }

    /// True when a key with this fingerprint is in the ring.
    pub fn contains(&self, fingerprint: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.private_key.fingerprint() == fingerprint)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the ring holds no key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Fingerprints of all keys, in insertion order.
    pub fn fingerprints(&self) -> Vec<&str> {
        self.entries
            .iter()
            .map(|e| e.private_key.fingerprint())
            .collect()
    }

    /// The certificate new values are sealed with: the one with the latest NotBefore (or
    /// ordering time given to [`KeyRing::insert_ordered`]); ties go to the key inserted last.
    /// `None` when no key has a certificate.
    pub fn sealing_certificate(&self) -> Option<&SealingCert> {
        self.newest_entry().and_then(|e| e.certificate.as_ref())
    }

    fn newest_entry(&self) -> Option<&RingEntry> {
        self.entries
            .iter()
            .filter(|e| e.certificate.is_some())
            .fold(None, |best: Option<&RingEntry>, e| match best {
                Some(b) if b.ordering_time() > e.ordering_time() => Some(b),
                _ => Some(e),
            })
    }

    /// Whether a controller should generate a new key now: no certificate at all, or the newest
    /// is `renew_period` old or older. A zero period disables renewal (only the first key).
    pub fn needs_new_key(&self, now: SystemTime, renew_period: Duration) -> bool {
        match self.newest_entry().and_then(RingEntry::ordering_time) {
            None => true,
            Some(_) if renew_period.is_zero() => false,
            Some(t) => now.duration_since(t).is_ok_and(|age| age >= renew_period),
        }
    }

    /// When the next key is due (NotBefore of the newest + `renew_period`); `None` when there
    /// is no key yet (due now) or renewal is disabled.
    pub fn next_renewal(&self, renew_period: Duration) -> Option<SystemTime> {
        if renew_period.is_zero() {
            return None;
        }
        self.newest_entry()
            .and_then(RingEntry::ordering_time)
            .map(|t| t + renew_period)
    }

    pub(crate) fn decrypting_keys(&self) -> impl Iterator<Item = &PrivateDecryptingKey> {
        self.entries.iter().map(|e| e.private_key.decrypting_key())
    }
}

/// `"SHA256:" + base64-raw(sha256(ssh-rsa wire blob))` of an RSA SubjectPublicKeyInfo.
fn ssh_fingerprint_of_spki(spki: &[u8]) -> Option<String> {
    let (_, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki).ok()?;
    let parsed = info.parsed().ok()?;
    let x509_parser::public_key::PublicKey::RSA(rsa) = parsed else {
        return None;
    };
    let mut blob = Vec::new();
    ssh_string(&mut blob, b"ssh-rsa");
    ssh_mpint(&mut blob, rsa.exponent);
    ssh_mpint(&mut blob, rsa.modulus);
    let hash = digest::digest(&digest::SHA256, &blob);
    Some(format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash.as_ref())
    ))
}

fn ssh_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn ssh_mpint(out: &mut Vec<u8>, unsigned_be: &[u8]) {
    let skip = unsigned_be.iter().take_while(|b| **b == 0).count();
    let digits = &unsigned_be[skip..];
    if digits.first().is_some_and(|b| b & 0x80 != 0) {
        let mut padded = vec![0u8];
        padded.extend_from_slice(digits);
        ssh_string(out, &padded);
    } else {
        ssh_string(out, digits);
    }
}

fn pem_encode(tag: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(tag, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

fn unix_to_system(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

/// RFC 3339 (UTC, seconds) for messages.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("@{secs}"))
}

#[cfg(test)]
mod tests;
