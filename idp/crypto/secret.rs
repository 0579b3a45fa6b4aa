//! Random secrets handed out (codes, tokens, session ids, link tokens) and the hashes stored for them.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A fresh secret: 32 random bytes, base64url (43 characters).
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    super::keys::b64(&bytes)
}

/// The SHA-256 of a secret, hex: what the database stores instead of the secret.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hashes_stable() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
