//! `idp serve`: migrate, then serve until SIGTERM (draining requests in flight) or SIGINT.

use std::sync::Arc;

use super::failure::Failure;
use crate::app::Services;
use crate::config::Config;
use crate::http::{Application, Signals};
use crate::store::Store;
use crate::{clock, telemetry};

/// How often a node re-reads the signing keys (rotations on other nodes appear within this time).
const KEY_RELOAD_PERIOD: std::time::Duration = std::time::Duration::from_secs(60);

/// How often a node seals new audit events into the hash chain (on PostgreSQL one node a round
/// does it): an event is unprotected until sealed (docs/security.md).
const AUDIT_SEAL_PERIOD: std::time::Duration = std::time::Duration::from_secs(5);

/// How often a node deletes expired rows (on PostgreSQL one node a round does it).
const CLEANUP_PERIOD: std::time::Duration = std::time::Duration::from_secs(300);

pub fn run(config: Config) -> Result<(), Failure> {
    let telemetry = telemetry::init(&config.settings.log, &config.settings.telemetry)
        .map_err(Failure::Other)?;
    let config = Arc::new(config);
    let served = actix_web::rt::System::new().block_on(async move {
        let store = Store::open(&config.settings.database)?;
        import_at_start(&config, &store);
        let services = Services::start(config.clone(), store.clone(), clock::system())?;
        services.spawn_key_reloader(KEY_RELOAD_PERIOD);
        services.spawn_logout_deliveries(std::time::Duration::from_secs(2));
        services.spawn_mail_worker(std::time::Duration::from_secs(2));
        services.spawn_cleanup(CLEANUP_PERIOD);
        services.spawn_audit_sealer(AUDIT_SEAL_PERIOD);
        let app = Application::build(services, Signals::Handle)?;
        tracing::info!(
            address = %app.address(),
            database = store.backend_name(),
            tenants = config.tenants.len(),
            "listening"
        );
        if let Some(address) = app.metrics_address() {
            tracing::info!(%address, "metrics at http://{address}/metrics");
        }
        for tenant in config.tenants.values() {
            tracing::info!(tenant = %tenant.id, issuer = %config.issuer(tenant), "tenant");
        }
        app.run().await?;
        tracing::info!("stopped");
        Ok::<(), Failure>(())
    });
    telemetry.shutdown();
    served
}

/// Imports `legacy.import_at_start` of each tenant that has one (demo configurations). A file
/// that cannot be read is logged as an error; the service starts all the same.
fn import_at_start(config: &Config, store: &Store) {
    use crate::clock::Clock;
    use crate::flows::legacy_import::{self, Format, Options};
    for tenant in config.tenants.values() {
        let Some(path) = &tenant.legacy.import_at_start else {
            continue;
        };
        let file = path.display().to_string();
        // check-config makes sure the extension names the format.
        let format = Format::from_path(path).unwrap_or(Format::Csv);
        let options = Options {
            tenant,
            format,
            dry_run: false,
            allow_subject_change: false,
            retire_missing: false,
            source: &file,
        };
        let outcome = store
            .conn()
            .map_err(|e| e.to_string())
            .and_then(|mut conn| {
                legacy_import::import_file(&mut conn, path, &options, clock::SystemClock.now())
                    .map_err(|e| e.to_string())
            });
        match outcome {
            Ok(summary) => {
                tracing::info!(
                    tenant = %tenant.id,
                    file,
                    rows_read = summary.rows_read,
                    imported = summary.imported,
                    updated = summary.updated,
                    unchanged = summary.unchanged,
                    support_addresses_kept = summary.kept_addresses,
                    linked_left_alone = summary.linked,
                    without_email = summary.without_email,
                    unusable_hashes = summary.unusable_hashes(),
                    rejected = summary.rejected,
                    "legacy accounts imported"
                );
                for (line, reason) in summary.rejections() {
                    tracing::warn!(tenant = %tenant.id, file, line, reason, "legacy row rejected");
                }
            }
            Err(error) => {
                tracing::error!(tenant = %tenant.id, file, %error, "legacy import failed");
            }
        }
    }
}
