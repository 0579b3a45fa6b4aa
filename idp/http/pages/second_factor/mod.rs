//! The second factor's pages: a one-time code or a recovery code after the password (`login`),
//! the enrolment of a one-time code inside a login that needs one (`enrol`), the account page's
//! forms of an authority user (`account`), and what they show (`render`).

pub mod account;
pub mod enrol;
pub mod login;
pub mod render;

use actix_web::web;

/// The second factor's routes, under `/{tenant}`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login/second-factor", web::get().to(login::page))
        .route("/login/second-factor", web::post().to(login::submit))
        .route("/login/second-factor/enrol", web::get().to(enrol::page))
        .route("/login/second-factor/enrol", web::post().to(enrol::confirm))
        .route(
            "/login/second-factor/continue",
            web::post().to(enrol::proceed),
        )
        .route("/account/second-factor", web::post().to(account::start))
        .route(
            "/account/second-factor/confirm",
            web::post().to(account::confirm),
        )
        .route("/account/recovery-codes", web::post().to(account::renew));
}
