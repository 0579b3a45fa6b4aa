//! `idp serve`: migrate, then serve until SIGTERM (draining requests in flight) or SIGINT.

use std::sync::Arc;

use super::Failure;
use crate::app::Services;
use crate::config::Config;
use crate::http::{Application, Signals};
use crate::store::Store;
use crate::{clock, telemetry};

/// How often a node re-reads the signing keys (rotations on other nodes appear within this time).
const KEY_RELOAD_PERIOD: std::time::Duration = std::time::Duration::from_secs(60);

pub fn run(config: Config) -> Result<(), Failure> {
    telemetry::init(&config.settings.log);
    let config = Arc::new(config);
    actix_web::rt::System::new().block_on(async move {
        let store = Store::open(&config.settings.database)?;
        let services = Services::start(config.clone(), store.clone(), clock::system())?;
        services.spawn_key_reloader(KEY_RELOAD_PERIOD);
        services.spawn_logout_deliveries(std::time::Duration::from_secs(2));
        services.spawn_mail_worker(std::time::Duration::from_secs(2));
        let app = Application::build(services, Signals::Handle)?;
        tracing::info!(
            address = %app.address(),
            database = store.backend_name(),
            tenants = config.tenants.len(),
            "listening"
        );
        for tenant in config.tenants.values() {
            tracing::info!(tenant = %tenant.id, issuer = %config.issuer(tenant), "tenant");
        }
        app.run().await?;
        tracing::info!("stopped");
        Ok(())
    })
}
