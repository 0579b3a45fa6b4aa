//! `idp tenants list`: every tenant the configuration has or the database holds rows of, with
//! its rows. `idp tenants purge --tenant T [--yes]`: every row of a tenant removed from the
//! configuration deleted (`store/tenants.rs`); without `--yes` it only says what it would delete.

use clap::Subcommand;

use super::failure::Failure;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::store::erasure::{self, WalCleared};
use crate::store::tenants::{self, Removed, Rows, TABLES};
use crate::store::{DbConnection, Store};

/// `idp tenants …`
#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// List the configured tenants and every tenant the database holds rows of.
    List,
    /// Delete every row of a tenant that is no longer configured: its residents, old accounts,
    /// sessions, audit trail and keys. Without --yes, only says what it would delete.
    Purge {
        /// The removed tenant's id.
        #[arg(long)]
        tenant: String,
        /// Delete (else only count).
        #[arg(long)]
        yes: bool,
        /// Delete even when the tenant wrote audit events in the last 24 hours (a node may still
        /// serve it: another node's configuration, a configuration pointed at the wrong
        /// database).
        #[arg(long)]
        force: bool,
    },
}

/// How recent the newest audit event of a tenant may be for a purge without `--force`.
const QUIET_HOURS: i64 = 24;

/// Runs an `idp tenants` command.
pub fn run(config: &Config, command: TenantsCommand) -> Result<(), Failure> {
    let store = Store::open(&config.settings.database)?;
    let mut conn = store.conn()?;
    match command {
        TenantsCommand::List => list(config, &mut conn),
        TenantsCommand::Purge { tenant, yes, force } => {
            purge(config, &mut conn, &tenant, (yes, force))
        }
    }
}

fn list(config: &Config, conn: &mut DbConnection) -> Result<(), Failure> {
    let mut present = tenants::present(conn)?;
    for id in config.tenants.keys() {
        present.entry(id.clone()).or_default();
    }
    println!("tenant\tconfigured\tusers\told accounts\taudit events\tother rows");
    for (id, rows) in &present {
        let configured = if config.tenant(id).is_some() {
            "yes"
        } else {
            "NO"
        };
        let of = |table: &str| rows.get(table).copied().unwrap_or(0);
        let named = ["users", "legacy_accounts", "audit_events"];
        let other: i64 = rows
            .iter()
            .filter(|(table, _)| !named.contains(table))
            .map(|(_, n)| n)
            .sum();
        println!(
            "{id}\t{configured}\t{}\t{}\t{}\t{other}",
            of("users"),
            of("legacy_accounts"),
            of("audit_events")
        );
    }
    let removed: Vec<&str> = present
        .keys()
        .filter(|id| config.tenant(id).is_none())
        .map(String::as_str)
        .collect();
    if !removed.is_empty() {
        println!(
            "not configured: {} (their rows stay, their deletions are not erased and their \
             audit retention does not run; `idp tenants purge --tenant ID` deletes them)",
            removed.join(", ")
        );
    }
    Ok(())
}

fn purge(
    config: &Config,
    conn: &mut DbConnection,
    id: &str,
    (yes, force): (bool, bool),
) -> Result<(), Failure> {
    let Some(tenant) = Removed::of(config, id) else {
        return Err(Failure::Other(format!(
            "tenant \"{id}\" is configured: remove its file from the configuration of every node \
             and restart them before purging it"
        )));
    };
    let rows: Rows = tenants::present(conn)?.remove(id).unwrap_or_default();
    if rows.is_empty() {
        println!("the database holds no rows of tenant {id}");
        return Ok(());
    }
    if !yes {
        for (table, n) in &rows {
            println!("{table}: {n}");
        }
        println!(
            "would delete {} rows of tenant {id}; nothing deleted: run again with --yes",
            rows.values().sum::<i64>()
        );
        return Ok(());
    }
    let now = SystemClock.now();
    if let Some(last) = tenants::last_active(conn, tenant)?
        && last > now - chrono::Duration::hours(QUIET_HOURS)
        && !force
    {
        return Err(Failure::Other(format!(
            "tenant \"{id}\" wrote audit events in the last {QUIET_HOURS} hours (the newest at \
             {} UTC): a node may still serve it (another node's configuration, or this one's \
             pointed at the wrong database); give --force once no node does",
            last.format("%Y-%m-%d %H:%M:%S")
        )));
    }
    let mut total = 0;
    for table in TABLES {
        let deleted = tenants::purge_table(conn, tenant, table)?;
        if deleted > 0 {
            println!("{table}: {deleted} deleted");
        }
        total += deleted;
    }
    // The deleted residents' data out of SQLite's WAL too (as an erasure does).
    if let WalCleared::Unfinished(why) = erasure::clear_wal(conn) {
        eprintln!(
            "warning: the deleted values stay in the SQLite WAL until it is overwritten or \
             checkpointed ({why}); docs/operations.md says how to empty it"
        );
    }
    // Counted again: a node still writing the tenant's rows leaves some behind.
    if let Some(left) = tenants::present(conn)?.remove(id) {
        let tables: Vec<&str> = left.keys().copied().collect();
        return Err(Failure::Other(format!(
            "{total} rows of tenant {id} deleted, but rows are left in {} (is a node still \
             serving it?): run the purge again",
            tables.join(", ")
        )));
    }
    println!("purged tenant {id}: {total} rows deleted");
    Ok(())
}
