//! Cryptography: password hashing now; signing keys and tokens join it with the protocol.

pub mod password;
