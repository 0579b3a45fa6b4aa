//! Where an identifier leads (`flows::linker::Route`): the password page, the identifier page
//! again (an unknown address, when the tenant reveals it), the choice between old accounts, a
//! claim's first step, or a mailed link and the page that says so.

use actix_web::http::StatusCode;

use super::form::{LoginForm, identifier_page};
use crate::flows::linker;
use crate::flows::linker::route::Route;
use crate::http::pages::error::PageResult;
use crate::http::pages::mail::SentFor;
use crate::store::legacy::LegacyRow;

/// The page `route` leads to. The old account of [`Route::Password`] rides on the password page
/// only after the chooser, whose page has named it already: the identifier step shows an
/// unknown identifier's page instead (`identifier.rs`).
pub async fn follow(login: &LoginForm, route: Route) -> PageResult {
    let ok = StatusCode::OK;
    Ok(match route {
        Route::Account => login.password_page(None, None, ok),
        Route::Unknown if login.view.tenant.reveal_unknown_identifier => identifier_page(
            &login.view,
            &login.request_id,
            &login.identifier,
            Some(("identifier-unknown", Some("identifier-unknown-hint"))),
        ),
        Route::Unknown => login.password_page(None, None, ok),
        Route::Password { account } => login.password_page(Some(&account), None, ok),
        Route::SendLink(account) => return send_legacy_link(login, *account).await,
        Route::Choose(accounts) => login.choose_page(&accounts, false, None),
        Route::Shared(accounts) => login.choose_page(&accounts, true, None),
        Route::ClaimPassword(account) => {
            login.claim_password_page(&account.id, Some(&account.username), None, ok)
        }
        Route::ClaimLink(account) => return send_claim_link(login, *account).await,
        Route::Crowded => login.view.error(StatusCode::CONFLICT, "crowded_address"),
    })
}

/// The pending request of the login, `None` when there is none.
fn pending(login: &LoginForm) -> Option<String> {
    Some(login.request_id.clone()).filter(|r| !r.is_empty())
}

/// Mails the set-password link of an old account and says so (or says plainly that the mail
/// could not be sent, with the support contact).
async fn send_legacy_link(login: &LoginForm, account: LegacyRow) -> PageResult {
    let to = account.email.clone().unwrap_or_default();
    let view = &login.view;
    let mail_id = view
        .mail_legacy_link(account, to, pending(login), None)
        .await?;
    let request = pending(login);
    Ok(view
        .link_sent(mail_id.as_deref(), SentFor::Legacy, request.as_deref())
        .await)
}

/// Mails the claim link of an old account to its (shared) address.
async fn send_claim_link(login: &LoginForm, account: LegacyRow) -> PageResult {
    let (view, request) = (&login.view, pending(login));
    let (mails, language) = (view.state.services.mails.clone(), view.lang);
    let asked = request.clone();
    let mail_id = view
        .mail_flow(move |m, conn| {
            linker::send_claim_link(m, conn, &mails, &account, language, asked.as_deref())
        })
        .await?;
    Ok(view
        .link_sent(
            mail_id.as_deref(),
            SentFor::Claim("claim"),
            request.as_deref(),
        )
        .await)
}
