//! `GET|POST {issuer}/authorize` and the rendering of every authorization outcome.

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde::Serialize;
use sha2::Digest;

use super::{cookie_value, form, params};
use crate::flows::oidc::OAuthError;
use crate::flows::oidc::authorize::{self, AuthResponse, Outcome};
use crate::flows::oidc::request::{Params, ResponseMode};
use crate::http::pages::{FORM_POST_SCRIPT, View};
use crate::http::{AppState, HttpError};

/// An authorization request in the query.
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    state.known_tenant(&path)?;
    let params = params(req.query_string().as_bytes());
    Ok(handle(&state, &path, &req, params).await)
}

/// An authorization request in a form body.
pub async fn post(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    state.known_tenant(&path)?;
    let params = form(&req, &body);
    Ok(handle(&state, &path, &req, params).await)
}

async fn handle(
    state: &AppState,
    tenant: &str,
    req: &HttpRequest,
    params: Result<Params, OAuthError>,
) -> HttpResponse {
    let Some(tenant_config) = state.config.tenant(tenant) else {
        return HttpResponse::NotFound().finish();
    };
    let ui_locales = params
        .as_ref()
        .ok()
        .and_then(|p| p.get("ui_locales").cloned());
    let view = View::new(state, req, tenant_config, ui_locales.as_deref());
    let Ok(params) = params else {
        return view.error(StatusCode::BAD_REQUEST, "bad_request");
    };
    let session = cookie_value(state, req, "session", tenant);
    let binding = view.binding.clone();
    let lang = view.lang;
    let outcome = state
        .oidc(tenant, move |m, conn| {
            authorize::start(m, conn, &params, session.as_deref(), &binding, lang)
        })
        .await;
    render(&view, outcome)
}

/// Renders what the authorization flow decided (setting the flow cookie when new).
pub fn render(view: &View<'_>, outcome: Result<Outcome, OAuthError>) -> HttpResponse {
    let state = view.state;
    let tenant = &view.tenant.id;
    let response = match outcome {
        Ok(Outcome::Respond(response)) => respond(view, &response),
        Ok(Outcome::Login { request_id }) => see_other(&format!(
            "{}/{tenant}/login?request={request_id}",
            state.config.settings.server.public_base()
        )),
        Ok(Outcome::Consent { request_id }) => see_other(&format!(
            "{}/{tenant}/consent?request={request_id}",
            state.config.settings.server.public_base()
        )),
        Ok(Outcome::Page(reason)) => return view.error(StatusCode::BAD_REQUEST, reason),
        Err(error) if error.code == crate::flows::oidc::ErrorCode::TemporarilyUnavailable => {
            return view.error(StatusCode::SERVICE_UNAVAILABLE, "busy");
        }
        Err(_) => return view.error(StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    };
    view.attach(response)
}

/// A 303 to `location`.
///
/// A control character (which no header value may hold) is percent-encoded, so no location, however
/// it was put together, turns the answer into a 500.
pub fn see_other(location: &str) -> HttpResponse {
    let location: String = location
        .chars()
        .map(|c| {
            if c.is_ascii_control() {
                format!("%{:02X}", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect();
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

#[derive(Serialize)]
struct Param<'a> {
    name: &'a str,
    value: &'a str,
}

/// The answer to the client: a redirect with the parameters in the query, or a form post.
fn respond(view: &View<'_>, response: &AuthResponse) -> HttpResponse {
    let state = view.state;
    let Ok(mut url) = url::Url::parse(&response.redirect_uri) else {
        return view.error(StatusCode::BAD_REQUEST, "unregistered_redirect_uri");
    };
    match response.response_mode {
        ResponseMode::Query => {
            if !response.params.is_empty() {
                let mut query = url.query_pairs_mut();
                for (name, value) in &response.params {
                    query.append_pair(name, value);
                }
            }
            see_other(url.as_str())
        }
        ResponseMode::FormPost => {
            let params: Vec<Param<'_>> = response
                .params
                .iter()
                .map(|(name, value)| Param { name, value })
                .collect();
            let mut context = tera::Context::new();
            context.insert("redirect_uri", &response.redirect_uri);
            context.insert("params", &params);
            context.insert("script", FORM_POST_SCRIPT);
            let mut page = state
                .pages
                .respond(StatusCode::OK, "form_post.html", &context);
            let script_hash = base64::engine::general_purpose::STANDARD
                .encode(sha2::Sha256::digest(FORM_POST_SCRIPT.as_bytes()));
            let origin = match url.origin() {
                origin @ url::Origin::Tuple(..) => origin.ascii_serialization(),
                // A native app's private-use scheme has no origin: allow the scheme.
                url::Origin::Opaque(_) => format!("{}:", url.scheme()),
            };
            let csp = format!(
                "default-src 'none'; script-src 'sha256-{script_hash}'; form-action {origin}; frame-ancestors 'none'; base-uri 'none'"
            );
            if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&csp) {
                page.headers_mut()
                    .insert(actix_web::http::header::CONTENT_SECURITY_POLICY, value);
            }
            page
        }
    }
}
