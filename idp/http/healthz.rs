//! `GET /livez`, the liveness check for a process supervisor: 200 while the process answers
//! HTTP at all, the database not asked (a restart would not bring a database back, and a node
//! restarted while it is away cannot start: probed on the database, every node of a failover was
//! killed and crash-looped).
//! `GET /healthz`, the health check for monitoring: 200 when the database answers, 503 otherwise.
//! `GET /readyz`, the readiness check for a load balancer: 200 only when the database answers,
//! every migration of this build is applied and every tenant has its signing keys; 503 with the
//! reason otherwise (during a start, a PostgreSQL failover, after a restore of an older backup),
//! in words of idp's own: a database error's text is logged, never answered.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::state::AppState;
use crate::flows::keys;

/// How long `/healthz` and `/readyz` wait for a database connection.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Answers without asking anything of the database.
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({"status": "ok"}))
}

/// Reads one `users.id` from the database (`Store::ping`): a database without our tables is not
/// healthy either.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match state.services.store.ping(HEALTH_TIMEOUT).await {
        Ok(()) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(json!({"status": "ok", "database": state.services.store.backend_name()})),
        Err(error) => {
            tracing::warn!(%error, "health check: database unavailable");
            unavailable(
                json!({"status": "unavailable", "database": state.services.store.backend_name()}),
            )
        }
    }
}

/// The database, its migrations and the key ring, in that order; the first that is not ready
/// gives the reason.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let services = &state.services;
    let database = services.store.backend_name();
    let not_ready = |reason: String| {
        tracing::warn!(%reason, "readiness check: not ready");
        unavailable(json!({"status": "not_ready", "database": database, "reason": reason}))
    };
    // The database's own error goes to the log only: the driver's text may name internal hosts,
    // addresses, the port and the database user, and /readyz answers anyone.
    if let Err(error) = services.store.ping(HEALTH_TIMEOUT).await {
        tracing::warn!(%error, "readiness check: the database does not answer");
        return not_ready("the database does not answer".to_string());
    }
    match services.store.pending_migrations(HEALTH_TIMEOUT).await {
        Ok(pending) if pending.is_empty() => {}
        Ok(pending) => {
            return not_ready(format!("migrations not applied: {}", pending.join(", ")));
        }
        Err(error) => {
            tracing::warn!(%error, "readiness check: cannot read the migrations");
            return not_ready("cannot read the migrations".to_string());
        }
    }
    let missing = keys::missing(
        &services.config,
        &services.keys.current(),
        services.clock.now(),
    );
    if !missing.is_empty() {
        return not_ready(format!("signing keys missing: {}", missing.join(", ")));
    }
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({"status": "ready", "database": database}))
}

/// A 503 with `body`, not cached, to be asked again in 5 seconds.
fn unavailable(body: serde_json::Value) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Retry-After", "5"))
        .json(body)
}
