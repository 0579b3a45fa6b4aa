//! Verifying the password hashes of the cities' old login systems, so that the old password can
//! bind a legacy account (the linker, DESIGN.md §5).
//!
//! Well-kept crates do the work: `bcrypt`, `pbkdf2`, `sha-crypt`, `scrypt`, `argon2` (RustCrypto)
//! and `pwhash` for md5-crypt. By hand are only the parsing of passlib's and Django's PBKDF2
//! strings and the constant-time comparison of their output. Passwords are the UTF-8 bytes the old
//! system hashed. Each verifier is tested against hashes made by passlib
//! (`tests/data/legacy_hashes.tsv`, written by `scripts/legacy_vectors.py`).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use subtle::ConstantTimeEq;

/// A hash format the verifier knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyFormat {
    /// `$2a$`, `$2b$`, `$2y$`.
    Bcrypt,
    /// passlib `$pbkdf2$` (SHA-1), `$pbkdf2-sha256$`, `$pbkdf2-sha512$`.
    PasslibPbkdf2,
    /// Django `pbkdf2_sha256$` and `pbkdf2_sha1$`.
    DjangoPbkdf2,
    /// `$6$`.
    Sha512Crypt,
    /// `$5$`.
    Sha256Crypt,
    /// `$1$`.
    Md5Crypt,
    /// `$argon2i$`, `$argon2id$` (PHC).
    Argon2,
    /// `$scrypt$` (PHC).
    Scrypt,
}

impl LegacyFormat {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            LegacyFormat::Bcrypt => "bcrypt",
            LegacyFormat::PasslibPbkdf2 => "pbkdf2 (passlib)",
            LegacyFormat::DjangoPbkdf2 => "pbkdf2 (django)",
            LegacyFormat::Sha512Crypt => "sha512-crypt",
            LegacyFormat::Sha256Crypt => "sha256-crypt",
            LegacyFormat::Md5Crypt => "md5-crypt",
            LegacyFormat::Argon2 => "argon2",
            LegacyFormat::Scrypt => "scrypt",
        }
    }
}

/// The format of a stored hash, if it is one the verifier knows.
pub fn detect(hash: &str) -> Option<LegacyFormat> {
    let hash = hash.trim();
    let format = if ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
        LegacyFormat::Bcrypt
    } else if ["$pbkdf2$", "$pbkdf2-sha256$", "$pbkdf2-sha512$"]
        .iter()
        .any(|p| hash.starts_with(p))
    {
        LegacyFormat::PasslibPbkdf2
    } else if hash.starts_with("pbkdf2_sha256$") || hash.starts_with("pbkdf2_sha1$") {
        LegacyFormat::DjangoPbkdf2
    } else if hash.starts_with("$6$") {
        LegacyFormat::Sha512Crypt
    } else if hash.starts_with("$5$") {
        LegacyFormat::Sha256Crypt
    } else if hash.starts_with("$1$") {
        LegacyFormat::Md5Crypt
    } else if hash.starts_with("$argon2i$") || hash.starts_with("$argon2id$") {
        LegacyFormat::Argon2
    } else if hash.starts_with("$scrypt$") {
        LegacyFormat::Scrypt
    } else {
        return None;
    };
    Some(format)
}

/// Whether `password` matches the legacy `hash` (false for unknown or malformed hashes).
pub fn verify(password: &str, hash: &str) -> bool {
    let hash = hash.trim();
    match detect(hash) {
        Some(LegacyFormat::Bcrypt) => bcrypt::verify(password, hash).unwrap_or(false),
        Some(LegacyFormat::PasslibPbkdf2) => passlib_pbkdf2(password, hash).unwrap_or(false),
        Some(LegacyFormat::DjangoPbkdf2) => django_pbkdf2(password, hash).unwrap_or(false),
        Some(LegacyFormat::Sha512Crypt) => sha_crypt::sha512_check(password, hash).is_ok(),
        Some(LegacyFormat::Sha256Crypt) => sha_crypt::sha256_check(password, hash).is_ok(),
        Some(LegacyFormat::Md5Crypt) => pwhash::md5_crypt::verify(password, hash),
        Some(LegacyFormat::Argon2) => {
            use argon2::password_hash::PasswordVerifier;
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), hash)
                .is_ok()
        }
        Some(LegacyFormat::Scrypt) => {
            use scrypt::password_hash::{PasswordHash, PasswordVerifier};
            PasswordHash::new(hash).is_ok_and(|parsed| {
                scrypt::Scrypt
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        }
        None => false,
    }
}

