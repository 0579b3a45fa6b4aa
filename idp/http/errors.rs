//! The one place where errors become HTTP responses.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::store::StoreError;

/// An error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The path names no configured tenant.
    #[error("unknown tenant")]
    UnknownTenant,
    /// The database is unreachable or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        match self {
            HttpError::UnknownTenant => StatusCode::NOT_FOUND,
            HttpError::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let (error, description) = match self {
            HttpError::UnknownTenant => ("not_found", "no such tenant"),
            HttpError::Store(e) if e.is_unavailable() => (
                "temporarily_unavailable",
                "the service is busy, try again shortly",
            ),
            HttpError::Store(_) => ("server_error", "internal error"),
        };
        let mut response = HttpResponse::build(status);
        response.insert_header(("Cache-Control", "no-store"));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header(("Retry-After", "5"));
        }
        response.json(json!({ "error": error, "error_description": description }))
    }
}
