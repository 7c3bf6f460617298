//! The hybrid encryption of one value, byte for byte as Bitnami's `pkg/crypto/crypto.go`:
//!
//! ```text
//! value = u16_be(len(rsa)) ‖ rsa ‖ gcm
//! rsa   = RSA-OAEP(SHA-256, MGF1-SHA-256, label)(session key: 32 random bytes)
//! gcm   = AES-256-GCM(session key, nonce = 12 zero bytes, no AAD)(plaintext) ‖ 16-byte tag
//! ```
//!
//! The zero nonce is safe because every value gets a fresh session key. There is no key
//! identifier in the ciphertext, so opening tries every private key. RSA and AES come from
//! aws-lc-rs, whose RSA decryption is constant-time (the controller's `/v1/verify` endpoint
//! makes decryption reachable from outside).

use aws_lc_rs::aead::{AES_128_GCM, AES_192_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rsa::{
    OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey, PublicEncryptingKey,
};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Length of the AES-256 session key kubeseal generates.
pub const SESSION_KEY_LEN: usize = 32;
const GCM_TAG_LEN: usize = 16;
const ZERO_NONCE: [u8; 12] = [0u8; 12];

/// Why one hybrid ciphertext could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HybridDecryptError {
    /// Fewer bytes than the 2-byte prefix announces.
    #[error("SealedSecret data is too short")]
    TooShort,
    /// No key opened both the RSA block (with this label) and the GCM part.
    #[error("no key could decrypt secret")]
    NoKeyCouldDecrypt,
}

/// Why encryption failed (only with keys aws-lc-rs refuses for OAEP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("RSA-OAEP or AES-GCM encryption failed")]
pub struct HybridEncryptError;

/// Encrypt `plaintext` for `public_key` with OAEP label `label`.
pub fn hybrid_encrypt(
    public_key: &PublicEncryptingKey,
    plaintext: &[u8],
    label: &[u8],
) -> Result<Vec<u8>, HybridEncryptError> {
    let mut session_key = [0u8; SESSION_KEY_LEN];
    aws_lc_rs::rand::fill(&mut session_key).map_err(|_| HybridEncryptError)?;

    let oaep = OaepPublicEncryptingKey::new(public_key.clone()).map_err(|_| HybridEncryptError)?;
    let mut rsa_block = vec![0u8; oaep.ciphertext_size()];
    let rsa_len = oaep
        .encrypt(
            &OAEP_SHA256_MGF1SHA256,
            &session_key,
            &mut rsa_block,
            Some(label),
        )
        .map_err(|_| HybridEncryptError)?
        .len();
    rsa_block.truncate(rsa_len);
    let prefix = u16::try_from(rsa_len).map_err(|_| HybridEncryptError)?;

    let key = UnboundKey::new(&AES_256_GCM, &session_key).map_err(|_| HybridEncryptError)?;
    let key = LessSafeKey::new(key);
    let mut out = Vec::with_capacity(2 + rsa_len + plaintext.len() + GCM_TAG_LEN);
    out.extend_from_slice(&prefix.to_be_bytes());
    out.extend_from_slice(&rsa_block);
    let mut sealed = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(ZERO_NONCE),
        Aad::empty(),
        &mut sealed,
    )
    .map_err(|_| HybridEncryptError)?;
    out.extend_from_slice(&sealed);
    session_key.fill(0);
    Ok(out)
}

/// Open `ciphertext` with the first of `keys` that works under `label`.
///
/// Accepts what Go's controller accepts: an RSA block shorter than the modulus (read as if
/// left-padded with zero bytes) and 16- or 24-byte session keys besides 32.
pub fn hybrid_decrypt<'k>(
    keys: impl IntoIterator<Item = &'k PrivateDecryptingKey>,
    ciphertext: &[u8],
    label: &[u8],
) -> Result<Vec<u8>, HybridDecryptError> {
    if ciphertext.len() < 2 {
        return Err(HybridDecryptError::TooShort);
    }
    let rsa_len = usize::from(u16::from_be_bytes([ciphertext[0], ciphertext[1]]));
    if ciphertext.len() < 2 + rsa_len {
        return Err(HybridDecryptError::TooShort);
    }
    let rsa_block = &ciphertext[2..2 + rsa_len];
    let gcm = &ciphertext[2 + rsa_len..];
    for key in keys {
        if let Some(plain) = open_with(key, rsa_block, gcm, label) {
            return Ok(plain);
        }
    }
    Err(HybridDecryptError::NoKeyCouldDecrypt)
}

