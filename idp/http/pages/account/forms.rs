//! `GET /{tenant}/account` and its own forms: the name, the password, signing out everywhere.
//! Without a session the resident logs in first and comes back here (`SignedIn`).

use actix_web::http::StatusCode;
use secrecy::SecretString;

use super::current::CurrentPassword;
use crate::crypto::password;
use crate::flows::account;
use crate::flows::error::FlowError;
use crate::http::pages::check::new_password;
use crate::http::pages::error::PageResult;
use crate::http::pages::extract::{Posted, SignedIn};
use crate::http::pages::view::OrPage;
use crate::http::util;

/// `GET /{tenant}/account`, and `GET /{tenant}/account/export` (the download is a POST of the
/// page's form: a GET, which any site can make a browser send, only shows the page)
pub async fn page(signed: SignedIn) -> PageResult {
    // A change answered by a redirect here says what it did (`?done=`), from this list only.
    let done = signed.view().query("done");
    let message = DONE.iter().copied().find(|key| *key == done);
    Ok(signed.show(message, None, StatusCode::OK))
}

/// The messages a redirect to the account page may ask it to show (`?done=`).
const DONE: &[&str] = &["password-changed"];

/// `POST /{tenant}/account/name`
pub async fn name(mut signed: SignedIn<Posted>) -> PageResult {
    let typed = signed.page.field("name");
    let name = match crate::domain::parse_name(&typed) {
        Ok(name) => name,
        Err(error) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(signed.show_refused(error.message_key(), status));
        }
    };
    let (changed, saved) = (signed.user.clone(), name.clone());
    signed
        .counted_change(move |m, conn| account::set_name(m, conn, &changed, saved.as_deref()))
        .await?;
    signed.user.name = name;
    Ok(signed.show(Some("name-saved"), None, StatusCode::OK))
}

/// `POST /{tenant}/account/password`: the current password, then the new one.
pub async fn change_password(signed: SignedIn<Posted>) -> PageResult {
    let params = &signed.page.params;
    let password_text = SecretString::from(signed.page.field("current"));
    let first = SecretString::from(signed.page.field("password"));
    let second = params.get("password2").map(String::as_str);
    let min = signed.view().tenant.min_password_chars();
    let new_password = match new_password(first, second, min) {
        Ok(password) => password,
        Err(key) => return Ok(signed.show_refused(key, StatusCode::UNPROCESSABLE_ENTITY)),
    };
    let current = CurrentPassword {
        check: "account.password",
        throttled: "account-password-throttled",
        wrong: "current-password-wrong",
    };
    let hash = signed
        .current_password(&current, password_text, move |_| {
            password::hash(new_password.secret())
        })
        .await?
        .map_err(FlowError::server)
        .or_page(signed.view())?;
    let (changed, session_id) = (signed.user.clone(), signed.session_id.clone());
    let (mails, language) = (
        signed.view().state.services.mails.clone(),
        signed.view().lang,
    );
    let kept = signed
        .change(move |m, conn| {
            let new = (hash.as_str(), language);
            account::set_password(m, conn, &mails, &changed, &session_id, new)
        })
        .await?;
    // Answered by a redirect to the page (which says so): a reload of the answer does not post
    // the old password again, which the new session would check against the new one ("wrong",
    // and a strike).
    let view = signed.view();
    let base = view.state.config.settings.server.public_base();
    let done = format!("{base}/{}/account?done=password-changed", view.tenant.id);
    let response = view.attach(util::see_other(&done));
    Ok(match kept {
        Some(session) => signed.view().with_session(response, session),
        None => response,
    })
}

/// `POST /{tenant}/account/logout-everywhere`
pub async fn logout_everywhere(signed: SignedIn<Posted>) -> PageResult {
    let user = signed.user.clone();
    signed
        .change(move |m, conn| account::sign_out_everywhere(m, conn, &user))
        .await?;
    let view = signed.view();
    let page = view.respond(StatusCode::OK, "logged_out.html", &view.context());
    Ok(view.signed_out(page))
}
