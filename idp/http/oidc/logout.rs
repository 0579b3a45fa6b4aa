//! `GET|POST {issuer}/logout`: RP-initiated logout 1.0.

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::authorize::{render, see_other};
use super::{cookie_value, form, params};
use crate::flows::oidc::logout::{self, LogoutOutcome};
use crate::flows::oidc::request::Params;
use crate::http::pages::View;
use crate::http::{AppState, HttpError};

/// Logout with the parameters in the query.
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let params = params(req.query_string().as_bytes());
    let view = View::new(&state, &req, tenant, ui_locales(&params));
    let Ok(params) = params else {
        return Ok(view.error(StatusCode::BAD_REQUEST, "bad_request"));
    };
    Ok(handle(&view, &req, params).await)
}

/// Logout with the parameters in a form (from the client, or from our confirmation page).
pub async fn post(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let params = form(&req, &body);
    let view = View::new(&state, &req, tenant, ui_locales(&params));
    let Ok(params) = params else {
        return Ok(view.error(StatusCode::BAD_REQUEST, "bad_request"));
    };
    Ok(handle(&view, &req, params).await)
}

fn ui_locales<E>(params: &Result<Params, E>) -> Option<&str> {
    params
        .as_ref()
        .ok()
        .and_then(|p| p.get("ui_locales"))
        .map(String::as_str)
}

#[derive(Serialize)]
struct Param {
    name: String,
    value: String,
}

async fn handle(view: &View<'_>, req: &HttpRequest, mut params: Params) -> HttpResponse {
    let state = view.state;
    let tenant = view.tenant.id.clone();
    let session = cookie_value(state, req, "session", &tenant);
    // Confirmed on our own page: the form carries a token only this browser's cookie can match.
    let confirmed =
        params.get("confirm").is_some_and(|c| c == "yes") && view.csrf_ok(params.get("csrf"));
    params.remove("confirm");
    params.remove("csrf");
    let flow_params = params.clone();
    let outcome = state
        .oidc(&tenant, move |m, conn| {
            logout::logout(m, conn, &flow_params, session.as_deref(), confirmed)
        })
        .await;
    match outcome {
        Ok(LogoutOutcome::Done { redirect }) => {
            let mut response = match redirect {
                Some(uri) => view.attach(see_other(&uri)),
                None => view.respond(StatusCode::OK, "logged_out.html", &view.context()),
            };
            let mut gone = state.cookie(
                state.cookie_name("session", &tenant),
                String::new(),
                Some(0),
            );
            gone.make_removal();
            if let Err(error) = response.add_cookie(&gone) {
                tracing::error!(%error, "cannot clear the session cookie");
            }
            response
        }
        Ok(LogoutOutcome::Confirm) => {
            let mut fields: Vec<Param> = params
                .into_iter()
                .map(|(name, value)| Param { name, value })
                .collect();
            fields.sort_by(|a, b| a.name.cmp(&b.name));
            let mut context = view.context();
            context.insert("params", &fields);
            view.respond(StatusCode::OK, "logout_confirm.html", &context)
        }
        Ok(LogoutOutcome::Page(reason)) => view.error(StatusCode::BAD_REQUEST, reason),
        Err(error) => render(view, Err(error)),
    }
}
