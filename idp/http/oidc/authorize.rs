//! `GET|POST {issuer}/authorize`: an authorization request, in the query or a form body.

use actix_web::http::StatusCode;

use crate::flows::oidc::authorize;
use crate::http::extract::TenantRequest;
use crate::http::pages::error::PageResult;

/// Starts (or, with a session, answers) an authorization request; what the flow decided is
/// rendered by `View::outcome`.
pub async fn authorize(request: TenantRequest) -> PageResult {
    let params = request.params();
    let view = request.view(&params);
    let Ok(params) = params else {
        return Ok(view.error(StatusCode::BAD_REQUEST, "bad_request"));
    };
    let session = view.cookie("session");
    let binding = view.binding.clone();
    let lang = view.lang;
    let outcome = view
        .flow(move |m, conn| authorize::start(m, conn, &params, session.as_deref(), &binding, lang))
        .await?;
    Ok(view.outcome(outcome))
}
