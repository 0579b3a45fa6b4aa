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
    let (get, post) = (web::get, web::post);
    cfg.service(web::resource("/account/passkeys").route(post().to(account::add)))
        .service(web::resource("/account/passkeys/options").route(post().to(account::add_options)))
        .service(web::resource("/account/passkeys/rename").route(post().to(account::rename)))
        .service(web::resource("/account/passkeys/remove").route(post().to(account::remove)))
        .service(
            web::resource("/account/passkeys/confirm-options")
                .route(post().to(account::confirm_options)),
        )
        .service(
            web::resource("/passkey-offer")
                .route(get().to(offer::page))
                .route(post().to(offer::not_now)),
        )
        .service(web::resource("/passkey-offer/options").route(post().to(offer::add_options)))
        .service(web::resource("/passkey-offer/add").route(post().to(offer::add)))
        .service(web::resource("/login/passkey").route(post().to(login::login)))
        .service(web::resource("/login/passkey/options").route(post().to(login::login_options)))
        .service(web::resource("/login/second-factor/passkey").route(post().to(second::second)))
        .service(
            web::resource("/login/second-factor/passkey/options")
                .route(post().to(second::second_options)),
        )
        .service(
            web::resource("/login/second-factor/passkey-enrol").route(post().to(second::enrol)),
        )
        .service(
            web::resource("/login/second-factor/passkey-enrol/options")
                .route(post().to(second::enrol_options)),
        );
}
