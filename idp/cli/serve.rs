//! `idp serve`: migrate, then serve until SIGTERM (draining requests in flight) or SIGINT.

use std::sync::Arc;

use super::Failure;
use crate::config::Config;
use crate::http::{Application, Signals};
use crate::store::Store;
use crate::{clock, telemetry};

pub fn run(config: Config) -> Result<(), Failure> {
    telemetry::init(&config.settings.log);
    let config = Arc::new(config);
    actix_web::rt::System::new().block_on(async move {
        let store = Store::open(&config.settings.database)?;
        let app = Application::build(
            config.clone(),
            store.clone(),
            clock::system(),
            Signals::Handle,
        )?;
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
