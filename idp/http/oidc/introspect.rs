//! `POST {issuer}/introspect` (RFC 7662).

use actix_web::HttpResponse;

use super::client_request::{Runs, answer};
use crate::flows::oidc::introspect;
use crate::http::extract::TenantRequest;
use crate::http::util::no_store_json;

/// Tells an authenticated client whether its token is active.
pub async fn introspect(request: TenantRequest) -> HttpResponse {
    let flow = (introspect::introspect as _, Runs::ReadingHere);
    answer(request, "introspect", flow, |answer| no_store_json(&answer)).await
}
