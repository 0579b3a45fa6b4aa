//! `POST /{tenant}/login/password`: the password, then the session, and on with the request.
//!
//! The check runs in three parts so that argon2 holds no database connection:
//! `login::prepare` (the pending request, the account, the hash to check), the throttled check
//! in the hashing pool, then `login::finish` (audit a failure, or start the session and go on; or,
//! when the account changed in between, start nothing and say so: 409).

use actix_web::http::StatusCode;
use secrecy::SecretString;

use super::form::LoginForm;
use crate::crypto::hash_pool::Share;
use crate::flows::error::FlowError;
use crate::flows::oidc::login::{self, LoginResult, Prepared, Verified};
use crate::flows::password_check::Attempt;
use crate::http::pages::account::deletion::pending_page as deletion_pending;
use crate::http::pages::error::PageResult;
use crate::http::pages::view::OrPage;

/// `POST /{tenant}/login/password`: checks the password and goes on with the request.
pub async fn password(login: LoginForm) -> PageResult {
    let view = &login.view;
    let chosen = login
        .params
        .get("account")
        .cloned()
        .filter(|a| !a.is_empty());
    let password_text = SecretString::from(login.field("password"));
    let remember = login.params.get("remember").is_some_and(|r| r == "yes");
    let binding = view.binding.clone();
    let (id, who, bound) = (
        login.request_id.clone(),
        login.identifier.clone(),
        binding.clone(),
    );
    let chosen_account = chosen.clone();
    let prepared = view
        .flow(move |m, conn| {
            login::prepare(m, conn, &id, Some(&bound), &who, chosen_account.as_deref())
        })
        .await?;
    let check = match prepared {
        Prepared::Check(check) => check,
        Prepared::Expired => return Ok(view.error(StatusCode::BAD_REQUEST, "expired")),
    };
    let attempt = Attempt {
        account: check.account.clone(),
        address: view.client_address(),
        session: None,
        share: Share::Login,
        client: Some(check.client_id().to_string()),
        also: None,
    };
    let refused = |key, status| login.password_page(chosen.as_deref(), Some(key), status);
    let verified = view
        .check_password(
            &attempt,
            check.stored.clone(),
            password_text,
            Verified::after_match(check.rehash()),
            ("login-throttled", refused),
        )
        .await?;
    let verified = match verified {
        Some(verified) => verified.map_err(FlowError::server).or_page(view)?,
        None => Verified::wrong(),
    };
    let session = view.cookie("session");
    let result = view
        .flow(move |m, conn| {
            let session = session.as_deref();
            login::finish(m, conn, *check, verified, remember, &binding, session)
        })
        .await?;
    Ok(match result {
        LoginResult::Done(next) => view.go_on(next),
        LoginResult::Failed => refused("login-failed", StatusCode::UNAUTHORIZED),
        LoginResult::Interrupted => refused("login-interrupted", StatusCode::CONFLICT),
        LoginResult::Deleting(erase_at) => deletion_pending(view, erase_at),
    })
}
