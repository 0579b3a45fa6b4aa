//! `POST {issuer}/revoke` (RFC 7009).

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{form, oauth_error, presented};
use crate::flows::oidc::revoke;
use crate::http::{AppState, HttpError};

/// Revokes a token of the authenticated client; 200 whether or not it was valid.
pub async fn revoke(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    state.known_tenant(&path)?;
    let result = async {
        let params = form(&req, &body)?;
        let presented = presented(&req, &params)?;
        let presented = super::verify_assertion(&state, &path, "revoke", presented).await;
        state
            .oidc(&path, move |m, conn| {
                revoke::revoke(m, conn, &presented, &params)
            })
            .await
    }
    .await;
    Ok(match result {
        Ok(()) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .finish(),
        Err(error) => oauth_error(&error),
    })
}
