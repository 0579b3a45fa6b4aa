//! `POST {issuer}/par` (RFC 9126).

use actix_web::HttpResponse;

use super::client_request::{Runs, answer};
use crate::flows::oidc::par;
use crate::http::extract::TenantRequest;

/// Stores a pushed authorization request; 201 with its `request_uri`.
pub async fn push(request: TenantRequest) -> HttpResponse {
    answer(request, "par", (par::push, Runs::OnPool), |pushed| {
        HttpResponse::Created()
            .insert_header(("Cache-Control", "no-store"))
            .json(pushed)
    })
    .await
}
