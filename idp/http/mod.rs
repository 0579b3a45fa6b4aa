//! HTTP: the actix-web server and its routes.
//!
//! Handlers are thin: their extractors read the request (`extract::TenantRequest`; the pages'
//! `pages::extract`), they call one flow and render. `oidc/` holds the protocol's endpoints, one
//! file each; `pages/` the resident's pages; `metrics.rs` the metrics listener; `state.rs` what every handler can reach; `util.rs`
//! the helpers they share; `errors.rs` the mapping of errors to responses.

pub mod assets;
pub mod client;
pub mod cors;
pub mod csp_report;
pub mod discovery;
pub mod errors;
pub mod extract;
pub mod healthz;
pub mod metrics;
pub mod middleware;
pub mod oidc;
pub mod pages;
pub mod quiet;
pub mod state;
pub mod trace;
pub mod util;
#[cfg(test)]
mod util_proptests;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

use crate::app::Services;
use crate::config::Config;

pub use errors::HttpError;
pub use state::AppState;

/// A bound, not yet running server.
pub struct Application {
    address: SocketAddr,
    server: Server,
    /// The metrics listener, when `[metrics]` is configured.
    metrics: Option<metrics::MetricsServer>,
}

/// Whether the server handles signals itself (the binary) or leaves them (tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signals {
    /// SIGTERM drains requests in flight, then stops; SIGINT and SIGQUIT stop at once.
    Handle,
    /// Ignore signals; stop through the server handle.
    Ignore,
}

impl Application {
    /// Binds `server.bind` and prepares the server.
    pub fn build(services: Services, signals: Signals) -> Result<Application, anyhow::Error> {
        let bind = services.config.settings.server.bind;
        let listener =
            TcpListener::bind(bind).map_err(|e| anyhow::anyhow!("cannot listen on {bind}: {e}"))?;
        Self::with_listener(listener, services, signals)
    }

    /// Prepares the server on a listener bound already (tests bind first to learn the port).
    pub fn with_listener(
        listener: TcpListener,
        services: Services,
        signals: Signals,
    ) -> Result<Application, anyhow::Error> {
        let address = listener.local_addr()?;
        let config = services.config.clone();
        let pages = pages::templates::Pages::load(config.settings.templates.dir.as_deref())?;
        let metrics = metrics::build(&services)?;
        let counted = web::Data::from(services.metrics.clone());
        let state = AppState::new(services, pages, discovery::serialised(&config)?);
        let routed = config.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .app_data(counted.clone())
                .app_data(web::PayloadConfig::new(errors::BODY_LIMIT))
                .wrap(actix_web::middleware::ErrorHandlers::new().default_handler(errors::reshape))
                .wrap(middleware::security_headers())
                .wrap(actix_web::middleware::from_fn(client::remember_address))
                .wrap(actix_web::middleware::from_fn(middleware::log_request))
                .wrap(actix_web::middleware::from_fn(trace::trace_request))
                .configure(routes(routed.clone()))
                .default_service(web::to(assets::not_found))
        })
        .listen(listener)?
        .shutdown_timeout(config.settings.server.shutdown_timeout_seconds);
        if let Some(workers) = config.settings.server.workers {
            server = server.workers(workers);
        }
        if signals == Signals::Ignore {
            server = server.disable_signals();
        }
        Ok(Application {
            address,
            server: server.run(),
            metrics,
        })
    }

    /// The address it listens on (with the real port when the configuration said 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The address of the metrics listener, when `[metrics]` is configured.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|m| m.address)
    }

    /// A handle to stop the server (the metrics listener stops with it).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped; requests in flight finish first. The metrics listener serves beside
    /// the public one and stops when it stops.
    pub async fn run(self) -> std::io::Result<()> {
        let Some(metrics) = self.metrics else {
            return self.server.await;
        };
        let handle = metrics.server.handle();
        let scraped = tokio::spawn(metrics.server);
        let served = self.server.await;
        handle.stop(true).await;
        if let Ok(Err(error)) = scraped.await {
            tracing::warn!(%error, "the metrics listener failed");
        }
        served
    }
}

/// Every route of the service. Each path is one resource with a route a method it serves, so a
/// method it does not serve is answered `405 Method Not Allowed` with the `Allow` header (actix's
/// resource default), never the 404 page; the answers without side effects answer `HEAD` too
/// ([`util::get_or_head`]). Which origins' pages may read the protocol's answers comes from
/// `config` ([`cors`]).
pub fn routes(config: Arc<Config>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| routes_of(cfg, config)
}

fn routes_of(cfg: &mut web::ServiceConfig, config: Arc<Config>) {
    cfg.service(web::resource("/livez").route(util::get_or_head().to(healthz::livez)))
        .service(web::resource("/healthz").route(util::get_or_head().to(healthz::healthz)))
        .service(web::resource("/readyz").route(util::get_or_head().to(healthz::readyz)))
        .service(web::resource("/static/idp.css").route(util::get_or_head().to(assets::stylesheet)))
        .service(web::resource("/static/passkeys.js").route(util::get_or_head().to(assets::script)))
        .service(
            web::resource("/static/forms.js").route(util::get_or_head().to(assets::forms_script)),
        )
        .service(
            web::scope("/{tenant}")
                .service(
                    web::resource("/.well-known/openid-configuration")
                        .route(util::get_or_head().to(discovery::openid_configuration)),
                )
                .service(web::resource("/theme.css").route(util::get_or_head().to(assets::theme)))
                .service(web::resource("/logo").route(util::get_or_head().to(assets::logo)))
                .service(web::resource("/csp-report").route(web::post().to(csp_report::receive)))
                .configure(oidc::routes(config))
                .configure(pages::routes),
        );
}
