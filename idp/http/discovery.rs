//! `GET {issuer}/.well-known/openid-configuration`: the tenant's provider metadata.
//!
//! For now it names the issuer; the protocol issue completes the document.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::{AppState, HttpError};

/// The discovery document of the tenant in the path.
pub async fn openid_configuration(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(json!({ "issuer": state.config.issuer(tenant) })))
}
