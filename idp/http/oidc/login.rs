//! The stand-in login and consent pages of a pending authorization request.

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;

use super::authorize::render;
use super::{cookie_value, form};
use crate::flows::oidc::authorize;
use crate::flows::oidc::login::{self, LoginResult};
use crate::http::{AppState, HttpError};

fn request_param(req: &HttpRequest) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "request")
        .map(|(_, v)| v.into_owned())
}

fn login_page(
    state: &AppState,
    tenant: &str,
    request_id: &str,
    identifier: &str,
    failed: bool,
) -> HttpResponse {
    let mut context = tera::Context::new();
    let name = state
        .config
        .tenant(tenant)
        .map(|t| t.name.as_str())
        .unwrap_or(tenant);
    context.insert("tenant_name", name);
    context.insert("request_id", request_id);
    context.insert("identifier", identifier);
    context.insert("failed", &failed);
    context.insert(
        "action",
        &format!(
            "{}/{tenant}/login",
            state.config.settings.server.public_base()
        ),
    );
    state.pages.respond(StatusCode::OK, "login.html", &context)
}

/// `GET /{tenant}/login?request=…`: the password form.
pub async fn page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    state.known_tenant(&path)?;
    let Some(request_id) = request_param(&req) else {
        return Ok(state.pages.error(StatusCode::BAD_REQUEST, "expired"));
    };
    let binding = cookie_value(&state, &req, "flow", &path);
    let id = request_id.clone();
    let pending = state
        .oidc(&path, move |m, conn| {
            authorize::pending(m, conn, &id, binding.as_deref())
        })
        .await;
    Ok(match pending {
        Ok(Some((_, pending))) => {
            let hint = pending.request.login_hint.unwrap_or_default();
            login_page(&state, &path, &request_id, &hint, false)
        }
        Ok(None) => state.pages.error(StatusCode::BAD_REQUEST, "expired"),
        Err(error) => render(&state, &path, Err(error)),
    })
}

/// `POST /{tenant}/login`: checks the password and goes on with the request.
pub async fn submit(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    state.known_tenant(&path)?;
    let Ok(params) = form(&req, &body) else {
        return Ok(state.pages.error(StatusCode::BAD_REQUEST, "bad_request"));
    };
    let request_id = params.get("request").cloned().unwrap_or_default();
    let identifier = params.get("identifier").cloned().unwrap_or_default();
    let password = SecretString::from(params.get("password").cloned().unwrap_or_default());
    let binding = cookie_value(&state, &req, "flow", &path);
    let (id, who) = (request_id.clone(), identifier.clone());
    let result = state
        .oidc(&path, move |m, conn| {
            login::login(m, conn, &id, binding.as_deref(), &who, password)
        })
        .await;
    Ok(match result {
        Ok(LoginResult::Done { cookie, outcome }) => {
            let mut response = render(&state, &path, Ok(outcome));
            let cookie = state.cookie(state.cookie_name("session", &path), cookie, None);
            if let Err(error) = response.add_cookie(&cookie) {
                tracing::error!(%error, "cannot set the session cookie");
            }
            response
        }
        Ok(LoginResult::Failed) => login_page(&state, &path, &request_id, &identifier, true),
        Ok(LoginResult::Expired) => state.pages.error(StatusCode::BAD_REQUEST, "expired"),
        Err(error) => render(&state, &path, Err(error)),
    })
}

/// `GET /{tenant}/consent?request=…`: what the client asks for.
pub async fn consent_page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    state.known_tenant(&path)?;
    let Some(request_id) = request_param(&req) else {
        return Ok(state.pages.error(StatusCode::BAD_REQUEST, "expired"));
    };
    let binding = cookie_value(&state, &req, "flow", &path);
    let id = request_id.clone();
    let pending = state
        .oidc(&path, move |m, conn| {
            authorize::pending(m, conn, &id, binding.as_deref())
        })
        .await;
    Ok(match pending {
        Ok(Some((_, pending))) => {
            let tenant = state.config.tenant(&path);
            let client_name = tenant
                .and_then(|t| t.client(&pending.request.client_id))
                .map(|c| c.name.clone().unwrap_or_else(|| c.client_id.clone()))
                .unwrap_or_default();
            let mut context = tera::Context::new();
            context.insert(
                "tenant_name",
                &tenant.map(|t| t.name.clone()).unwrap_or_default(),
            );
            context.insert("client_name", &client_name);
            context.insert("scope", &pending.request.scope_string());
            context.insert("request_id", &request_id);
            context.insert(
                "action",
                &format!(
                    "{}/{}/consent",
                    state.config.settings.server.public_base(),
                    path
                ),
            );
            state
                .pages
                .respond(StatusCode::OK, "consent.html", &context)
        }
        Ok(None) => state.pages.error(StatusCode::BAD_REQUEST, "expired"),
        Err(error) => render(&state, &path, Err(error)),
    })
}

/// `POST /{tenant}/consent`: the resident's answer.
pub async fn consent(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    state.known_tenant(&path)?;
    let Ok(params) = form(&req, &body) else {
        return Ok(state.pages.error(StatusCode::BAD_REQUEST, "bad_request"));
    };
    let request_id = params.get("request").cloned().unwrap_or_default();
    let approve = params.get("decision").is_some_and(|d| d == "approve");
    let binding = cookie_value(&state, &req, "flow", &path);
    let session = cookie_value(&state, &req, "session", &path);
    let result = state
        .oidc(&path, move |m, conn| {
            login::consent(
                m,
                conn,
                &request_id,
                binding.as_deref(),
                session.as_deref(),
                approve,
            )
        })
        .await;
    Ok(match result {
        Ok(Some(outcome)) => render(&state, &path, Ok(outcome)),
        Ok(None) => state.pages.error(StatusCode::BAD_REQUEST, "expired"),
        Err(error) => render(&state, &path, Err(error)),
    })
}
