//! idp — an OpenID Connect provider for the e-services of Finnish cities.
//!
//! The crate is layered as `docs/architecture.md` draws it, highest first; a layer uses only
//! those below it, and `tests/layers/` checks that no file of it takes part in an import cycle:
//!
//! - [`cli`]: the `idp` binary's command line over the layers below;
//! - [`http`]: actix-web handlers, thin — extract, call one flow, render;
//! - [`app`]: what a running node holds (`Services`), its start-up and background tasks;
//! - [`flows`]: the domain (login journey, OIDC endpoints, linker, admin), plain Rust;
//! - [`mail`]: mail templates, the outbox and its transports;
//! - [`store`]: diesel over SQLite or PostgreSQL, all SQL lives there;
//! - [`crypto`]: password hashing, signing keys, random secrets and their hashes;
//! - [`i18n`]: the fi/sv/en translations and the choice of language;
//! - [`telemetry`]: the log subscriber;
//! - [`config`]: the typed configuration and its validation;
//! - [`domain`]: validated values (email addresses, new passwords, names);
//! - [`clock`]: the only reader of the wall clock.

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
