//! The passkey pages: adding, renaming and removing passkeys on the account page (`account`), the
//! offer after a password login (`offer`), logging in with a passkey (`login`), a passkey as the
//! second factor or its enrolment (`second`), and what they share (`answer`).
//!
//! A ceremony is two requests: the script posts the page's CSRF token (and the pending login) to
//! an `…/options` endpoint, which answers JSON (`{"ceremony", "options"}`); it hands the options
//! to `navigator.credentials`, puts the ceremony's id and the credential (JSON) into hidden fields
//! of the page's form, and submits it, so that the answer is a page or a redirect as with any
//! form. Without a script the buttons stay hidden and every other form works.

pub mod account;
pub mod answer;
pub mod login;
pub mod offer;
pub mod second;

use actix_web::web;

/// The passkey routes, under `/{tenant}`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/account/passkeys", web::post().to(account::add))
        .route(
            "/account/passkeys/options",
            web::post().to(account::add_options),
        )
        .route("/account/passkeys/rename", web::post().to(account::rename))
        .route("/account/passkeys/remove", web::post().to(account::remove))
        .route(
            "/account/passkeys/confirm-options",
            web::post().to(account::confirm_options),
        )
        .route("/passkey-offer", web::get().to(offer::page))
        .route("/passkey-offer", web::post().to(offer::not_now))
        .route("/passkey-offer/options", web::post().to(offer::add_options))
        .route("/passkey-offer/add", web::post().to(offer::add))
        .route("/login/passkey", web::post().to(login::login))
        .route(
            "/login/passkey/options",
            web::post().to(login::login_options),
        )
        .route(
            "/login/second-factor/passkey",
            web::post().to(second::second),
        )
        .route(
            "/login/second-factor/passkey/options",
            web::post().to(second::second_options),
        )
        .route(
            "/login/second-factor/passkey-enrol",
            web::post().to(second::enrol),
        )
        .route(
            "/login/second-factor/passkey-enrol/options",
            web::post().to(second::enrol_options),
        );
}
