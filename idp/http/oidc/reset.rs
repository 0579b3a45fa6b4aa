//! Forgot password: `GET|POST /{tenant}/forgot`, `GET|POST /{tenant}/reset?token=…`.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::{ExposeSecret, SecretString};

use super::authorize::render;
use super::query_param;
use crate::crypto::password;
use crate::domain::{Email, NewPassword};
use crate::flows::linker::{self, LinkTarget};
use crate::flows::reset::{self, Completed};
use crate::http::pages::View;
use crate::http::{AppState, HttpError};

/// The least time the forgot-password answer takes, so that whether a mail was written and sent
/// does not show in the timing.
pub(super) const ANSWER_AT_LEAST: Duration = Duration::from_millis(800);

fn forgot_page(
    view: &View<'_>,
    request_id: &str,
    email: &str,
    error: Option<&str>,
) -> HttpResponse {
    let mut context = view.context();
    context.insert("request_id", request_id);
    context.insert("email", email);
    context.insert("error", &error);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    view.respond(status, "forgot.html", &context)
}

/// `GET /{tenant}/forgot?request=…`
pub async fn forgot(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let mut view = View::new(&state, &req, tenant, None);
    let request_id = query_param(&req, "request").unwrap_or_default();
    view.in_login(&request_id).await;
    Ok(forgot_page(&view, &request_id, "", None))
}

