//! `idp import-legacy` and `idp legacy report | set-email`: a city's old accounts.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::failure::Failure;
use super::tenant::tenant_config;
use super::users::known_tenant;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Problem, Problems};
use crate::domain::Email;
use crate::flows::legacy_admin::{self, OldAccount};
use crate::flows::legacy_import::{self, Format, ImportError, Options};
use crate::store::Store;
use crate::store::erasure::{self, WalCleared};

/// `idp import-legacy`
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The tenant's id.
    #[arg(long)]
    tenant: String,
    /// The file's format (default: from its extension, `.csv`, `.jsonl` or `.ndjson`).
    #[arg(long, value_enum)]
    format: Option<FileFormat>,
    /// Check the file and compare it with the database; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Let a row change the subject of an account imported before (refused otherwise: the
    /// e-services keep the account's history under its subject).
    #[arg(long)]
    allow_subject_change: bool,
    /// Delete the old accounts not yet bound whose username this file does not hold (the old
    /// system removed them: a departed official, an erased resident); each is audited. Done only
    /// when every line's username could be read; `--dry-run` counts them.
    #[arg(long)]
    retire_missing: bool,
    /// The export: columns username, subject, email, password_hash, name, authority.
    file: PathBuf,
}

/// The formats `--format` takes.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FileFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// JSON Lines: one object per line.
    Jsonl,
}

/// `idp legacy …`
#[derive(Debug, Subcommand)]
pub enum LegacyCommand {
    /// How far a tenant's migration has come: accounts, links, addresses, hashes.
    Report {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
    },
    /// Give a not yet linked legacy account an address, so that it can log in by email.
    SetEmail {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        /// The legacy username (in any case).
        #[arg(long)]
        username: String,
        /// The address.
        #[arg(long)]
        email: String,
    },
    /// Delete a legacy account no user has bound (its owner asked for its erasure, or the old
    /// system removed it); audited. A bound one is erased with its user (`idp users delete`).
    Delete {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        /// The legacy username (in any case).
        #[arg(long, required_unless_present = "id", conflicts_with = "id")]
        username: Option<String>,
        /// The old account's internal id instead (the `account` of its `legacy.*` audit events).
        #[arg(long)]
        id: Option<String>,
    },
}

/// Runs `idp import-legacy`.
pub fn import(config: &Config, args: &ImportArgs) -> Result<(), Failure> {
    let format = match (args.format, Format::from_path(&args.file)) {
        (Some(FileFormat::Csv), _) => Format::Csv,
        (Some(FileFormat::Jsonl), _) => Format::Jsonl,
        (None, Some(format)) => format,
        (None, None) => {
            return Err(Failure::Config(Problems(vec![Problem::new(
                args.file.display().to_string(),
                "",
                "cannot tell the format from the file name: give --format csv or --format jsonl",
            )])));
        }
    };
    let Some(tenant) = config.tenant(&args.tenant) else {
        return known_tenant(config, &args.tenant).map(|_| ());
    };
    let cannot_read = |e: &dyn std::fmt::Display| {
        Failure::Other(format!("cannot read {}: {e}", args.file.display()))
    };
    let file = std::fs::File::open(&args.file).map_err(|e| cannot_read(&e))?;
    let length = file.metadata().map_err(|e| cannot_read(&e))?.len();
    let progress = progress_bar(length);
    let store = Store::open(&config.settings.database)?;
    let mut conn = store.conn()?;
    let source = args.file.display().to_string();
    let outcome = legacy_import::import(
        &mut conn,
        progress.wrap_read(file),
        &Options {
            tenant,
            format,
            dry_run: args.dry_run,
            allow_subject_change: args.allow_subject_change,
            retire_missing: args.retire_missing,
            source: &source,
        },
        SystemClock.now(),
    );
    progress.finish_and_clear();
    // The retired accounts' usernames, addresses and hashes out of SQLite's WAL too, as `idp
    // legacy delete`'s: also when the run failed after some retirements had committed.
    let retired = match &outcome {
        Ok(summary) => summary.retired > 0,
        Err(_) => args.retire_missing && !args.dry_run,
    };
    if retired {
        warn_unless_wal_cleared(&mut conn, "retired");
    }
    match outcome {
        Ok(summary) => {
            print!("{summary}");
            Ok(())
        }
        Err(ImportError::Header(message)) => Err(cannot_read(&message)),
        Err(error @ ImportError::Read { .. }) => Err(cannot_read(&format_args!(
            "{error}; the batches before were committed: run the import again to complete it"
        ))),
        Err(error @ ImportError::Store { .. }) => Err(Failure::Other(format!(
            "{}: {error}; the batches before were committed: run the import again to complete it",
            args.file.display()
        ))),
    }
}

