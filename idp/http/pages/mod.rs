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
pub mod csp;
pub mod csrf;
pub mod dates;
pub mod error;
pub mod extract;
pub mod frame;
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
    let (get, post) = (web::get, web::post);
    cfg.service(web::resource("/login").route(get().to(identifier::page)))
        .service(web::resource("/login/identifier").route(post().to(identifier::identifier)))
        .service(web::resource("/login/choose").route(post().to(choose::choose)))
        .service(web::resource("/login/password").route(post().to(password::password)))
        .service(web::resource("/login/claim").route(post().to(claim::claim)))
        .service(
            web::resource("/claim")
                .route(get().to(claim::claim_page))
                .route(post().to(claim::claim_submit)),
        )
        .service(web::resource("/language").route(post().to(language::language)))
        .service(web::resource("/accessibility").route(get().to(statement::accessibility)))
        .service(
            web::resource("/forgot")
                .route(get().to(reset::forgot))
                .route(post().to(reset::send)),
        )
        .service(
            web::resource("/reset")
                .route(get().to(reset::reset_form))
                .route(post().to(reset::reset_submit)),
        )
        .service(web::resource("/account").route(get().to(forms::page)))
        .service(web::resource("/account/name").route(post().to(forms::name)))
        .service(web::resource("/account/password").route(post().to(forms::change_password)))
        .service(
            web::resource("/account/logout-everywhere").route(post().to(forms::logout_everywhere)),
        )
        .service(web::resource("/account/email").route(post().to(email::change_email)))
        .service(web::resource("/account/legacy").route(post().to(legacy::link_legacy)))
        .service(web::resource("/account/legacy/other").route(post().to(legacy::link_other)))
        .service(
            web::resource("/account/export")
                .route(get().to(forms::page))
                .route(post().to(account::export::download)),
        )
        .service(web::resource("/account/sessions/end").route(post().to(account::sessions::end)))
        .service(
            web::resource("/account/services/revoke").route(post().to(account::sessions::revoke)),
        )
        .service(
            web::resource("/account/delete")
                .route(get().to(account::deletion::confirm_page))
                .route(post().to(account::deletion::delete)),
        )
        .service(
            web::resource("/account/undo-deletion")
                .route(get().to(account::deletion::undo_form))
                .route(post().to(account::deletion::undo)),
        )
        .service(
            web::resource("/email/confirm")
                .route(get().to(email::confirm_form))
                .route(post().to(email::confirm_email)),
        )
        .service(
            web::resource("/email/undo")
                .route(get().to(email::undo_form))
                .route(post().to(email::undo)),
        )
        .service(
            web::resource("/register")
                .route(get().to(register::page))
                .route(post().to(register::start)),
        )
        .service(
            web::resource("/register/complete")
                .route(get().to(register::complete_form))
                .route(post().to(register::complete)),
        )
        .service(
            web::resource("/consent")
                .route(get().to(consent::consent_page))
                .route(post().to(consent::consent)),
        )
        .configure(passkeys::routes)
        .configure(second_factor::routes);
}
