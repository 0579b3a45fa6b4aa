//! Registration: `GET|POST /{tenant}/register`, `GET|POST /{tenant}/register/complete?token=…`.

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::{ExposeSecret, SecretString};

use super::authorize::render;
use super::query_param;
use super::reset::ANSWER_AT_LEAST;
use crate::crypto::password;
use crate::domain::{Email, NewPassword};
use crate::flows::oidc::OAuthError;
use crate::flows::register::{self, Account, Finished};
use crate::http::pages::View;
use crate::http::{AppState, HttpError};

fn register_page(
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
    view.respond(status, "register.html", &context)
}

/// `GET /{tenant}/register?request=…`
pub async fn page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let mut view = View::new(&state, &req, tenant, None);
    let request_id = query_param(&req, "request").unwrap_or_default();
    view.in_login(&request_id).await;
    Ok(register_page(&view, &request_id, "", None))
}

/// `POST /{tenant}/register`: mails the link (or "you have an account"), the same page either way.
pub async fn start(
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
        return Ok(register_page(
            &view,
            request_id.as_deref().unwrap_or(""),
            &typed,
            Some("email-invalid"),
        ));
    };
    let mails = state.services.mails.clone();
    let language = view.lang;
    let address = email.to_string();
    let written = state
        .oidc(&path, move |m, conn| {
            register::start(m, conn, &mails, &email, language, request_id.as_deref())
        })
        .await;
    let failed = match written {
        Ok(Some(mail_id)) => state.services.send_failed(&mail_id).await,
        // A reached mail limit reads as sent.
        Ok(None) => false,
        Err(error) => return Ok(render(&view, Err(error))),
    };
    if let Some(rest) = ANSWER_AT_LEAST.checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let mut context = view.context();
    context.insert("failed", &failed);
    context.insert("email", &address);
    context.insert("minutes", &(state.config.settings.tokens.link_seconds / 60));
    let status = if failed {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    Ok(view.respond(status, "register_sent.html", &context))
}

fn complete_page(
    view: &View<'_>,
    token: &str,
    email: &str,
    name: &str,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let mut context = view.context();
    context.insert("token", token);
    context.insert("email", email);
    context.insert("name", name);
    context.insert("error", &error);
    context.insert("min", &view.tenant.min_password_chars());
    view.respond(status, "register_complete.html", &context)
}

fn expired(view: &View<'_>) -> HttpResponse {
    let mut context = view.context();
    context.insert("reason", "link_expired");
    context.insert("message_key", "link-expired");
    view.respond(StatusCode::GONE, "error.html", &context)
}

/// `GET /{tenant}/register/complete?token=…`: name and password.
pub async fn complete_form(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let mut view = View::new(&state, &req, tenant, None);
    let token = query_param(&req, "token").unwrap_or_default();
    view.in_login_of_link(&token).await;
    let probe = token.clone();
    let email = state
        .oidc(&path, move |m, conn| register::link_email(m, conn, &probe))
        .await;
    Ok(match email {
        Ok(Some(email)) => complete_page(&view, &token, &email, "", None, StatusCode::OK),
        Ok(None) => expired(&view),
        Err(error) => render(&view, Err(error)),
    })
}

/// `POST /{tenant}/register/complete`: creates the account.
pub async fn complete(
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
    let email = params.get("username").cloned().unwrap_or_default();
    let name = params
        .get("name")
        .map(|n| n.trim().to_string())
        .unwrap_or_default();
    let first = SecretString::from(params.get("password").cloned().unwrap_or_default());
    let second = params.get("password2").cloned().unwrap_or_default();
    let refuse = |key: &str| {
        complete_page(
            &view,
            &token,
            &email,
            &name,
            Some(key),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    if let Err(error) = crate::domain::parse_name(&name) {
        return Ok(refuse(error.message_key()));
    }
    if first.expose_secret() != second {
        return Ok(refuse("password-mismatch"));
    }
    let password = match NewPassword::parse_with(first, tenant.min_password_chars()) {
        Ok(password) => password,
        Err(error) => return Ok(refuse(error.message_key())),
    };
    let hash = match state
        .services
        .hashing
        .run(move || password::hash(password.secret()))
        .await
    {
        Ok(Ok(hash)) => hash,
        Ok(Err(error)) => return Ok(render(&view, Err(OAuthError::server(error)))),
        Err(_) => return Ok(view.error(StatusCode::SERVICE_UNAVAILABLE, "busy")),
    };
    let mails = state.services.mails.clone();
    let binding = view.binding.clone();
    let language = view.lang;
    let (token_owned, name_owned) = (token.clone(), name.clone());
    let finished = state
        .oidc(&path, move |m, conn| {
            let account = Account {
                token: &token_owned,
                name: Some(name_owned.as_str()).filter(|n| !n.is_empty()),
                password_hash: &hash,
                language,
            };
            register::finish(m, conn, &mails, &account, &binding)
        })
        .await;
    // The welcome mail leaves with the next round of the worker.
    Ok(match finished {
        Ok(Finished::Expired) => expired(&view),
        Ok(Finished::Created) => {
            view.respond(StatusCode::OK, "account_created.html", &view.context())
        }
        Ok(Finished::Continue { cookie, outcome }) => {
            let mut response = render(&view, Ok(outcome));
            let cookie = state.cookie(state.cookie_name("session", &path), cookie, None);
            if let Err(error) = response.add_cookie(&cookie) {
                tracing::error!(%error, "cannot set the session cookie");
            }
            response
        }
        Err(error) => render(&view, Err(error)),
    })
}
