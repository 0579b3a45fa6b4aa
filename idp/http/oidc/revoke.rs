//! `POST {issuer}/revoke` (RFC 7009).

use actix_web::HttpResponse;

use super::client_request::{Runs, answer};
use crate::flows::oidc::revoke;
use crate::http::extract::TenantRequest;

/// Revokes a token of the authenticated client; 200 whether or not it was valid.
pub async fn revoke(request: TenantRequest) -> HttpResponse {
    answer(request, "revoke", (revoke::revoke, Runs::OnPool), |()| {
        HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .finish()
    })
    .await
}
