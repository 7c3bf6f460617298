//! Generating a sealing key the way the Bitnami controller does: an RSA key (4096 bits by
//! default) with a self-signed certificate — random 128-bit serial, critical KeyUsage
//! encipherOnly, CA basic constraints, subject = issuer = `CN=<common name>` (empty DN when no
//! name is given), valid from now for ten years by default, signed SHA256-RSA.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyUsagePurpose,
};

use super::{KeyPair, PrivateKey, SealingCert};
use crate::error::{Error, Result};

/// The controller's default key size (`--key-size`).
pub const DEFAULT_KEY_BITS: usize = 4096;
/// The controller's default certificate validity (`--key-ttl`, 87600h).
pub const DEFAULT_KEY_VALIDITY: Duration = Duration::from_secs(87_600 * 3600);

/// How to generate a key.
#[derive(Debug, Clone)]
pub struct KeyOptions {
    /// RSA modulus size: 2048, 3072, 4096 (default) or 8192.
    pub bits: usize,
    /// How long the certificate is valid from `not_before`.
    pub validity: Duration,
    /// Subject and issuer CN (`--my-cn`); empty gives an empty distinguished name.
    pub common_name: String,
    /// Start of validity; normally now.
    pub not_before: SystemTime,
}

impl Default for KeyOptions {
    fn default() -> Self {
        KeyOptions {
            bits: DEFAULT_KEY_BITS,
            validity: DEFAULT_KEY_VALIDITY,
            common_name: String::new(),
            not_before: SystemTime::now(),
        }
    }
}

impl KeyPair {
    /// Generate a new key and its self-signed certificate.
    pub fn generate(options: &KeyOptions) -> Result<Self> {
        let private_key = PrivateKey::generate(options.bits)?;
        let certificate = self_signed_certificate(&private_key, options)?;
        KeyPair::new(private_key, certificate)
    }
}

fn self_signed_certificate(key: &PrivateKey, options: &KeyOptions) -> Result<SealingCert> {
    let fail = |reason: String| Error::KeyGeneration {
        bits: options.bits,
        reason,
    };
    let pkcs8 = key.to_pkcs8_der()?;
    let signer = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8),
        &rcgen::PKCS_RSA_SHA256,
    )
    .map_err(|e| fail(format!("loading the key for signing: {e}")))?;

    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    if !options.common_name.is_empty() {
        name.push(DnType::CommonName, options.common_name.as_str());
    }
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::EncipherOnly];
    params.not_before = to_offset(options.not_before).map_err(&fail)?;
    params.not_after = to_offset(options.not_before + options.validity).map_err(&fail)?;
    let mut serial = [0u8; 16];
    aws_lc_rs::rand::fill(&mut serial).map_err(|_| fail("no randomness for the serial".into()))?;
    serial[0] &= 0x7f; // positive INTEGER
    serial[0] |= 0x01; // and 16 bytes long
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));

    let cert = params
        .self_signed(&signer)
        .map_err(|e| fail(format!("signing the certificate: {e}")))?;
    SealingCert::from_der(cert.der(), "generated certificate")
}

fn to_offset(t: SystemTime) -> std::result::Result<time::OffsetDateTime, String> {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| "validity before 1970".to_string())?
        .as_secs();
    let secs = i64::try_from(secs).map_err(|_| "validity too far in the future".to_string())?;
    time::OffsetDateTime::from_unix_timestamp(secs).map_err(|e| e.to_string())
}
