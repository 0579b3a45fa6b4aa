//! `idp migrate`: apply the pending migrations of the configured database.

use super::failure::Failure;
use crate::config::Config;
use crate::store;

pub fn run(config: &Config) -> Result<(), Failure> {
    let backend = config
        .settings
        .database
        .backend()
        .map_err(|e| Failure::Other(format!("database.url {e}")))?;
    let applied = store::migrate(&backend)?;
    let unknown = store::unknown_migrations(&backend)?;
    if applied.is_empty() && unknown.is_empty() {
        println!("the database is up to date");
    }
    for version in &applied {
        println!("applied {version}");
    }
    if !unknown.is_empty() {
        return Err(Failure::Other(format!(
            "the database has migrations this build does not know ({}): a newer version of idp \
             migrated it; run that version",
            unknown.join(", ")
        )));
    }
    Ok(())
}
