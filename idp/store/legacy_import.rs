//! What `idp import-legacy` writes and `idp legacy report` reads of `legacy_accounts`.
//!
//! The import works a batch at a time: a `SELECT … IN (…)` of the usernames and one of the
//! subjects find the batch's existing accounts, one multi-row `INSERT` adds the new ones, inside one write transaction
//! ([`write_transaction`]). The report's counts are plain aggregates; what SQL would spell
//! differently on the two backends (months of a date) is grouped by the caller.

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::legacy::LegacyRow;
use super::schema::legacy_accounts;
use super::{DbConnection, StoreError};

/// A legacy account as the import inserts it (not yet linked).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = legacy_accounts)]
// NULL, not DEFAULT, for `None`: SQLite's multi-row INSERT has no DEFAULT keyword.
#[diesel(treat_none_as_default_value = false)]
pub struct NewLegacy<'a> {
    /// Internal id ([`super::new_id`]).
    pub id: String,
    /// The tenant.
    pub tenant_id: &'a str,
    /// The old login name, as exported (trimmed).
    pub username: &'a str,
    /// Lowercased login name.
    pub username_normalized: &'a str,
    /// The `sub` the e-services know.
    pub subject: &'a str,
    /// The address as exported (trimmed).
    pub email: Option<&'a str>,
    /// The address trimmed and lowercased.
    pub email_normalized: Option<&'a str>,
    /// The old hash, usable or not.
    pub password_hash: Option<&'a str>,
    /// The hash's format name; `None` when unusable.
    pub hash_format: Option<&'a str>,
    /// Display name.
    pub name: Option<&'a str>,
    /// An authority user.
    pub is_authority: bool,
    /// First imported.
    pub imported_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
}

/// What an import changes of an unlinked account.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = legacy_accounts)]
#[diesel(treat_none_as_null = true)]
pub struct LegacyChanges<'a> {
    /// The old login name, as exported (its case may change).
    pub username: &'a str,
    /// The `sub` the e-services know.
    pub subject: &'a str,
    /// The address as exported.
    pub email: Option<&'a str>,
    /// The address trimmed and lowercased.
    pub email_normalized: Option<&'a str>,
    /// The old hash.
    pub password_hash: Option<&'a str>,
    /// The hash's format name.
    pub hash_format: Option<&'a str>,
    /// Display name.
    pub name: Option<&'a str>,
    /// An authority user.
    pub is_authority: bool,
    /// When.
    pub updated_at: NaiveDateTime,
}

/// Runs `f` in a transaction that writes. On SQLite it is `BEGIN IMMEDIATE`: the write lock is
/// taken first, so a batch that reads, then writes, waits for another writer (`busy_timeout`)
/// instead of failing when that writer commits between its read and its write.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<StoreError>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let DbConnection::Sqlite(sqlite) = conn else {
        return conn
            .transaction(|conn| f(conn).map_err(Wrapped::Inner))
            .map_err(Wrapped::into_inner);
    };
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")
        .map_err(|e| E::from(e.into()))?;
    let outcome = f(conn);
    let DbConnection::Sqlite(sqlite) = conn else {
        return outcome;
    };
    match outcome {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(sqlite).map_err(|e| E::from(e.into()))?;
            Ok(value)
        }
        Err(error) => {
            // The error that made us roll back is the one to report.
            let _ = AnsiTransactionManager::rollback_transaction(sqlite);
            Err(error)
        }
    }
}

/// The error of a closure run by diesel's `transaction`, which wants `From<diesel::result::Error>`.
enum Wrapped<E> {
    Inner(E),
    Diesel(diesel::result::Error),
}

impl<E> From<diesel::result::Error> for Wrapped<E> {
    fn from(error: diesel::result::Error) -> Self {
        Wrapped::Diesel(error)
    }
}

impl<E: From<StoreError>> Wrapped<E> {
    fn into_inner(self) -> E {
        match self {
            Wrapped::Inner(error) => error,
            Wrapped::Diesel(error) => E::from(error.into()),
        }
    }
}

/// The accounts of `tenant` that have one of these (lowercased) usernames or one of these subjects.
pub fn existing(
    conn: &mut DbConnection,
    tenant: &str,
    usernames_normalized: &[&str],
    subjects: &[&str],
) -> Result<Vec<LegacyRow>, StoreError> {
    // Two reads, each along its unique index: with `OR`, SQLite scans the tenant's accounts.
    let mut found: Vec<LegacyRow> = legacy_accounts::table
        .filter(legacy_accounts::tenant_id.eq(tenant))
        .filter(legacy_accounts::username_normalized.eq_any(usernames_normalized))
        .select(LegacyRow::as_select())
        .load(conn)?;
    let by_subject: Vec<LegacyRow> = legacy_accounts::table
        .filter(legacy_accounts::tenant_id.eq(tenant))
        .filter(legacy_accounts::subject.eq_any(subjects))
        .filter(legacy_accounts::username_normalized.ne_all(usernames_normalized))
        .select(LegacyRow::as_select())
        .load(conn)?;
    found.extend(by_subject);
    Ok(found)
}

