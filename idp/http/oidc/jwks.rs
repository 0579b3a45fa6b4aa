//! `GET {issuer}/jwks`: the tenant's public keys (RFC 7517), cacheable for a while.

use actix_web::{HttpResponse, web};

use crate::http::{AppState, HttpError};

/// The JWKS document, serialised when the keys were loaded.
pub async fn jwks(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    state.known_tenant(&path)?;
    let ring = state.services.keys.current();
    let body = ring
        .tenant(&path)
        .map(|keys| keys.jwks().to_string())
        .unwrap_or_else(|| r#"{"keys":[]}"#.to_string());
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .content_type("application/jwk-set+json")
        .body(body))
}
