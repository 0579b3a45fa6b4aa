//! `GET|POST {issuer}/logout`: RP-initiated logout 1.0.

use actix_web::http::{Method, StatusCode};
use serde::Serialize;

use crate::flows::oidc::logout::{self, LogoutOutcome};
use crate::flows::oidc::request::Params;
use crate::http::extract::TenantRequest;
use crate::http::pages::error::PageResult;
use crate::http::pages::outcome::AGAIN;
use crate::http::pages::view::View;
use crate::http::util::see_other;

/// Logout with the parameters in the query, or in a form (from the client, or from our
/// confirmation page).
pub async fn logout(request: TenantRequest) -> PageResult {
    let params = request.params();
    let view = request.view(&params);
    let Ok(params) = params else {
        return Ok(view.error(StatusCode::BAD_REQUEST, "bad_request"));
    };
    handle(&view, params).await
}

#[derive(Serialize)]
struct Param {
    name: String,
    value: String,
}

async fn handle(view: &View, mut params: Params) -> PageResult {
    let session = view.cookie("session");
    let had_session = session.is_some();
    // An e-service's form, posted from its own site without our cookies: posted again from our
    // own page, with them (`View::again_with_cookies`), or the session would not end (our
    // confirmation page posts with them).
    let posted = view.req.method() == Method::POST;
    if posted && session.is_none() && !params.contains_key("confirm") {
        let endpoint = format!("{}/logout", view.state.config.issuer(&view.tenant));
        if let Some(again) = view.again_with_cookies(&endpoint, &params) {
            return Ok(again);
        }
    }
    params.remove(AGAIN);
    // Confirmed on our own page: the form carries a token only this browser's cookie can match.
    let confirmed =
        params.get("confirm").is_some_and(|c| c == "yes") && view.csrf_ok(params.get("csrf"));
    params.remove("confirm");
    params.remove("csrf");
    let flow_params = params.clone();
    let outcome = view
        .flow(move |m, conn| logout::logout(m, conn, &flow_params, session.as_deref(), confirmed))
        .await?;
    Ok(match outcome {
        LogoutOutcome::Done { redirect } => {
            let done = match redirect {
                Some(uri) => view.attach(see_other(&uri)),
                None => view.respond(StatusCode::OK, "logged_out.html", &view.context()),
            };
            // Only a cookie this request came with is removed: a post from another site's page
            // comes without it, ends nothing, and must not make the browser forget a session
            // that lives on.
            if had_session {
                view.signed_out(done)
            } else {
                done
            }
        }
        LogoutOutcome::Confirm => {
            let mut fields: Vec<Param> = params
                .into_iter()
                .map(|(name, value)| Param { name, value })
                .collect();
            fields.sort_by(|a, b| a.name.cmp(&b.name));
            let mut context = view.context();
            context.insert("params", &fields);
            view.respond(StatusCode::OK, "logout_confirm.html", &context)
        }
        LogoutOutcome::Page(reason) => view.error(StatusCode::BAD_REQUEST, reason),
    })
}
