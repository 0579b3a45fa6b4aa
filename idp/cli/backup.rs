//! `idp backup --to FILE`: a consistent copy of the SQLite database, taken while the service runs
//! (`store::backup`). PostgreSQL is backed up with its own tools (docs/operations.md).

use std::path::PathBuf;

use super::failure::Failure;
use crate::config::{Config, DatabaseBackend};
use crate::store;

/// `idp backup`'s arguments.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The new file to write the copy to (it must not exist).
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
}

pub fn run(config: &Config, args: &BackupArgs) -> Result<(), Failure> {
    let backend = config
        .settings
        .database
        .backend()
        .map_err(|e| Failure::Other(format!("database.url {e}")))?;
    let DatabaseBackend::Sqlite(database) = backend else {
        return Err(Failure::Other(
            "the database is PostgreSQL: back it up with pg_dump or base backups and WAL \
             archiving (docs/operations.md#backups)"
                .into(),
        ));
    };
    let copied = store::backup::sqlite(&database, &args.to)?;
    println!(
        "backed up {} to {} ({} bytes, schema {}, integrity ok)",
        database.display(),
        args.to.display(),
        copied.bytes,
        copied.schema_version
    );
    Ok(())
}
