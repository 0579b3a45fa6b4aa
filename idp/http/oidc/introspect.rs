//! `POST {issuer}/introspect` (RFC 7662).

use actix_web::HttpResponse;

use super::client_request::answer_reading;
use crate::flows::oidc::introspect;
use crate::http::extract::TenantRequest;
use crate::http::util::no_store_json;

/// Tells an authenticated client whether its token is active.
pub async fn introspect(request: TenantRequest) -> HttpResponse {
    answer_reading(request, "introspect", introspect::introspect, |answer| {
        no_store_json(&answer)
    })
    .await
}
