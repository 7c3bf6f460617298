//! RSA keys shared by unit tests: generating one takes a while, so each test binary makes two
//! 2048-bit keys once.

use std::sync::OnceLock;

use aws_lc_rs::rsa::{KeySize, PrivateDecryptingKey};

static A: OnceLock<PrivateDecryptingKey> = OnceLock::new();
static B: OnceLock<PrivateDecryptingKey> = OnceLock::new();

fn generate() -> PrivateDecryptingKey {
    PrivateDecryptingKey::generate(KeySize::Rsa2048).expect("RSA key generation")
}

pub(crate) fn key_a() -> &'static PrivateDecryptingKey {
    A.get_or_init(generate)
}

pub(crate) fn key_b() -> &'static PrivateDecryptingKey {
    B.get_or_init(generate)
}
