//! `idp check-config`: every problem of the configuration, with its file and key.

use std::path::Path;

use super::failure::Failure;
use crate::config;

pub fn run(path: &Path) -> Result<(), Failure> {
    let config = config::load(path).map_err(Failure::Config)?;
    let mut problems = config.unset_for_serving();
    problems.extend(config.unsafe_for_production());
    if !problems.is_empty() {
        return Err(Failure::Config(config::Problems(problems)));
    }
    let clients: usize = config.tenants.values().map(|t| t.clients.len()).sum();
    let names: Vec<&str> = config.tenants.keys().map(String::as_str).collect();
    println!(
        "{}: ok ({}: {}; {})",
        path.display(),
        counted(config.tenants.len(), "tenant"),
        names.join(", "),
        counted(clients, "client")
    );
    Ok(())
}

/// `n` `thing`s, in the singular for one.
fn counted(n: usize, thing: &str) -> String {
    match n {
        1 => format!("1 {thing}"),
        n => format!("{n} {thing}s"),
    }
}
