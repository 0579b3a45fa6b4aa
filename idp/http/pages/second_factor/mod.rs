//! The second factor's pages: a one-time code or a recovery code after the password, and the
//! enrolment of a one-time code.

use actix_web::web;

/// The second factor's routes, under `/{tenant}`.
pub fn routes(_cfg: &mut web::ServiceConfig) {}
