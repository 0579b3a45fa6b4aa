//! `POST {issuer}/token`.

use actix_web::HttpResponse;

use super::client_request::{Runs, answer};
use crate::flows::oidc::token;
use crate::http::extract::TenantRequest;
use crate::http::util::no_store_json;

/// Exchanges a code, a refresh token or client credentials for tokens.
pub async fn token(request: TenantRequest) -> HttpResponse {
    answer(
        request,
        "token",
        (
            token::exchange,
            Runs::HereWithoutStore(token::without_store),
        ),
        |tokens| no_store_json(&tokens),
    )
    .await
}
