//! `POST {issuer}/token`.

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{form, no_store_json, oauth_error, presented};
use crate::flows::oidc::token;
use crate::http::{AppState, HttpError};

/// Exchanges a code, a refresh token or client credentials for tokens.
pub async fn token(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    state.known_tenant(&path)?;
    let result = async {
        let params = form(&req, &body)?;
        let presented = presented(&req, &params)?;
        let presented = super::verify_assertion(&state, &path, "token", presented).await;
        state
            .oidc(&path, move |m, conn| {
                token::exchange(m, conn, &presented, &params)
            })
            .await
    }
    .await;
    Ok(match result {
        Ok(response) => no_store_json(&response),
        Err(error) => oauth_error(&error),
    })
}
