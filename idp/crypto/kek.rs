//! The key-encryption key: AES-256-GCM over signing keys' private parts (and one-time codes'
//! secrets) before they are stored, and the keys HKDF-SHA256 derives from it for a purpose and a
//! tenant ([`Kek::mac`]: the recovery codes' HMAC).
//!
//! It comes from `keys.encryption_key` (or `IDP__KEYS__ENCRYPTION_KEY`), 32 bytes in base64. When
//! none is configured, a development key is generated into a file (mode 0600) with a warning:
//! fine for a laptop, never for production, where the key must live outside the database's backups.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{hkdf, hmac};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::keys::b64;
use crate::config::{MalformedKey, encryption_key_bytes};

/// A loaded key-encryption key.
pub struct Kek {
    key: LessSafeKey,
    /// HKDF-Extract of the same 32 bytes (no salt): what [`Kek::mac`]'s keys are expanded from.
    derive: hkdf::Prk,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(REDACTED)")
    }
}

/// The key-encryption key is unusable, or a ciphertext does not open.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// Not 32 bytes of base64.
    #[error(transparent)]
    Malformed(#[from] MalformedKey),
    /// The development key file could not be read or written.
    #[error("development key file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Encryption failed.
    #[error("sealing a key failed")]
    Seal,
    /// HKDF refused to derive a key (never for the lengths used here).
    #[error("deriving a key from the key-encryption key failed")]
    Derive,
    /// Wrong key, or the stored value was altered.
    #[error("a stored key does not decrypt: wrong keys.encryption_key, or the row was altered")]
    Decrypt,
}

impl Kek {
    /// From the configured base64 text.
    pub fn from_base64(text: &str) -> Result<Kek, KekError> {
        let bytes = encryption_key_bytes(text)?;
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| MalformedKey)?;
        Ok(Kek {
            key: LessSafeKey::new(key),
            derive: hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(&bytes),
        })
    }

    /// Reads the development key at `path`, creating it when missing. Returns the key and whether
    /// it was created now.
    pub fn development(path: &Path) -> Result<(Kek, bool), KekError> {
        let file_error = |reason: String| KekError::File {
            path: path.display().to_string(),
            reason,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Kek::from_base64(&text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir).map_err(|e| file_error(e.to_string()))?;
                }
                let bytes: [u8; 32] = rand::random();
                let text = STANDARD.encode(bytes);
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| file_error(e.to_string()))?;
                file.write_all(format!("{text}\n").as_bytes())
                    .map_err(|e| file_error(e.to_string()))?;
                Ok((Kek::from_base64(&text)?, true))
            }
            Err(e) => Err(file_error(e.to_string())),
        }
    }

    /// Encrypts `plaintext`, bound to `context` (the key id): base64url(nonce || ciphertext || tag).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String, KekError> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut buffer = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| KekError::Seal)?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buffer);
        Ok(b64(&out))
    }

    /// Decrypts what [`Kek::seal`] made with the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, KekError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| KekError::Decrypt)?;
        if bytes.len() < NONCE_LEN {
            return Err(KekError::Decrypt);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KekError::Decrypt)?;
        let mut buffer = ciphertext.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| KekError::Decrypt)?;
        Ok(plaintext.to_vec())
    }

    /// HMAC-SHA256 of `message`, hex, under the key HKDF-SHA256 derives from this key for
    /// `label` and `tenant` (`info` is the label, a NUL byte and the tenant's id): one key per
    /// purpose and tenant, none of them the key-encryption key itself, and none known to whoever
    /// holds only the database.
    pub fn mac(&self, label: &str, tenant: &str, message: &[u8]) -> Result<String, KekError> {
        let info: [&[u8]; 3] = [label.as_bytes(), b"\0", tenant.as_bytes()];
        let okm = self
            .derive
            .expand(&info, hmac::HMAC_SHA256)
            .map_err(|_| KekError::Derive)?;
        let key = hmac::Key::from(okm);
        Ok(hex::encode(hmac::sign(&key, message).as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_bound_to_context() {
        let kek = Kek::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        let sealed = kek.seal("kid-1", b"private key").unwrap();
        assert_eq!(kek.open("kid-1", &sealed).unwrap(), b"private key");
        assert!(matches!(kek.open("kid-2", &sealed), Err(KekError::Decrypt)));
        let other = Kek::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        assert!(matches!(
            other.open("kid-1", &sealed),
            Err(KekError::Decrypt)
        ));
        assert!(matches!(
            Kek::from_base64("c2hvcnQ="),
            Err(KekError::Malformed(_))
        ));
    }

    #[test]
    fn macs_are_hkdf_sha256_keys_per_label_and_tenant() {
        use ::hmac::{Hmac, Mac};
        type HmacSha256 = Hmac<sha2::Sha256>;
        fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            let mut mac = HmacSha256::new_from_slice(key).unwrap();
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }
        let bytes = [7u8; 32];
        let kek = Kek::from_base64(&STANDARD.encode(bytes)).unwrap();
        let mac = kek.mac("label v1", "seinajoki", b"message").unwrap();
        // RFC 5869 by hand: PRK = HMAC(zero salt, IKM); one block T(1) = HMAC(PRK, info || 1).
        let prk = hmac(&[0u8; 32], &[&bytes]);
        let key = hmac(&prk, &[b"label v1\0seinajoki", &[1u8]]);
        assert_eq!(mac, hex::encode(hmac(&key, &[b"message"])));
        // Not the key-encryption key itself, nor the message's plain hash.
        assert_ne!(mac, hex::encode(hmac(&bytes, &[b"message"])));
        assert_ne!(mac, super::super::secret::hash("message"));
        // Another label, tenant or key-encryption key: another value.
        assert_ne!(mac, kek.mac("label v2", "seinajoki", b"message").unwrap());
        assert_ne!(mac, kek.mac("label v1", "kouvola", b"message").unwrap());
        let other = Kek::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        assert_ne!(mac, other.mac("label v1", "seinajoki", b"message").unwrap());
    }

    #[test]
    fn development_key_is_created_once_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/kek.dev");
        let (first, created) = Kek::development(&path).unwrap();
        assert!(created);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let sealed = first.seal("k", b"x").unwrap();
        let (second, created) = Kek::development(&path).unwrap();
        assert!(!created);
        assert_eq!(second.open("k", &sealed).unwrap(), b"x");
    }
}
