//! The domain: what the service does, in plain Rust with no HTTP types.
//!
//! A flow takes validated input and a connection (or the store), runs its queries in one
//! transaction, and returns a typed result or its own error enum.

pub mod account;
pub mod email_change;
pub mod keys;
pub mod legacy_admin;
pub mod legacy_import;
pub mod linker;
pub mod mail_limit;
pub mod mail_link;
pub mod oidc;
pub mod password_check;
pub mod register;
pub mod reset;
pub mod users;
