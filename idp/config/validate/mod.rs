//! Checks that serde cannot make: URLs that must be absolute, combinations of keys, names, ranges.
//!
//! `main_file.rs` checks the main file (and what is unsafe in production), `tenant.rs` a tenant
//! file, `clients.rs` its clients, `factors.rs` its second factors and passkeys, `statement.rs`
//! what it publishes (privacy notice, accessibility statement); `rules.rs` holds
//! what they share (URIs, ranges of numbers).

mod clients;
mod factors;
mod main_file;
mod rules;
mod statement;
mod tenant;

pub(super) use self::main_file::{production, settings};
pub(super) use tenant::tenant;
