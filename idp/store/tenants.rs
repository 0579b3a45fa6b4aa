//! The tenants the database holds rows of, and the purge of a tenant removed from the
//! configuration (`idp tenants list | purge`, docs/operations.md).
//!
//! Removing a tenant's file stops serving it, and nothing else: its residents, old accounts,
//! audit trail and keys stay, its pending deletions are never erased and its audit retention
//! stops (both run per configured tenant). The purge deletes every row of such a tenant, in
//! batches of [`PURGE_BATCH`] rows, each batch its own transaction: a large tenant never holds a
//! lock for long, and a purge cut short is run again to finish.
//!
//! Every other function of the store takes a [`super::Tenant`], which only a configured tenant
//! makes; these take a [`Removed`], which only a tenant the configuration does not know makes.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::schema::signing_keys;
use super::{DbConnection, Result, StoreError};
use crate::config::Config;

/// Every table with a `tenant_id`, in the order the purge empties them: what names a grant, a
/// session, an old account or a user before those (their foreign keys would cascade the deletes
/// into one long statement), `users` last. A unit test compares it with `schema.rs`.
pub const TABLES: [&str; 23] = [
    "auth_codes",
    "refresh_tokens",
    "consents",
    "one_time_links",
    "mail_outbox",
    "logout_deliveries",
    "recovery_codes",
    "totp_factors",
    "passkeys",
    "passkey_offers",
    "ceremonies",
    "account_deletions",
    "account_epochs",
    "mail_limit_events",
    "login_throttle",
    "revoked_access_tokens",
    "auth_requests",
    "grants",
    "sso_sessions",
    "legacy_accounts",
    "audit_events",
    "signing_keys",
    "users",
];

/// The most rows one transaction of the purge deletes.
pub const PURGE_BATCH: i64 = 5_000;

/// A tenant id the configuration does not have: the only tenant whose rows may be purged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removed<'a>(&'a str);

impl<'a> Removed<'a> {
    /// `id` when no tenant of `config` has it, else `None`.
    pub fn of(config: &Config, id: &'a str) -> Option<Removed<'a>> {
        config.tenant(id).is_none().then_some(Removed(id))
    }

    /// The tenant's id.
    pub fn id(self) -> &'a str {
        self.0
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = Nullable<Text>)]
    tenant_id: Option<String>,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// What the database holds of a tenant, by table (tables without its rows left out).
pub type Rows = BTreeMap<&'static str, i64>;

/// Every tenant id that has rows, with its rows by table. Reads each table whole (an operator's
/// command, not a request's). Rows without a tenant (none are written; an empty id is what
/// revoked tokens of before tenants had, gone within their hour) are no tenant's.
pub fn present(conn: &mut DbConnection) -> Result<BTreeMap<String, Rows>> {
    let mut tenants: BTreeMap<String, Rows> = BTreeMap::new();
    for table in TABLES {
        let sql = format!("SELECT tenant_id, count(*) AS n FROM {table} GROUP BY tenant_id");
        for count in diesel::sql_query(sql).load::<Count>(conn)? {
            let Some(id) = count.tenant_id.filter(|id| !id.is_empty()) else {
                continue;
            };
            tenants.entry(id).or_default().insert(table, count.n);
        }
    }
    Ok(tenants)
}

/// When the newest audit event of `tenant` occurred: a tenant still served writes them (every
/// login, every seal of the chain's events is of a login or a change).
pub fn last_active(conn: &mut DbConnection, tenant: Removed<'_>) -> Result<Option<NaiveDateTime>> {
    use super::schema::audit_events;
    Ok(audit_events::table
        .filter(audit_events::tenant_id.eq(tenant.id()))
        .select(diesel::dsl::max(audit_events::occurred_at))
        .first(conn)?)
}

/// The tenants that have signing keys and no configuration (every tenant served has keys): a
/// tenant's file removed, whose rows stay. Reads the keys only, a few rows a tenant, for a
/// warning at each start.
pub fn unconfigured(conn: &mut DbConnection, config: &Config) -> Result<Vec<String>> {
    let ids: Vec<String> = signing_keys::table
        .select(signing_keys::tenant_id)
        .distinct()
        .load(conn)?;
    Ok(ids
        .into_iter()
        .filter(|id| config.tenant(id).is_none())
        .collect())
}

/// Deletes every row of `tenant` from `table` (one of [`TABLES`]), [`PURGE_BATCH`] rows a
/// transaction; returns how many went.
pub fn purge_table(conn: &mut DbConnection, tenant: Removed<'_>, table: &str) -> Result<u64> {
    assert!(TABLES.contains(&table), "not a tenant's table: {table}");
    // The row's physical address picks a batch on either backend, whatever the table's key.
    let (row, parameter) = match conn {
        DbConnection::Sqlite(_) => ("rowid", "?"),
        DbConnection::Postgres(_) => ("ctid", "$1"),
    };
    let sql = format!(
        "DELETE FROM {table} WHERE {row} IN \
         (SELECT {row} FROM {table} WHERE tenant_id = {parameter} LIMIT {PURGE_BATCH})"
    );
    // Until a batch finds nothing: on PostgreSQL a row updated meanwhile (a node's worker
    // leasing a mail of the tenant) moves to another `ctid`, and a batch may miss it.
    let mut deleted = 0;
    loop {
        let batch = super::write_alone(conn, |conn| {
            diesel::sql_query(&sql)
                .bind::<Text, _>(tenant.id())
                .execute(conn)
                .map_err(StoreError::from)
        })?;
        if batch == 0 {
            return Ok(deleted);
        }
        deleted += batch as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::TABLES;

    #[test]
    fn the_purge_knows_every_table_with_a_tenant() {
        let schema = include_str!("schema.rs");
        let mut with_tenant = Vec::new();
        let mut table = "";
        for line in schema.lines().map(str::trim) {
            if let Some((name, _)) = line.split_once(" (")
                && line.ends_with('{')
                && !name.contains(' ')
            {
                table = name;
            }
            if line.starts_with("tenant_id ->") {
                with_tenant.push(table);
            }
        }
        let mut purged = TABLES.to_vec();
        purged.sort_unstable();
        with_tenant.sort_unstable();
        assert_eq!(purged, with_tenant);
    }
}
