//! Integration tests: the real server on 127.0.0.1:0, real HTTP, and the real `idp` binary, on a
//! fresh SQLite file and — when `IDP_TEST_POSTGRES_URL` is set — a fresh PostgreSQL database.
//!
//! Every test written with [`both_stores!`] runs once per store. Under `CI=true` a missing
//! PostgreSQL fails the PostgreSQL half; elsewhere that half is skipped with a printed reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::allow_attributes,
    missing_docs,
    reason = "tests"
)]

mod helpers;

mod account;
mod account_sessions;
mod acr;
mod audit;
mod audit_chain;
mod audit_export;
mod backup;
mod browser;
mod cleanup;
mod cli;
mod config_changes;
mod cors;
mod deletion;
mod export;
mod faults;
mod faults_load;
mod faults_postgres;
mod forgot;
mod hashing;
mod http;
mod keys;
mod legacy_import;
mod linker;
mod linker_edges;
mod linker_family;
mod mail_limits;
mod malformed;
mod metrics;
mod node;
mod oidc;
mod oidc_backchannel;
mod oidc_edges;
mod oidc_limits;
mod oidc_login_again;
mod oidc_logout;
mod oidc_par;
mod oidc_pending_cap;
mod oidc_private_key_jwt;
mod oidc_tokens;
mod pages;
mod passkeys;
mod passkeys_login;
mod pool;
mod readiness;
mod recovery;
mod recovery_race;
mod refresh_families;
mod register;
mod rp;
mod scale_out;
mod schema;
mod second_factor;
mod second_factor_account;
mod second_factor_recovery;
mod statement;
mod statements;
mod tenants;
mod throttle;
mod traces;
mod writer_turn;
