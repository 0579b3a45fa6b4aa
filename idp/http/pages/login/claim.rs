//! The claim of an old account at an address in use: its old password
//! (`POST /{tenant}/login/claim`, keep-password) or the link mailed to the shared address
//! (`GET /{tenant}/claim?token=…`), then the claimant's own address (`POST /{tenant}/claim`).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use secrecy::SecretString;

use super::form::{LoginForm, shown};
use crate::crypto::hash_pool::Share;
use crate::flows::linker;
use crate::flows::linker::claim_address::Claimed;
use crate::flows::linker::claims::ClaimPrepared;
use crate::flows::password_check::Attempt;
use crate::http::pages::error::PageResult;
use crate::http::pages::extract::Posted;
use crate::http::pages::mail::SentFor;
use crate::http::pages::view::View;

/// `POST /{tenant}/login/claim`: the old password of an old account claimed at an address in use
/// (keep-password); on a match, the own-address page. A wrong password reads and counts exactly
/// like one at login.
pub async fn claim(login: LoginForm) -> PageResult {
    let view = &login.view;
    let account = login.field("account");
    let password_text = SecretString::from(login.field("password"));
    let binding = view.binding.clone();
    let (id, who, chosen) = (
        login.request_id.clone(),
        login.identifier.clone(),
        account.clone(),
    );
    let prepared = view
        .flow(move |m, conn| linker::prepare_claim(m, conn, &id, &binding, &who, &chosen))
        .await?;
    let check = match prepared {
        ClaimPrepared::Check(check) => check,
        ClaimPrepared::Expired => return Ok(view.error(StatusCode::BAD_REQUEST, "expired")),
    };
    let username = check.username().map(str::to_string);
    let attempt = Attempt {
        account: check.key.clone(),
        address: view.client_address(),
        session: None,
        share: Share::Login,
        client: Some(check.client_id.clone()),
        also: None,
    };
    let matched = view
        .check_password(
            &attempt,
            check.stored.clone(),
            password_text,
            |_| (),
            ("login-throttled", |key, status| {
                login.claim_password_page(&account, None, Some(key), status)
            }),
        )
        .await?;
    let matches = matched.is_some();
    let finished = view
        .flow(move |m, conn| linker::finish_claim(m, conn, *check, matches))
        .await?;
    Ok(match finished {
        Some(proven) => address_page(view, &proven.token, &proven.username, "", None),
        None => login.claim_password_page(
            &account,
            username.as_deref(),
            Some("login-failed"),
            StatusCode::UNAUTHORIZED,
        ),
    })
}

/// `GET /{tenant}/claim?token=…`: the claim link mailed to a shared address proved the old
/// account; the own-address page (the token is in the query, never in a path).
pub async fn claim_page(mut view: View) -> PageResult {
    let token = view.query("token");
    view.in_login_of_link(&token).await;
    let username = view.link_target(&token, linker::claim_target).await?;
    Ok(address_page(&view, &token, &username, "", None))
}

/// `POST /{tenant}/claim`: the claimant's own address; a link to it (or, to an address in use, a
/// notice) is mailed, and the page reads the same either way.
pub async fn claim_submit(Posted { mut view, params }: Posted) -> PageResult {
    let token = params.get("token").cloned().unwrap_or_default();
    view.in_login_of_link(&token).await;
    let typed = params.get("email").cloned().unwrap_or_default();
    let username = view.link_target(&token, linker::claim_target).await?;
    let given = crate::domain::Email::parse(&typed).ok();
    let Some(email) = given.filter(crate::domain::Email::can_be_given) else {
        let invalid = Some("email-invalid");
        return Ok(address_page(&view, &token, &username, &typed, invalid));
    };
    let mails = view.state.services.mails.clone();
    let language = view.lang;
    let written = view
        .mail_flow(move |m, conn| linker::submit_claim(m, conn, &mails, &token, &email, language))
        .await?;
    Ok(match written {
        Claimed::Mailed(mail_id) => {
            let step = SentFor::Claim("claim_address");
            view.link_sent(mail_id.as_deref(), step, None).await
        }
        Claimed::Expired => view.link_expired(),
    })
}

/// The claim's own-address page, after the old account was proven.
fn address_page(
    view: &View,
    token: &str,
    username: &str,
    email: &str,
    error: Option<&str>,
) -> HttpResponse {
    let mut context = view.context();
    context.insert("step", "address");
    context.insert("token", token);
    context.insert("username", &shown(view, username));
    context.insert("email", email);
    view.form_page("claim.html", context, error)
}
