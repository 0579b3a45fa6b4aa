//! `GET {issuer}/.well-known/openid-configuration`: the tenant's provider metadata.
//!

use actix_web::{HttpResponse, web};

use super::{AppState, HttpError};
use crate::flows::oidc::discovery;

/// The discovery document of the tenant in the path.
pub async fn openid_configuration(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(discovery::document(&state.config, tenant)))
}