/// `POST /{tenant}/forgot`: writes the link and its mail, tries to send it at once, and says
/// plainly when it could not be sent.
pub async fn send(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    let started = Instant::now();
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let mut view = View::new(&state, &req, tenant, None);
    let params = match view.form(&req, &body) {
        Ok(params) => params,
        Err(page) => return Ok(*page),
    };
    let request_id = params.get("request").cloned().filter(|r| !r.is_empty());
    view.in_login(request_id.as_deref().unwrap_or_default())
        .await;
    let typed = params.get("email").cloned().unwrap_or_default();
    let Ok(email) = Email::parse(&typed) else {
        return Ok(forgot_page(
            &view,
            request_id.as_deref().unwrap_or(""),
            &typed,
            Some("email-invalid"),
        ));
    };
    let mails = state.services.mails.clone();
    let language = view.lang;
    let written = state
        .oidc(&path, move |m, conn| {
            reset::request(m, conn, &mails, &email, language, request_id.as_deref())
        })
        .await;
    let failed = match written {
        Ok(Some(mail_id)) => state.services.send_failed(&mail_id).await,
        Ok(None) => false,
        Err(error) => return Ok(render(&view, Err(error))),
    };
    if let Some(rest) = ANSWER_AT_LEAST.checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let mut context = view.context();
    context.insert("failed", &failed);
    context.insert("minutes", &(state.config.settings.tokens.link_seconds / 60));
    let status = if failed {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    Ok(view.respond(status, "link_sent.html", &context))
}

/// What a mailed set-password link is: a reset, or the linker's (DESIGN.md §5).
#[derive(Debug, Clone, PartialEq, Eq)]
enum LinkKind {
    Reset,
    Legacy(LinkTarget),
}

impl LinkKind {
    fn legacy_username(&self) -> Option<&str> {
        match self {
            LinkKind::Reset => None,
            LinkKind::Legacy(
                LinkTarget::SetPassword { username } | LinkTarget::Confirm { username },
            ) => Some(username),
        }
    }
}

async fn link_kind(
    state: &AppState,
    tenant: &str,
    token: &str,
) -> Result<Option<LinkKind>, crate::flows::oidc::OAuthError> {
    let probe = token.to_string();
    state
        .oidc(tenant, move |m, conn| {
            if reset::usable(m, conn, &probe)? {
                return Ok(Some(LinkKind::Reset));
            }
            Ok(linker::link_target(m, conn, &probe)?.map(LinkKind::Legacy))
        })
        .await
}

fn reset_page(
    view: &View<'_>,
    token: &str,
    kind: &LinkKind,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let mut context = view.context();
    context.insert("token", token);
    context.insert("error", &error);
    context.insert("min", &view.tenant.min_password_chars());
    context.insert("legacy_username", &kind.legacy_username());
    context.insert(
        "confirm_only",
        &matches!(kind, LinkKind::Legacy(LinkTarget::Confirm { .. })),
    );
    view.respond(status, "reset.html", &context)
}

/// The page after a link did its work: the pending login goes on, or "done".
fn after_link(
    state: &AppState,
    view: &View<'_>,
    tenant: &str,
    continued: Option<(String, crate::flows::oidc::authorize::Outcome)>,
    done_page: &str,
) -> HttpResponse {
    match continued {
        Some((cookie, outcome)) => {
            let mut response = render(view, Ok(outcome));
            let cookie = state.cookie(state.cookie_name("session", tenant), cookie, None);
            if let Err(error) = response.add_cookie(&cookie) {
                tracing::error!(%error, "cannot set the session cookie");
            }
            response
        }
        None => view.respond(StatusCode::OK, done_page, &view.context()),
    }
}

/// `GET /{tenant}/reset?token=…`: the new-password page (the token is in the query, never in a
/// path, so it reaches no log).
pub async fn reset_form(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let mut view = View::new(&state, &req, tenant, None);
    let token = query_param(&req, "token").unwrap_or_default();
    view.in_login_of_link(&token).await;
    Ok(match link_kind(&state, &path, &token).await {
        Ok(Some(kind)) => reset_page(&view, &token, &kind, None, StatusCode::OK),
        Ok(None) => link_expired(&view),
        Err(error) => render(&view, Err(error)),
    })
}

fn link_expired(view: &View<'_>) -> HttpResponse {
    let mut context = view.context();
    context.insert("reason", "link_expired");
    context.insert("message_key", "link-expired");
    view.respond(StatusCode::GONE, "error.html", &context)
}

/// `POST /{tenant}/reset`: checks and sets the new password.
pub async fn reset_submit(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let mut view = View::new(&state, &req, tenant, None);
    let params = match view.form(&req, &body) {
        Ok(params) => params,
        Err(page) => return Ok(*page),
    };
    let token = params.get("token").cloned().unwrap_or_default();
    view.in_login_of_link(&token).await;
    let kind = match link_kind(&state, &path, &token).await {
        Ok(Some(kind)) => kind,
        Ok(None) => return Ok(link_expired(&view)),
        Err(error) => return Ok(render(&view, Err(error))),
    };
    let binding = view.binding.clone();
    if let LinkKind::Legacy(LinkTarget::Confirm { .. }) = kind {
        // Another old account for a resident who has one: the link is the proof.
        let completed = state
            .oidc(&path, move |m, conn| {
                linker::complete(m, conn, &token, None, &binding)
            })
            .await;
        return Ok(legacy_completed(&state, &view, &path, completed));
    }
    let first = SecretString::from(params.get("password").cloned().unwrap_or_default());
    let second = params.get("password2").cloned().unwrap_or_default();
    if first.expose_secret() != second {
        return Ok(reset_page(
            &view,
            &token,
            &kind,
            Some("password-mismatch"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    let password = match NewPassword::parse_with(first, tenant.min_password_chars()) {
        Ok(password) => password,
        Err(error) => {
            return Ok(reset_page(
                &view,
                &token,
                &kind,
                Some(error.message_key()),
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
    };
    let hashed = state
        .services
        .hashing
        .run(move || password::hash(password.secret()))
        .await;
    let hash = match hashed {
        Ok(Ok(hash)) => hash,
        Ok(Err(error)) => {
            return Ok(render(
                &view,
                Err(crate::flows::oidc::OAuthError::server(error)),
            ));
        }
        Err(_) => return Ok(view.error(StatusCode::SERVICE_UNAVAILABLE, "busy")),
    };
    if let LinkKind::Legacy(_) = kind {
        let completed = state
            .oidc(&path, move |m, conn| {
                linker::complete(m, conn, &token, Some(&hash), &binding)
            })
            .await;
        return Ok(legacy_completed(&state, &view, &path, completed));
    }
    let completed = state
        .oidc(&path, move |m, conn| {
            reset::complete(m, conn, &token, &hash, &binding)
        })
        .await;
    Ok(match completed {
        Ok(Completed::Expired) => link_expired(&view),
        Ok(Completed::Done) => after_link(&state, &view, &path, None, "password_set.html"),
        Ok(Completed::Continue { cookie, outcome }) => after_link(
            &state,
            &view,
            &path,
            Some((cookie, outcome)),
            "password_set.html",
        ),
        Err(error) => render(&view, Err(error)),
    })
}

fn legacy_completed(
    state: &AppState,
    view: &View<'_>,
    tenant: &str,
    completed: Result<linker::Completed, crate::flows::oidc::OAuthError>,
) -> HttpResponse {
    match completed {
        Ok(linker::Completed::Expired | linker::Completed::PasswordNeeded) => link_expired(view),
        Ok(linker::Completed::Done) => after_link(state, view, tenant, None, "password_set.html"),
        Ok(linker::Completed::Continue { cookie, outcome }) => after_link(
            state,
            view,
            tenant,
            Some((cookie, outcome)),
            "password_set.html",
        ),
        Err(error) => render(view, Err(error)),
    }
}
