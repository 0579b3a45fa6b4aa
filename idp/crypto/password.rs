//! argon2id password hashes at no less than OWASP's parameters (m=19456 KiB, t=2, p=1).
//!
//! Hashing costs ~17 ms of one core in a release build: callers on the async executor must run it
//! on a blocking thread.

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};
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

thread_local! {
    /// The thread's argon2 memory, kept between hashes. Allocating 19 MiB a hash left a freed
    /// block of that size in the allocator's arena of each thread that ever hashed (glibc keeps
    /// such blocks); one buffer per hashing thread is the whole cost instead
    /// (`crypto::hash_pool` runs hashes on a fixed set of threads).
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's argon2 memory, grown to `count` blocks if it is smaller.
fn with_blocks<R>(count: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
    BLOCKS.with(|cell| {
        let mut blocks = cell.borrow_mut();
        if blocks.len() < count {
            blocks.resize(count, Block::default());
        }
        f(&mut blocks[..count])
    })
}

/// Hashes `password` with a fresh random salt; returns the PHC string (`$argon2id$v=19$…`).
pub fn hash(password: &SecretString) -> Result<String, HashError> {
    let error = |e: &dyn std::fmt::Display| HashError(e.to_string());
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).map_err(|e| error(&e))?;
    let salt: [u8; 16] = rand::random();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    with_blocks(params.block_count(), |blocks| {
        hasher.hash_password_into_with_memory(
            password.expose_secret().as_bytes(),
            &salt,
            &mut out,
            blocks,
        )
    })
    .map_err(|e| error(&e))?;
    let phc = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| error(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| error(&e))?),
        hash: Some(Output::new(&out).map_err(|e| error(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the argon2 PHC string `phc` (false too when `phc` is malformed).
/// The digests are compared in constant time (`Output`'s equality).
pub fn verify(password: &SecretString, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let hasher = Argon2::new(algorithm, version, params.clone());
    let computed = with_blocks(params.block_count(), |blocks| {
        hasher.hash_password_into_with_memory(
            password.expose_secret().as_bytes(),
            salt.as_ref(),
            &mut out,
            blocks,
        )
    });
    computed.is_ok() && Output::new(&out).is_ok_and(|output| output == *expected)
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

    /// The reused memory gives the crate's own answers: its hash verifies here, ours there,
    /// and a dirty buffer (left by a hash of other parameters) changes nothing.
    #[test]
    fn agrees_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let password = SecretString::from("Sälasana-ÄÖå €");
        let theirs = Argon2::default()
            .hash_password_with_salt(password.expose_secret().as_bytes(), b"saltsaltsalt")
            .unwrap()
            .to_string();
        assert!(verify(&password, &theirs));
        let small = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(64, 3, 1, None).unwrap(),
        )
        .hash_password_with_salt(b"other", b"saltsaltsalt")
        .unwrap()
        .to_string();
        assert!(
            verify(&SecretString::from("other"), &small),
            "argon2i, other sizes"
        );
        let ours = hash(&password).unwrap();
        assert!(verify(&password, &ours));
        assert!(
            Argon2::default()
                .verify_password(password.expose_secret().as_bytes(), ours.as_str())
                .is_ok()
        );
        assert!(!verify(&SecretString::from("Salasana-ÄÖå €"), &theirs));
    }
}
