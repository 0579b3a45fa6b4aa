//! argon2id password hashes at no less than OWASP's parameters (m=19456 KiB, t=2, p=1).
//!
//! Hashing costs ~17 ms of one core in a release build: callers on the async executor must run it
//! on a blocking thread.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

/// OWASP's minimum for argon2id: memory in KiB.
pub const MEMORY_KIB: u32 = 19_456;
/// OWASP's minimum for argon2id: iterations.
pub const ITERATIONS: u32 = 2;
/// OWASP's minimum for argon2id: lanes.
pub const PARALLELISM: u32 = 1;

/// Hashing failed (bad parameters; never the password's fault).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

fn hasher() -> Result<Argon2<'static>, HashError> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .map_err(|e| HashError(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` with a fresh random salt; returns the PHC string (`$argon2id$v=19$…`).
pub fn hash(password: &SecretString) -> Result<String, HashError> {
    let salt: [u8; 16] = rand::random();
    let hash = hasher()?
        .hash_password_with_salt(password.expose_secret().as_bytes(), &salt)
        .map_err(|e| HashError(e.to_string()))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `phc` (false too when `phc` is malformed).
pub fn verify(password: &SecretString, phc: &str) -> bool {
    let Ok(hasher) = hasher() else {
        return false;
    };
    hasher
        .verify_password(password.expose_secret().as_bytes(), phc)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_as_argon2id_and_verifies() {
        let password = SecretString::from("oikea hevonen patteri niitti");
        let phc = hash(&password).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(&password, &phc));
        assert!(!verify(&SecretString::from("väärä"), &phc));
        assert!(!verify(&password, "not a hash"));
        assert_ne!(phc, hash(&password).unwrap(), "a fresh salt each time");
    }
}
