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
    let (get, post) = (web::get, web::post);
    cfg.service(
        web::resource("/login/second-factor")
            .route(get().to(login::page))
            .route(post().to(login::submit)),
    )
    .service(
        web::resource("/login/second-factor/enrol")
            .route(get().to(enrol::page))
            .route(post().to(enrol::confirm)),
    )
    .service(web::resource("/login/second-factor/continue").route(post().to(enrol::proceed)))
    .service(web::resource("/account/second-factor").route(post().to(account::start)))
    .service(web::resource("/account/second-factor/confirm").route(post().to(account::confirm)))
    .service(web::resource("/account/recovery-codes").route(post().to(account::renew)));
}
