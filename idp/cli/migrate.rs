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
    if applied.is_empty() {
        println!("the database is up to date");
    } else {
        for version in &applied {
            println!("applied {version}");
        }
    }
    Ok(())
}
