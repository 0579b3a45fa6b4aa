//! Tests of loading, overriding and rejecting configuration files: `main_file.rs` for the main
//! file and its environment overrides, `tenant_file.rs` for a tenant's files; `jail.rs` holds the
//! fixture they share (a main file and a tenant in a `figment::Jail`).

mod jail;
mod main_file;
mod tenant_file;
