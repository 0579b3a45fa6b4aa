//! `GET|POST {issuer}/logout`: RP-initiated logout 1.0.

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::authorize::{render, see_other};
use super::{cookie_value, form, params};
use crate::crypto::secret;
use crate::flows::oidc::logout::{self, LogoutOutcome};
use crate::flows::oidc::request::Params;
use crate::http::{AppState, HttpError};

/// Logout with the parameters in the query.
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    state.known_tenant(&path)?;
    let Ok(params) = params(req.query_string().as_bytes()) else {
        return Ok(state.pages.error(StatusCode::BAD_REQUEST, "bad_request"));
    };
    Ok(handle(&state, &path, &req, params).await)
}

/// Logout with the parameters in a form (from the client, or from our confirmation page).
pub async fn post(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    state.known_tenant(&path)?;
    let Ok(params) = form(&req, &body) else {
        return Ok(state.pages.error(StatusCode::BAD_REQUEST, "bad_request"));
    };
    Ok(handle(&state, &path, &req, params).await)
}

#[derive(Serialize)]
struct Param {
    name: String,
    value: String,
}

async fn handle(
    state: &AppState,
    tenant: &str,
    req: &HttpRequest,
    mut params: Params,
) -> HttpResponse {
    let session = cookie_value(state, req, "session", tenant);
    let binding = cookie_value(state, req, "flow", tenant);
    // Confirmed on our own page: the form carries a token only this browser's cookie can match.
    let confirmed = params.get("confirm").is_some_and(|c| c == "yes")
        && match (params.get("csrf"), &binding) {
            (Some(csrf), Some(binding)) => secret::constant_time_eq(csrf, &secret::hash(binding)),
            _ => false,
        };
    params.remove("confirm");
    params.remove("csrf");
    let flow_params = params.clone();
    let outcome = state
        .oidc(tenant, move |m, conn| {
            logout::logout(m, conn, &flow_params, session.as_deref(), confirmed)
        })
        .await;
    match outcome {
        Ok(LogoutOutcome::Done { redirect }) => {
            let mut response = match redirect {
                Some(uri) => see_other(&uri),
                None => {
                    let mut context = tera::Context::new();
                    context.insert("tenant_name", &tenant_name(state, tenant));
                    state
                        .pages
                        .respond(StatusCode::OK, "logged_out.html", &context)
                }
            };
            let mut gone =
                state.cookie(state.cookie_name("session", tenant), String::new(), Some(0));
            gone.make_removal();
            if let Err(error) = response.add_cookie(&gone) {
                tracing::error!(%error, "cannot clear the session cookie");
            }
            response
        }
        Ok(LogoutOutcome::Confirm) => {
            let (binding, fresh) = match binding {
                Some(b) => (b, false),
                None => (secret::random_token(), true),
            };
            let mut fields: Vec<Param> = params
                .into_iter()
                .map(|(name, value)| Param { name, value })
                .collect();
            fields.sort_by(|a, b| a.name.cmp(&b.name));
            let mut context = tera::Context::new();
            context.insert("tenant_name", &tenant_name(state, tenant));
            context.insert("params", &fields);
            context.insert("csrf", &secret::hash(&binding));
            context.insert(
                "action",
                &format!(
                    "{}/{tenant}/logout",
                    state.config.settings.server.public_base()
                ),
            );
            let mut response = state
                .pages
                .respond(StatusCode::OK, "logout_confirm.html", &context);
            if fresh {
                let cookie = state.cookie(state.cookie_name("flow", tenant), binding, None);
                if let Err(error) = response.add_cookie(&cookie) {
                    tracing::error!(%error, "cannot set the flow cookie");
                }
            }
            response
        }
        Ok(LogoutOutcome::Page(reason)) => state.pages.error(StatusCode::BAD_REQUEST, reason),
        Err(error) => render(state, tenant, Err(error)),
    }
}

fn tenant_name(state: &AppState, tenant: &str) -> String {
    state
        .config
        .tenant(tenant)
        .map(|t| t.name.clone())
        .unwrap_or_default()
}