fn open_with(
    key: &PrivateDecryptingKey,
    rsa_block: &[u8],
    gcm: &[u8],
    label: &[u8],
) -> Option<Vec<u8>> {
    let k = key.key_size_bytes();
    if rsa_block.len() > k {
        return None;
    }
    let padded;
    let block = if rsa_block.len() < k {
        let mut p = vec![0u8; k - rsa_block.len()];
        p.extend_from_slice(rsa_block);
        padded = p;
        &padded[..]
    } else {
        rsa_block
    };
    let oaep = OaepPrivateDecryptingKey::new(key.clone()).ok()?;
    let mut session_key = vec![0u8; oaep.min_output_size()];
    let n = oaep
        .decrypt(
            &OAEP_SHA256_MGF1SHA256,
            block,
            &mut session_key,
            Some(label),
        )
        .ok()?
        .len();
    session_key.truncate(n);
    let algorithm = match n {
        16 => &AES_128_GCM,
        24 => &AES_192_GCM,
        32 => &AES_256_GCM,
        _ => return None,
    };
    let unbound = UnboundKey::new(algorithm, &session_key).ok()?;
    session_key.fill(0);
    let aead = LessSafeKey::new(unbound);
    let mut buf = gcm.to_vec();
    let plain_len = aead
        .open_in_place(
            Nonce::assume_unique_for_key(ZERO_NONCE),
            Aad::empty(),
            &mut buf,
        )
        .ok()?
        .len();
    buf.truncate(plain_len);
    Some(buf)
}

/// The engine for reading `encryptedData`: standard alphabet, padding required, non-zero
/// trailing bits tolerated (as Go's `base64.StdEncoding`).
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Decode base64 the way Go's `base64.StdEncoding.DecodeString` does: `\r` and `\n` anywhere
/// are skipped. The error says where (in the cleaned input) the first bad byte is, never what.
pub fn decode_base64_like_go(text: &str) -> Result<Vec<u8>, String> {
    let cleaned: Vec<u8> = text
        .bytes()
        .filter(|b| *b != b'\r' && *b != b'\n')
        .collect();
    LENIENT_STANDARD.decode(&cleaned).map_err(|e| match e {
        base64::DecodeError::InvalidByte(at, _) => {
            format!("illegal base64 data at input byte {at}")
        }
        base64::DecodeError::InvalidLength(at) => {
            format!("illegal base64 data at input byte {at}")
        }
        base64::DecodeError::InvalidLastSymbol(at, _) => {
            format!("illegal base64 data at input byte {at}")
        }
        base64::DecodeError::InvalidPadding => "illegal base64 data: bad padding".to_string(),
    })
}

