//! The resident's pages: server-rendered tera templates in the resident's language, complete
//! without JavaScript.
//!
//! A page handler takes its extractors ([`View`](view::View), [`Posted`](extract::Posted),
//! [`SignedIn`](extract::SignedIn), `login::form::LoginForm`), returns
//! [`PageResult`](error::PageResult) and uses `?`: a refused form, a flow's error
//! (`or_page`, `View::flow`) or a missing session ends it with the page that says so.

pub mod account;
pub mod check;
pub mod consent;
pub mod dates;
pub mod error;
pub mod extract;
pub mod language;
pub mod login;
pub mod mail;
pub mod outcome;
pub mod passkeys;
pub mod register;
pub mod reset;
pub mod second_factor;
pub mod statement;
pub mod templates;
pub mod view;

use actix_web::web;

/// The pages' routes, to be mounted under `/{tenant}`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use account::{email, forms, legacy};
    use login::{choose, claim, identifier, password};
    cfg.route("/login", web::get().to(identifier::page))
        .route("/login/identifier", web::post().to(identifier::identifier))
        .route("/login/choose", web::post().to(choose::choose))
        .route("/login/password", web::post().to(password::password))
        .route("/login/claim", web::post().to(claim::claim))
        .route("/claim", web::get().to(claim::claim_page))
        .route("/claim", web::post().to(claim::claim_submit))
        .route("/language", web::post().to(language::language))
        .route("/accessibility", web::get().to(statement::accessibility))
        .route("/forgot", web::get().to(reset::forgot))
        .route("/forgot", web::post().to(reset::send))
        .route("/reset", web::get().to(reset::reset_form))
        .route("/reset", web::post().to(reset::reset_submit))
        .route("/account", web::get().to(forms::page))
        .route("/account/name", web::post().to(forms::name))
        .route("/account/password", web::post().to(forms::change_password))
        .route(
            "/account/logout-everywhere",
            web::post().to(forms::logout_everywhere),
        )
        .route("/account/email", web::post().to(email::change_email))
        .route("/account/legacy", web::post().to(legacy::link_legacy))
        .route("/account/export", web::get().to(forms::page))
        .route("/account/export", web::post().to(account::export::download))
        .route(
            "/account/sessions/end",
            web::post().to(account::sessions::end),
        )
        .route(
            "/account/services/revoke",
            web::post().to(account::sessions::revoke),
        )
        .route(
            "/account/delete",
            web::get().to(account::deletion::confirm_page),
        )
        .route("/account/delete", web::post().to(account::deletion::delete))
        .route(
            "/account/undo-deletion",
            web::get().to(account::deletion::undo_form),
        )
        .route(
            "/account/undo-deletion",
            web::post().to(account::deletion::undo),
        )
        .route("/email/confirm", web::get().to(email::confirm_form))
        .route("/email/confirm", web::post().to(email::confirm_email))
        .route("/email/undo", web::get().to(email::undo_form))
        .route("/email/undo", web::post().to(email::undo))
        .route("/register", web::get().to(register::page))
        .route("/register", web::post().to(register::start))
        .route("/register/complete", web::get().to(register::complete_form))
        .route("/register/complete", web::post().to(register::complete))
        .route("/consent", web::get().to(consent::consent_page))
        .route("/consent", web::post().to(consent::consent))
        .configure(passkeys::routes)
        .configure(second_factor::routes);
}
