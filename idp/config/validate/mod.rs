//! Checks that serde cannot make: URLs that must be absolute, combinations of keys, names, ranges.
//!
//! `main_file.rs` checks the main file, `production.rs` what is unsafe on a public server (in
//! the main file and the tenants), `tenant.rs` a tenant file, `clients.rs` its clients,
//! `factors.rs` its second factors and passkeys, `statement.rs` what it publishes (privacy
//! notice, accessibility statement); `rules.rs` holds what they share (URIs, hosts, ranges of
//! numbers).

mod clients;
mod factors;
mod main_file;
mod production;
mod rules;
mod statement;
mod tenant;

pub(super) use self::main_file::settings;
#[cfg(test)]
pub(super) use self::production::DEMO_CLIENT_SECRETS;
pub(super) use self::production::production;
pub(super) use tenant::tenant;