/// Inserts the rows in one statement. A backend arm each: diesel's `MultiConnection` has no
/// multi-row `INSERT`, while each backend's own connection has.
pub fn insert_many(conn: &mut DbConnection, rows: &[NewLegacy<'_>]) -> Result<usize, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let insert = diesel::insert_into(legacy_accounts::table).values(rows);
    Ok(match conn {
        DbConnection::Sqlite(conn) => insert.execute(conn)?,
        DbConnection::Postgres(conn) => insert.execute(conn)?,
    })
}

/// Updates an account unless it is linked; false when it is (a login bound it meanwhile).
pub fn update_unlinked(
    conn: &mut DbConnection,
    id: &str,
    changes: &LegacyChanges<'_>,
) -> Result<bool, StoreError> {
    let changed = diesel::update(
        legacy_accounts::table
            .find(id)
            .filter(legacy_accounts::linked_user_id.is_null()),
    )
    .set(changes)
    .execute(conn)?;
    Ok(changed == 1)
}

/// Addresses of `tenant` shared by several accounts: how many addresses, and how many accounts
/// have one of them.
pub fn shared_emails(conn: &mut DbConnection, tenant: &str) -> Result<(u64, u64), StoreError> {
    let sizes: Vec<i64> = legacy_accounts::table
        .filter(legacy_accounts::tenant_id.eq(tenant))
        .filter(legacy_accounts::email_normalized.is_not_null())
        .group_by(legacy_accounts::email_normalized)
        .having(count_star().gt(1))
        .select(count_star())
        .load(conn)?;
    let accounts = sizes.iter().map(|&n| u64::try_from(n).unwrap_or(0)).sum();
    Ok((sizes.len() as u64, accounts))
}

/// The counts of `idp legacy report`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportCounts {
    /// Every legacy account of the tenant.
    pub total: u64,
    /// Bound to a user.
    pub linked: u64,
    /// Without an address.
    pub without_email: u64,
    /// Without a usable hash (none, or of a format the verifier does not know).
    pub unusable_hashes: u64,
    /// Authority accounts.
    pub authority: u64,
    /// Addresses shared by several accounts.
    pub shared_addresses: u64,
    /// Accounts with a shared address.
    pub shared_accounts: u64,
    /// Accounts per hash format name, by name.
    pub formats: Vec<(String, u64)>,
    /// When each linked account was bound, oldest first.
    pub linked_at: Vec<NaiveDateTime>,
}

/// The report's counts for `tenant`.
pub fn report(conn: &mut DbConnection, tenant: &str) -> Result<ReportCounts, StoreError> {
    let of_tenant = || legacy_accounts::table.filter(legacy_accounts::tenant_id.eq(tenant));
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let total: i64 = of_tenant().count().get_result(conn)?;
    let linked: i64 = of_tenant()
        .filter(legacy_accounts::linked_user_id.is_not_null())
        .count()
        .get_result(conn)?;
    let without_email: i64 = of_tenant()
        .filter(legacy_accounts::email_normalized.is_null())
        .count()
        .get_result(conn)?;
    let unusable: i64 = of_tenant()
        .filter(
            legacy_accounts::hash_format
                .is_null()
                .or(legacy_accounts::password_hash.is_null()),
        )
        .count()
        .get_result(conn)?;
    let authority: i64 = of_tenant()
        .filter(legacy_accounts::is_authority.eq(true))
        .count()
        .get_result(conn)?;
    let formats: Vec<(Option<String>, i64)> = of_tenant()
        .filter(legacy_accounts::hash_format.is_not_null())
        .filter(legacy_accounts::password_hash.is_not_null())
        .group_by(legacy_accounts::hash_format)
        .select((legacy_accounts::hash_format, count_star()))
        .order(legacy_accounts::hash_format.asc())
        .load(conn)?;
    let linked_at: Vec<Option<NaiveDateTime>> = of_tenant()
        .filter(legacy_accounts::linked_at.is_not_null())
        .select(legacy_accounts::linked_at)
        .order(legacy_accounts::linked_at.asc())
        .load(conn)?;
    let (shared_addresses, shared_accounts) = shared_emails(conn, tenant)?;
    Ok(ReportCounts {
        total: count(total),
        linked: count(linked),
        without_email: count(without_email),
        unusable_hashes: count(unusable),
        authority: count(authority),
        shared_addresses,
        shared_accounts,
        formats: formats
            .into_iter()
            .filter_map(|(name, n)| Some((name?, count(n))))
            .collect(),
        linked_at: linked_at.into_iter().flatten().collect(),
    })
}