/// Rounds beyond this are refused: a hostile import must not make one login cost minutes.
const MAX_ROUNDS: u32 = 10_000_000;

fn pbkdf2_matches(digest: &str, password: &str, salt: &[u8], rounds: u32, expected: &[u8]) -> bool {
    use pbkdf2::pbkdf2_hmac;
    if rounds == 0 || rounds > MAX_ROUNDS || expected.is_empty() {
        return false;
    }
    let mut out = vec![0u8; expected.len()];
    match digest {
        "sha1" => pbkdf2_hmac::<sha1::Sha1>(password.as_bytes(), salt, rounds, &mut out),
        "sha256" => pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt, rounds, &mut out),
        "sha512" => pbkdf2_hmac::<sha2::Sha512>(password.as_bytes(), salt, rounds, &mut out),
        _ => return false,
    }
    bool::from(out.as_slice().ct_eq(expected))
}

/// passlib's "adapted base64": standard alphabet with `.` for `+`, no padding.
fn ab64(text: &str) -> Option<Vec<u8>> {
    STANDARD_NO_PAD.decode(text.replace('.', "+")).ok()
}

/// `$pbkdf2-<digest>$<rounds>$<salt ab64>$<hash ab64>` (SHA-1 is plain `$pbkdf2$`).
fn passlib_pbkdf2(password: &str, hash: &str) -> Option<bool> {
    let mut parts = hash.split('$').skip(1);
    let digest = match parts.next()? {
        "pbkdf2" => "sha1",
        "pbkdf2-sha256" => "sha256",
        "pbkdf2-sha512" => "sha512",
        _ => return None,
    };
    let rounds: u32 = parts.next()?.parse().ok()?;
    let salt = ab64(parts.next()?)?;
    let expected = ab64(parts.next()?)?;
    Some(pbkdf2_matches(digest, password, &salt, rounds, &expected))
}

/// `pbkdf2_<digest>$<iterations>$<salt text>$<hash base64>`.
fn django_pbkdf2(password: &str, hash: &str) -> Option<bool> {
    let mut parts = hash.split('$');
    let digest = parts.next()?.strip_prefix("pbkdf2_")?;
    let rounds: u32 = parts.next()?.parse().ok()?;
    let salt = parts.next()?.as_bytes().to_vec();
    let expected = STANDARD.decode(parts.next()?).ok()?;
    Some(pbkdf2_matches(digest, password, &salt, rounds, &expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTORS: &str = include_str!("../../tests/data/legacy_hashes.tsv");

    #[test]
    fn every_reference_hash_verifies_and_a_wrong_password_does_not() {
        let mut seen = std::collections::BTreeSet::new();
        for line in VECTORS.lines().filter(|l| !l.trim().is_empty()) {
            let mut fields = line.split('\t');
            let (kind, password, hash) = (
                fields.next().unwrap(),
                fields.next().unwrap(),
                fields.next().unwrap(),
            );
            assert!(detect(hash).is_some(), "{kind}: {hash}");
            assert!(
                verify(password, hash),
                "{kind} must verify: {password:?} {hash}"
            );
            assert!(
                !verify(&format!("{password}x"), hash),
                "{kind} must refuse a wrong password"
            );
            seen.insert(kind);
        }
        assert_eq!(seen.len(), 14, "{seen:?}");
    }

    #[test]
    fn unknown_and_malformed_hashes_never_verify() {
        for hash in [
            "",
            "plaintext",
            "$pbkdf2-sha256$x$y$z",
            "pbkdf2_sha256$0$salt$AAAA",
            "$6$",
            "{SSHA}abc",
        ] {
            assert!(!verify("salasana", hash), "{hash}");
        }
        assert_eq!(detect("{SSHA}abc"), None);
    }
}
