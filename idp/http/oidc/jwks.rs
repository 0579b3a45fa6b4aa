//! `GET {issuer}/jwks`: the tenant's public keys (RFC 7517), cacheable for a while.

use actix_web::HttpResponse;

use crate::http::extract::TenantRequest;

/// The JWKS document, serialised when the keys were loaded.
pub async fn jwks(request: TenantRequest) -> HttpResponse {
    let ring = request.state.services.keys.current();
    let body = ring
        .tenant(&request.tenant.id)
        .map(|keys| keys.jwks().to_string())
        .unwrap_or_else(|| r#"{"keys":[]}"#.to_string());
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .insert_header(crate::http::cors::ANY_PAGE)
        .content_type("application/jwk-set+json")
        .body(body)
}
