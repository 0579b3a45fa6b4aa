//! `POST {issuer}/par` (RFC 9126).

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{form, oauth_error, presented};
use crate::flows::oidc::par;
use crate::http::{AppState, HttpError};

/// Stores a pushed authorization request; 201 with its `request_uri`.
pub async fn push(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    state.known_tenant(&path)?;
    let result = async {
        let params = form(&req, &body)?;
        let presented = presented(&req, &params)?;
        let presented = super::verify_assertion(&state, &path, "par", presented).await;
        state
            .oidc(&path, move |m, conn| {
                par::push(m, conn, &presented, &params)
            })
            .await
    }
    .await;
    Ok(match result {
        Ok(pushed) => HttpResponse::Created()
            .insert_header(("Cache-Control", "no-store"))
            .json(pushed),
        Err(error) => oauth_error(&error),
    })
}