/// Standard padded base64 on one line, as kubeseal writes `encryptedData`.
pub fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_keys;

    #[test]
    fn layout_is_prefix_rsa_gcm() {
        let key = test_keys::key_a();
        let ct = hybrid_encrypt(&key.public_key(), b"hello", b"ns/name").unwrap();
        let k = key.key_size_bytes();
        assert_eq!(u16::from_be_bytes([ct[0], ct[1]]) as usize, k);
        assert_eq!(ct.len(), 2 + k + 5 + GCM_TAG_LEN);
        assert_eq!(hybrid_decrypt([key], &ct, b"ns/name").unwrap(), b"hello");
    }

    #[test]
    fn wrong_label_fails() {
        let key = test_keys::key_a();
        let ct = hybrid_encrypt(&key.public_key(), b"v", b"ns/a").unwrap();
        assert_eq!(
            hybrid_decrypt([key], &ct, b"ns/b"),
            Err(HybridDecryptError::NoKeyCouldDecrypt)
        );
        assert_eq!(
            hybrid_decrypt([key], &ct, b""),
            Err(HybridDecryptError::NoKeyCouldDecrypt)
        );
    }

    #[test]
    fn tampering_anywhere_fails() {
        let key = test_keys::key_a();
        let ct = hybrid_encrypt(&key.public_key(), b"value", b"l").unwrap();
        for at in [3, 200, ct.len() - 20, ct.len() - 1] {
            let mut bad = ct.clone();
            bad[at] ^= 0x01;
            assert_eq!(
                hybrid_decrypt([key], &bad, b"l"),
                Err(HybridDecryptError::NoKeyCouldDecrypt),
                "flip at {at}"
            );
        }
    }

    #[test]
    fn truncated_inputs_are_too_short() {
        let key = test_keys::key_a();
        assert_eq!(
            hybrid_decrypt([key], &[2], b""),
            Err(HybridDecryptError::TooShort)
        );
        assert_eq!(
            hybrid_decrypt([key], &[2, 0, 1, 2, 3], b""),
            Err(HybridDecryptError::TooShort)
        );
        // Prefix says 512 but only the RSA block is present: GCM part too short for a tag.
        let ct = hybrid_encrypt(&key.public_key(), b"", b"").unwrap();
        assert_eq!(
            hybrid_decrypt([key], &ct[..2 + key.key_size_bytes()], b""),
            Err(HybridDecryptError::NoKeyCouldDecrypt)
        );
    }

    #[test]
    fn every_key_is_tried() {
        let a = test_keys::key_a();
        let b = test_keys::key_b();
        let ct = hybrid_encrypt(&b.public_key(), b"x", b"").unwrap();
        assert_eq!(hybrid_decrypt([a, b], &ct, b"").unwrap(), b"x");
        assert_eq!(
            hybrid_decrypt([a], &ct, b""),
            Err(HybridDecryptError::NoKeyCouldDecrypt)
        );
    }

    #[test]
    fn short_rsa_block_is_left_padded_like_go() {
        // Find a ciphertext whose RSA block starts with a zero byte, then drop that byte and
        // fix the prefix: Go reads the shorter block as having a leading zero.
        let key = test_keys::key_a();
        let k = key.key_size_bytes();
        let ct = (0..4096)
            .map(|_| hybrid_encrypt(&key.public_key(), b"short", b"ns").unwrap())
            .find(|ct| ct[2] == 0)
            .expect("1 in 256 RSA blocks start with 0x00; 4096 tries");
        let mut short = ((k - 1) as u16).to_be_bytes().to_vec();
        short.extend_from_slice(&ct[3..]);
        assert_eq!(hybrid_decrypt([key], &short, b"ns").unwrap(), b"short");
    }

    #[test]
    fn aes_128_session_keys_are_accepted() {
        // A foreign sealer using a 16-byte session key: Go's aes.NewCipher accepts it.
        let key = test_keys::key_a();
        let session = [7u8; 16];
        let oaep = OaepPublicEncryptingKey::new(key.public_key()).unwrap();
        let mut rsa = vec![0u8; oaep.ciphertext_size()];
        let n = oaep
            .encrypt(&OAEP_SHA256_MGF1SHA256, &session, &mut rsa, Some(b"ns/x"))
            .unwrap()
            .len();
        let aead = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &session).unwrap());
        let mut body = b"aes128".to_vec();
        aead.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(ZERO_NONCE),
            Aad::empty(),
            &mut body,
        )
        .unwrap();
        let mut ct = (n as u16).to_be_bytes().to_vec();
        ct.extend_from_slice(&rsa[..n]);
        ct.extend_from_slice(&body);
        assert_eq!(hybrid_decrypt([key], &ct, b"ns/x").unwrap(), b"aes128");
    }

    #[test]
    fn base64_accepts_line_breaks_and_rejects_garbage() {
        assert_eq!(decode_base64_like_go("aGVs\r\nbG8=\n").unwrap(), b"hello");
        assert_eq!(decode_base64_like_go("").unwrap(), b"");
        let err = decode_base64_like_go("aGV*bG8=").unwrap_err();
        assert_eq!(err, "illegal base64 data at input byte 3");
        assert!(
            decode_base64_like_go("aGVsbG8").is_err(),
            "padding is required"
        );
        // Non-zero trailing bits ("aGVsbG9=" decodes like "aGVsbG8=") are tolerated like Go.
        assert_eq!(decode_base64_like_go("aGVsbG9=").unwrap(), b"hello");
    }
}
