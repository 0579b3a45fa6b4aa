//! idp — an OpenID Connect provider for the e-services of Finnish cities.
//!
//! The crate is layered as `docs/architecture.md` draws it:
//!
//! - [`http`]: actix-web handlers, thin — parse, call one flow, render;
//! - [`flows`]: the domain (login journey, OIDC endpoints, linker, admin), plain Rust;
//! - [`store`]: diesel over SQLite or PostgreSQL, all SQL lives there;
//! - [`crypto`]: password hashing, signing keys, random secrets and their hashes;
//! - [`mail`]: mail templates, the outbox and its transports;
//! - [`i18n`]: the fi/sv/en translations and the choice of language;
//! - [`config`]: the typed configuration and its validation;
//! - [`domain`]: validated protocol values (emails, tenant ids).
//!
//! [`cli`] is the `idp` binary's command line over these layers.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod flows;
pub mod http;
pub mod i18n;
pub mod mail;
pub mod store;
pub mod telemetry;
