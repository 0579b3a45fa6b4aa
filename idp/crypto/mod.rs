//! Cryptography: password hashing, signing keys and their encryption at rest, random secrets,
//! one-time codes and recovery codes.

pub mod hash_pool;
pub mod kek;
pub mod keyring;
pub mod keys;
pub mod legacy;
pub mod pace;
pub mod password;
pub mod secret;
pub mod totp;
