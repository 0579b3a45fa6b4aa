//! Tests of loading, overriding and rejecting configuration files: `main_file.rs` for the main
//! file and its environment overrides, `tenant_file.rs` for a tenant's files, `production.rs`
//! for what a public server refuses; `jail.rs` holds the fixture they share (a main file and a
//! tenant in a `figment::Jail`).

mod jail;
mod main_file;
mod production;
mod tenant_file;
