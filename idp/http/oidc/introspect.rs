//! `POST {issuer}/introspect` (RFC 7662).

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{form, no_store_json, oauth_error, presented};
use crate::flows::oidc::introspect;
use crate::http::{AppState, HttpError};

/// Tells an authenticated client whether its token is active.
pub async fn introspect(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    state.known_tenant(&path)?;
    let result = async {
        let params = form(&req, &body)?;
        let presented = presented(&req, &params)?;
        let presented = super::verify_assertion(&state, &path, "introspect", presented).await;
        state
            .oidc(&path, move |m, conn| {
                introspect::introspect(m, conn, &presented, &params)
            })
            .await
    }
    .await;
    Ok(match result {
        Ok(answer) => no_store_json(&answer),
        Err(error) => oauth_error(&error),
    })
}
