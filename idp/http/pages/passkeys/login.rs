//! Logging in with a passkey on the identifier page: `POST /{tenant}/login/passkey/options` (the
//! options of a discoverable login, JSON, for the button and for the browser's autofill) and
//! `POST /{tenant}/login/passkey` (the browser's answer, posted as a form by the script, so that
//! the answer is a redirect or a page like any login's).

use actix_web::http::StatusCode;

use super::answer::{answer, options, refused};
use crate::flows::passkeys;
use crate::flows::passkeys::ceremony::Refusal;
use crate::flows::passkeys::login::LoggedIn;
use crate::http::pages::account::deletion::pending_page as deletion_pending;
use crate::http::pages::error::PageResult;
use crate::http::pages::extract::Posted;
use crate::http::pages::login::form::LoginForm;
use crate::http::pages::view::View;

/// `POST /{tenant}/login/passkey/options`: the options of a passkey login for the pending login
/// `request` of this browser (JSON).
pub async fn login_options(posted: Posted) -> PageResult {
    let (request, binding) = (posted.field("request"), posted.view.binding.clone());
    let started = posted
        .view
        .flow(move |m, conn| passkeys::start_login(m, conn, &request, &binding))
        .await?;
    Ok(options(started))
}

/// `POST /{tenant}/login/passkey`: the browser's answer; on with the login, or the identifier
/// page again saying why not.
pub async fn login(form: LoginForm) -> PageResult {
    let view = &form.view;
    let (ceremony, credential) = answer(&form.params);
    let (id, binding) = (form.request_id.clone(), view.binding.clone());
    let session = view.cookie("session");
    let logged_in = view
        .flow(move |m, conn| {
            let login = (id.as_str(), binding.as_str(), session.as_deref());
            passkeys::finish_login(m, conn, login, (&ceremony, &credential))
        })
        .await?;
    Ok(match logged_in {
        LoggedIn::Done(next) => view.go_on(next),
        LoggedIn::Refused(refusal) => identifier_again(view, &form.request_id, refusal),
        LoggedIn::Expired => view.error(StatusCode::BAD_REQUEST, "expired"),
        LoggedIn::Deleting(erase_at) => deletion_pending(view, erase_at),
    })
}

/// The identifier page with the passkey's refusal at the passkey button.
fn identifier_again(view: &View, request_id: &str, refusal: Refusal) -> actix_web::HttpResponse {
    let mut context = view.context();
    context.insert("request_id", request_id);
    context.insert("identifier", "");
    context.insert("error", &None::<&str>);
    context.insert("passkey_error", refusal.key());
    refused(
        view.respond(StatusCode::OK, "login.html", &context),
        refusal,
    )
}
