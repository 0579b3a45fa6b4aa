//! `idp check-config`: every problem of the configuration, with its file and key.

use std::path::Path;

use super::failure::Failure;
use crate::config;

pub fn run(path: &Path) -> Result<(), Failure> {
    let config = config::load(path).map_err(Failure::Config)?;
    let problems = config.unsafe_for_production();
    if !problems.is_empty() {
        return Err(Failure::Config(config::Problems(problems)));
    }
    let clients: usize = config.tenants.values().map(|t| t.clients.len()).sum();
    println!(
        "{}: ok ({} tenants: {}; {} clients)",
        path.display(),
        config.tenants.len(),
        config
            .tenants
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        clients
    );
    Ok(())
}
