//! The domain: what the service does, in plain Rust with no HTTP types.
//!
//! A flow takes validated input and a connection (or the store), runs its queries in one
//! transaction, and returns a typed result or its own error enum (`error.rs` says which when).
//! The modules below the flows, which several of them share: `context` (the request's
//! [`context::Minter`]), `error`, `lookup` (an account by its identifier), `former` (the old
//! accounts bound to a user), `mail_link` and `mail_limit` (what every mailed link and mail
//! goes through). A flow of several files re-exports its entry points from its `mod.rs`
//! (`pub use self::…`, as a file and its entry may share a name); its types and constants are
//! imported from the file that defines them.

pub mod account;
pub mod context;
pub mod deletion;
pub mod email_change;
pub mod error;
pub mod export;
pub mod former;
pub mod keys;
pub mod legacy_admin;
pub mod legacy_import;
pub mod linker;
pub mod location;
pub mod lookup;
pub mod mail_limit;
pub mod mail_link;
pub mod notice;
pub mod oidc;
pub mod passkeys;
pub mod password_check;
pub mod register;
pub mod reset;
pub mod second_factor;
pub mod support;
pub mod users;