/// Empties SQLite's WAL after old accounts were `what` (deleted, retired); says so on standard
/// error when it cannot.
fn warn_unless_wal_cleared(conn: &mut crate::store::DbConnection, what: &str) {
    if let WalCleared::Unfinished(why) = erasure::clear_wal(conn) {
        eprintln!(
            "warning: the {what} values stay in the SQLite WAL until it is overwritten or \
             checkpointed ({why}); docs/operations.md says how to empty it"
        );
    }
}

/// A bar of the bytes read on standard error when it is a terminal; else nothing is drawn.
fn progress_bar(length: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(length);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} ({eta} left)")
    {
        bar.set_style(style);
    }
    bar
}

/// Runs `idp legacy …`.
pub fn run(config: &Config, command: LegacyCommand) -> Result<(), Failure> {
    match command {
        LegacyCommand::Report { tenant } => report(config, &tenant),
        LegacyCommand::SetEmail {
            tenant,
            username,
            email,
        } => set_email(config, &tenant, &username, &email),
        LegacyCommand::Delete {
            tenant,
            username,
            id,
        } => {
            let which = match (&username, &id) {
                (Some(username), _) => OldAccount::Username(username),
                (None, Some(id)) => OldAccount::Id(id),
                (None, None) => return Err(Failure::Other("give --username or --id".into())),
            };
            delete(config, &tenant, which)
        }
    }
}

fn delete(config: &Config, tenant: &str, which: OldAccount<'_>) -> Result<(), Failure> {
    let key = known_tenant(config, tenant)?;
    let store = Store::open(&config.settings.database)?;
    let mut conn = store.conn()?;
    let deleted = legacy_admin::delete(&mut conn, key, which, SystemClock.now())?;
    // Its username and address out of SQLite's WAL too, as an erasure's.
    warn_unless_wal_cleared(&mut conn, "deleted");
    println!("deleted legacy account {deleted} of {tenant}");
    Ok(())
}

fn report(config: &Config, tenant: &str) -> Result<(), Failure> {
    let tenant = tenant_config(config, tenant)?;
    let store = Store::open(&config.settings.database)?;
    let mut conn = store.conn()?;
    print!("{}", legacy_admin::report(&mut conn, tenant)?);
    Ok(())
}

fn set_email(config: &Config, tenant: &str, username: &str, email: &str) -> Result<(), Failure> {
    let key = known_tenant(config, tenant)?;
    let email = Email::parse(email)?;
    let store = Store::open(&config.settings.database)?;
    let mut conn = store.conn()?;
    let done = legacy_admin::set_email(&mut conn, key, username, &email, SystemClock.now())?;
    println!(
        "set the address of legacy account {} of {tenant} to {email} (it was {})",
        done.username,
        done.previous.as_deref().unwrap_or("empty")
    );
    match done.sharing {
        0 => {}
        1 => println!("1 other legacy account has this address: the resident chooses at login"),
        n => println!("{n} other legacy accounts have this address: the resident chooses at login"),
    }
    Ok(())
}
