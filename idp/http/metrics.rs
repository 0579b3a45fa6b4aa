//! The metrics listener: `GET /metrics` in the OpenMetrics text format (which Prometheus scrapes),
//! on `[metrics] bind`, a listener of its own that the public one never serves; every other path
//! there is a plain 404. Off when `[metrics]` is absent. What the metrics are:
//! `telemetry/metrics.rs`; how to scrape and chart them: docs/operations.md.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::Server;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::app::Services;

/// The content type of the OpenMetrics text format.
pub const CONTENT_TYPE_OPENMETRICS: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics listener, bound and not yet running.
pub struct MetricsServer {
    /// Where it listens (with the real port when the configuration said 0).
    pub address: SocketAddr,
    /// The server.
    pub server: Server,
}

/// Binds `[metrics] bind`, when configured, and prepares its server (one worker: a scrape is
/// rare and cheap).
pub fn build(services: &Services) -> Result<Option<MetricsServer>, anyhow::Error> {
    let Some(settings) = &services.config.settings.metrics else {
        return Ok(None);
    };
    let bind = settings.bind;
    let listener = TcpListener::bind(bind)
        .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {bind}: {e}"))?;
    let address = listener.local_addr()?;
    let services = services.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(services.clone()))
            .route("/metrics", web::get().to(metrics))
            .default_service(web::to(HttpResponse::NotFound))
    })
    .listen(listener)?
    .workers(1)
    .disable_signals()
    .run();
    Ok(Some(MetricsServer { address, server }))
}

/// `GET /metrics`: the gauges set now, then every metric encoded (a database that does not answer
/// leaves the queues' gauges stale, `idp_queue_gauges_stale` 1); 503 only when they cannot be
/// encoded.
async fn metrics(services: web::Data<Services>) -> HttpResponse {
    match services.scrape().await {
        Ok(text) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, CONTENT_TYPE_OPENMETRICS))
            .insert_header((CACHE_CONTROL, "no-store"))
            .body(text),
        Err(error) => {
            tracing::warn!(%error, "cannot read the metrics");
            HttpResponse::ServiceUnavailable()
                .insert_header((CACHE_CONTROL, "no-store"))
                .body("the database does not answer\n")
        }
    }
}
