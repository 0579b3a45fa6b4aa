//! `GET {issuer}/.well-known/openid-configuration`: the tenant's provider metadata, serialised
//! once at start (the document follows from the configuration, which a restart reloads).

use std::collections::HashMap;

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};

use super::errors::HttpError;
use super::state::AppState;
use crate::config::Config;
use crate::flows::oidc::discovery;

/// Every tenant's document as the bytes it is served as.
pub fn serialised(config: &Config) -> Result<HashMap<String, web::Bytes>, serde_json::Error> {
    config
        .tenants
        .values()
        .map(|tenant| {
            let bytes = serde_json::to_vec(&discovery::document(config, tenant))?;
            Ok((tenant.id.clone(), web::Bytes::from(bytes)))
        })
        .collect()
}

/// The discovery document of the tenant in the path.
pub async fn openid_configuration(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let document = state
        .discovery
        .get(path.as_str())
        .ok_or(HttpError::UnknownTenant)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .insert_header(crate::http::cors::ANY_PAGE)
        .content_type(ContentType::json())
        .body(document.clone()))
}
