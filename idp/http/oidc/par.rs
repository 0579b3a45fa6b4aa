//! `POST {issuer}/par` (RFC 9126).

use actix_web::HttpResponse;

use super::client_request::{Runs, answer, oauth_error};
use crate::flows::oidc::par;
use crate::http::extract::TenantRequest;

/// Stores a pushed authorization request; 201 with its `request_uri`, or the error (a public
/// client's address with too many requests waiting: `temporarily_unavailable`).
pub async fn push(request: TenantRequest) -> HttpResponse {
    answer(
        request,
        "par",
        (par::push, Runs::OnPool),
        |pushed| match pushed {
            Ok(pushed) => HttpResponse::Created()
                .insert_header(("Cache-Control", "no-store"))
                .json(pushed),
            Err(refused) => oauth_error(&refused),
        },
    )
    .await
}
