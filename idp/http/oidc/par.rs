//! `POST {issuer}/par` (RFC 9126).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use super::client_request::{Runs, answer, oauth_error};
use crate::flows::oidc::error::OAuthError;
use crate::flows::oidc::par;
use crate::flows::oidc::pending::TOO_MANY_WAITING_RETRY_SECONDS;
use crate::http::extract::TenantRequest;
use crate::http::util::retry_after_header;

/// Stores a pushed authorization request; 201 with its `request_uri`, or the error (a public
/// client's address with too many requests waiting: [`too_many_waiting`]).
pub async fn push(request: TenantRequest) -> HttpResponse {
    answer(
        request,
        "par",
        (par::push, Runs::OnPool),
        |pushed| match pushed {
            Ok(pushed) => HttpResponse::Created()
                .insert_header(("Cache-Control", "no-store"))
                .json(pushed),
            Err(refused) => too_many_waiting(&refused),
        },
    )
    .await
}

/// A push refused because its public client's address, or its confidential client, has too many
/// requests waiting: 429 (RFC
/// 9126 §2.3 names it for too many requests from a client), error `temporarily_unavailable`, to be
/// tried again in a minute: a place frees only when a waiting request expires or its login goes
/// on, never within the 5 seconds of a busy moment's 503.
fn too_many_waiting(refused: &OAuthError) -> HttpResponse {
    let mut response = oauth_error(refused);
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    retry_after_header(&mut response, TOO_MANY_WAITING_RETRY_SECONDS);
    response
}
