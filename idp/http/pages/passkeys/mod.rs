//! The passkey pages: adding, renaming and removing passkeys on the account page, the offer after
//! a password login, and logging in with a passkey.

use actix_web::web;

/// The passkey routes, under `/{tenant}`.
pub fn routes(_cfg: &mut web::ServiceConfig) {}
