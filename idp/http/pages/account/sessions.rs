//! The account page's sessions and e-services (`templates/pages/account_sessions.html`): the
//! section's context, ending one session (`POST /{tenant}/account/sessions/end`, "this" one
//! logging this browser out) and revoking one e-service (`POST /{tenant}/account/services/revoke`).

use actix_web::http::StatusCode;
use serde::Serialize;

use crate::flows::account::sessions::{self, Overview};
use crate::http::pages::dates::moment;
use crate::http::pages::error::{PageError, PageResult};
use crate::http::pages::extract::{Posted, SignedIn};
use crate::http::pages::view::View;

/// A session as the section lists it.
#[derive(Serialize)]
struct ListedSession<'a> {
    id: &'a str,
    this: bool,
    browser: Option<&'a str>,
    location: Option<&'a str>,
    started: String,
    last_used: String,
}

/// An e-service as the section lists it.
#[derive(Serialize)]
struct ListedService<'a> {
    client_id: &'a str,
    name: &'a str,
    scope: &'a str,
    since: String,
    offline: bool,
}

/// Adds the section's context to the account page's: the user's live `sessions` and the
/// e-services (`services`) that hold their consent or offline access.
pub fn section(view: &View, overview: &Overview, context: &mut tera::Context) {
    let listed: Vec<ListedSession<'_>> = overview
        .sessions
        .iter()
        .map(|s| ListedSession {
            id: &s.id,
            this: s.this,
            browser: s.browser.as_deref(),
            location: s.location.as_deref(),
            started: moment(view, s.started),
            last_used: moment(view, s.last_used),
        })
        .collect();
    context.insert("sessions", &listed);
    let services: Vec<ListedService<'_>> = overview
        .services
        .iter()
        .map(|s| ListedService {
            client_id: &s.client_id,
            name: &s.name,
            scope: &s.scope,
            since: moment(view, s.since),
            offline: s.offline,
        })
        .collect();
    context.insert("services", &services);
}

/// The user's sessions and e-services read again after a change.
async fn reload(signed: &mut SignedIn<Posted>) -> Result<(), PageError> {
    let (user, this) = (signed.user.clone(), signed.session_id.clone());
    signed.sessions = signed
        .view()
        .flow(move |m, conn| sessions::overview(m, conn, &user, &this))
        .await?;
    Ok(())
}

/// `POST /{tenant}/account/sessions/end`: ends the user's session `session`. This browser's own
/// ends with the "logged out" page and the cookie removed; another's, with the account page.
pub async fn end(mut signed: SignedIn<Posted>) -> PageResult {
    let id = signed.page.field("session");
    let this = id == signed.session_id;
    let user = signed.user.clone();
    let ended = signed
        .change(move |m, conn| sessions::end_own_session(m, conn, &user, &id))
        .await?;
    if !ended {
        // Not a live session of this resident: another's, ended meanwhile, or made up.
        reload(&mut signed).await?;
        return Ok(signed.show_refused("sessions-unknown", StatusCode::NOT_FOUND));
    }
    if this {
        let view = signed.view();
        let page = view.respond(StatusCode::OK, "logged_out.html", &view.context());
        return Ok(view.signed_out(page));
    }
    reload(&mut signed).await?;
    Ok(signed.show(Some("sessions-ended"), None, StatusCode::OK))
}

/// `POST /{tenant}/account/services/revoke`: revokes what the e-service `client` holds of the
/// user (consent, grants, refresh tokens) and tells it by back-channel logout.
pub async fn revoke(mut signed: SignedIn<Posted>) -> PageResult {
    let client = signed.page.field("client");
    let user = signed.user.clone();
    let revoked = signed
        .change(move |m, conn| sessions::revoke_service(m, conn, &user, &client))
        .await?;
    reload(&mut signed).await?;
    Ok(if revoked {
        signed.show(Some("sessions-service-revoked"), None, StatusCode::OK)
    } else {
        signed.show_refused("sessions-service-unknown", StatusCode::NOT_FOUND)
    })
}
