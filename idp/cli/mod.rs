//! The command line: `idp serve | migrate | check-config | users … | keys … | tenants …`.
//!
//! Every command returns an [`ExitCode`]; errors are one line on standard error, never a panic.
//! Exit status 2 means the configuration (or the command line) is wrong, 1 any other failure.

mod account;
mod audit;
mod backup;
mod check_config;
mod clients;
mod delete;
mod export;
mod failure;
mod keys;
mod legacy;
mod migrate;
mod serve;
mod support;
mod tenant;
mod tenants;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use failure::Failure;

use crate::config::{self, Config, Problems};

/// An OpenID Connect provider for the e-services of Finnish cities.
#[derive(Debug, Parser)]
#[command(name = "idp", version, about)]
pub struct Cli {
    /// The main configuration file.
    #[arg(long, global = true, env = "IDP_CONFIG", default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the provider (migrates the database first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Check the configuration and the tenant files; print every problem.
    CheckConfig,
    /// Manage users.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Import (or re-import) a tenant's export of its old accounts; idempotent.
    ImportLegacy(legacy::ImportArgs),
    /// Follow up the legacy accounts: report, set an address.
    #[command(subcommand)]
    Legacy(legacy::LegacyCommand),
    /// Read a tenant's audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Copy the SQLite database, consistently, while the service runs.
    Backup(backup::BackupArgs),
    /// The tenants the database holds rows of; purge a removed tenant's rows.
    #[command(subcommand)]
    Tenants(tenants::TenantsCommand),
    /// A tenant's e-services as its file configures them; a new client secret and its hash.
    #[command(subcommand)]
    Clients(clients::ClientsCommand),
}

/// Parses the command line, runs the command, and turns the outcome into an exit status.
pub fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error: {info}");
    }));
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve | Command::CheckConfig) {
        crate::telemetry::init_command_line();
    }
    let outcome = match cli.command {
        Command::CheckConfig => check_config::run(&cli.config),
        Command::Serve => load(&cli.config)
            .and_then(safe_for_production)
            .and_then(serve::run),
        Command::Migrate => load(&cli.config).and_then(|c| migrate::run(&c)),
        Command::Users(command) => load(&cli.config).and_then(|c| users::run(&c, command)),
        Command::Keys(command) => load(&cli.config).and_then(|c| keys::run(&c, command)),
        Command::ImportLegacy(args) => load(&cli.config).and_then(|c| legacy::import(&c, &args)),
        Command::Legacy(command) => load(&cli.config).and_then(|c| legacy::run(&c, command)),
        Command::Audit(command) => load(&cli.config).and_then(|c| audit::run(&c, command)),
        Command::Backup(args) => load(&cli.config).and_then(|c| backup::run(&c, &args)),
        Command::Tenants(command) => load(&cli.config).and_then(|c| tenants::run(&c, command)),
        Command::Clients(command) => load(&cli.config).and_then(|c| clients::run(&c, command)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(problems)) => {
            for problem in &problems.0 {
                eprintln!("error: {problem}");
            }
            ExitCode::from(2)
        }
        Err(Failure::Other(message)) => {
            eprintln!("error: {}", config::one_line(&message));
            ExitCode::FAILURE
        }
    }
}

fn load(path: &std::path::Path) -> Result<Config, Failure> {
    config::load(path).map_err(Failure::Config)
}

/// The configuration, unless it is unsafe on the public server it describes
/// ([`Config::unsafe_for_production`]).
fn safe_for_production(config: Config) -> Result<Config, Failure> {
    let mut problems = config.unset_for_serving();
    problems.extend(config.unsafe_for_production());
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(Failure::Config(Problems(problems)))
    }
}
