//! The login's first page: `GET /{tenant}/login?request=…` and `POST /{tenant}/login/identifier`.

use actix_web::http::StatusCode;

use super::form::{LoginForm, identifier_page};
use super::route::follow;
use crate::flows::linker;
use crate::flows::linker::route::Route;
use crate::flows::oidc::pending::Step;
use crate::http::pages::error::PageResult;
use crate::http::pages::view::View;
use crate::http::util::see_other;

/// `GET /{tenant}/login?request=…`: the identifier page, in the login's language.
pub async fn page(mut view: View) -> PageResult {
    let request_id = view.query("request");
    // A bookmark of the login, or a link to it: no e-service asked, so the login is the account
    // page's, which returns there.
    let asked = url::form_urlencoded::parse(view.req.query_string().as_bytes())
        .any(|(name, _)| name == "request");
    if !asked {
        let issuer = view.state.config.issuer(&view.tenant);
        return Ok(see_other(&format!("{issuer}/account")));
    }
    let pending = view
        .pending(&request_id, view.cookie("flow"), Step::Login)
        .await?;
    let request = pending.request;
    view.prefer(request.ui_locales.as_deref());
    // The login's language, kept from its start (or chosen since with the selector).
    view.adopt(request.lang);
    let hint = request.login_hint.unwrap_or_default();
    Ok(identifier_page(&view, &request_id, &hint, None))
}

/// `POST /{tenant}/login/identifier`: on to the password page — or, for the first login of an
/// old account, to the linker: the choice between several accounts of the address, or the mailed
/// set-password link (email-link policy, or no usable old hash).
///
/// A known or unknown address of the new system leads to the same password page, with the same
/// wording, unless the tenant reveals unknown identifiers; so does an old account proven by its
/// password (one at the address, or an authority's old username): its page carries no `account`
/// field, the password step finds the one old account itself (`linker::password_target`). The
/// linker's other pages do show that the address had an old account: the resident must be told
/// to read their mail, or to choose (the seeds do so).
pub async fn identifier(login: LoginForm) -> PageResult {
    // Only a login of this browser, at its first step, goes on (a linker's mail names it).
    let flow = login.view.cookie("flow");
    login
        .view
        .pending(&login.request_id, flow, Step::Login)
        .await?;
    if login.identifier.is_empty() {
        let missing = Some(("identifier-missing", None));
        return Ok(identifier_page(&login.view, &login.request_id, "", missing));
    }
    let who = login.identifier.clone();
    let route = login
        .view
        .flow(move |m, conn| linker::route(m, conn, &who))
        .await?;
    match route {
        // The page of an unknown identifier, byte for byte.
        Route::Password { .. } => Ok(login.password_page(None, None, StatusCode::OK)),
        route => follow(&login, route).await,
    }
}
