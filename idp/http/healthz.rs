//! `GET /healthz`: 200 when the database answers, 503 otherwise.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::state::AppState;

/// How long `/healthz` waits for a database connection.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks the database for `SELECT 1`.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match state.services.store.ping(HEALTH_TIMEOUT).await {
        Ok(()) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(json!({"status": "ok", "database": state.services.store.backend_name()})),
        Err(error) => {
            tracing::warn!(%error, "health check: database unavailable");
            HttpResponse::ServiceUnavailable()
                .insert_header(("Cache-Control", "no-store"))
                .insert_header(("Retry-After", "5"))
                .json(json!({"status": "unavailable", "database": state.services.store.backend_name()}))
        }
    }
}
