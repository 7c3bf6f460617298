//! Just enough DER to move an RSA private key between PKCS#1 (`RSA PRIVATE KEY`, what the
//! Bitnami controller stores in `tls.key`) and PKCS#8 (`PRIVATE KEY`, what aws-lc-rs reads and
//! writes). A full ASN.1 library would be a large dependency for two fixed shapes.

/// DER of `AlgorithmIdentifier { rsaEncryption, NULL }`.
const RSA_ALGORITHM_ID: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];
const TAG_SEQUENCE: u8 = 0x30;
const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;

/// Wrap a PKCS#1 `RSAPrivateKey` into a PKCS#8 v1 `PrivateKeyInfo`.
pub(crate) fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    let mut body = vec![TAG_INTEGER, 0x01, 0x00];
    body.extend_from_slice(&RSA_ALGORITHM_ID);
    push_tlv(&mut body, TAG_OCTET_STRING, pkcs1);
    let mut out = Vec::with_capacity(body.len() + 4);
    push_tlv(&mut out, TAG_SEQUENCE, &body);
    out
}

/// Take the PKCS#1 `RSAPrivateKey` out of a PKCS#8 `PrivateKeyInfo` (RSA only).
pub(crate) fn pkcs8_to_pkcs1(pkcs8: &[u8]) -> Option<Vec<u8>> {
    let (tag, body, rest) = read_tlv(pkcs8)?;
    if tag != TAG_SEQUENCE || !rest.is_empty() {
        return None;
    }
    let (tag, _version, body) = read_tlv(body)?;
    if tag != TAG_INTEGER {
        return None;
    }
    let (tag, algorithm, body) = read_tlv(body)?;
    if tag != TAG_SEQUENCE || algorithm != &RSA_ALGORITHM_ID[2..] {
        return None;
    }
    let (tag, key, _attributes) = read_tlv(body)?;
    if tag != TAG_OCTET_STRING {
        return None;
    }
    Some(key.to_vec())
}

fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

/// Read one definite-length TLV: (tag, content, rest).
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > std::mem::size_of::<usize>() || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_and_unwrap_round_trip() {
        for len in [0usize, 5, 127, 128, 255, 256, 2400] {
            let inner: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let wrapped = pkcs1_to_pkcs8(&inner);
            assert_eq!(
                pkcs8_to_pkcs1(&wrapped).as_deref(),
                Some(&inner[..]),
                "len {len}"
            );
        }
    }

    #[test]
    fn rejects_other_algorithms_and_garbage() {
        let mut wrapped = pkcs1_to_pkcs8(b"key");
        // Change the OID's last byte (rsaEncryption -> something else).
        let pos = wrapped.iter().position(|b| *b == 0x05).unwrap() - 1;
        wrapped[pos] = 0x0b;
        assert_eq!(pkcs8_to_pkcs1(&wrapped), None);
        assert_eq!(pkcs8_to_pkcs1(&[0x30, 0x85]), None);
        assert_eq!(pkcs8_to_pkcs1(&[]), None);
    }
}
