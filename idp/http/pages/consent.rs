//! Consent: `GET /{tenant}/consent?request=…` (what the client asks for) and
//! `POST /{tenant}/consent` (the resident's answer).

use actix_web::http::StatusCode;

use super::error::PageResult;
use super::extract::Posted;
use super::view::View;
use crate::flows::oidc::login;
use crate::flows::oidc::pending::Step;

/// `GET /{tenant}/consent?request=…`: what the client asks for.
pub async fn consent_page(mut view: View) -> PageResult {
    let request_id = view.query("request");
    view.in_login(&request_id).await;
    // Only a request at the consent (a half-done login's is at its second factor).
    let pending = view
        .pending(&request_id, Some(view.binding.clone()), Step::Consent)
        .await?;
    let client_name = view
        .tenant
        .client(&pending.request.client_id)
        .map(|c| c.name.clone().unwrap_or_else(|| c.client_id.clone()))
        .unwrap_or_default();
    let mut context = view.context();
    context.insert("client_name", &client_name);
    // Each scope in the resident's words (the four understood: `supported::SCOPES`).
    let scope_keys: Vec<String> = pending
        .request
        .scope
        .iter()
        .map(|scope| format!("consent-scope-{scope}"))
        .collect();
    context.insert("scope_keys", &scope_keys);
    // As the request named them, for a city's own `consent.html` written before the list.
    context.insert("scope", &pending.request.scope_string());
    context.insert("request_id", &request_id);
    Ok(view.respond(StatusCode::OK, "consent.html", &context))
}

/// `POST /{tenant}/consent`: the resident's answer.
pub async fn consent(Posted { mut view, params }: Posted) -> PageResult {
    let request_id = params.get("request").cloned().unwrap_or_default();
    view.in_login(&request_id).await;
    let approve = params.get("decision").is_some_and(|d| d == "approve");
    let binding = Some(view.binding.clone());
    let session = view.cookie("session");
    let outcome = view
        .flow(move |m, conn| {
            let (binding, session) = (binding.as_deref(), session.as_deref());
            login::consent(m, conn, &request_id, binding, session, approve)
        })
        .await?;
    Ok(match outcome {
        Some(outcome) => view.outcome(outcome),
        None => view.error(StatusCode::BAD_REQUEST, "expired"),
    })
}
