//! What `idp import-legacy` writes and `idp legacy report` reads of `legacy_accounts`.
//!
//! The import works a batch at a time: a `SELECT … IN (…)` of the usernames and one of the
//! subjects find the batch's existing accounts, one multi-row `INSERT` adds the new ones, inside
//! one [`write_transaction`](super::write_transaction). The report's counts are plain aggregates;
//! what SQL would spell differently on the two backends (months of a date) is grouped by the
//! caller.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::legacy::LegacyRow;
use super::schema::{legacy_accounts, users};
use super::{DbConnection, Result, Tenant};
use crate::domain::lookup_key;

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
    /// Lowercased login name: the key of the import.
    pub username_normalized: &'a str,
    /// First imported.
    pub imported_at: NaiveDateTime,
    /// What the export says of the account, as a later import may change it.
    #[diesel(embed)]
    pub exported: LegacyChanges<'a>,
}

/// The ids of one import run's new rows: UUIDv7s of the run's time whose counter bits
/// (RFC 9562 §6.2, method 1) keep them in the order they are made, so that a million new rows
/// append to the primary key's index instead of landing all over it ([`super::new_id`] fills
/// those bits at random).
#[derive(Debug)]
pub struct RunIds {
    context: uuid::ContextV7,
    seconds: u64,
    nanos: u32,
}

impl RunIds {
    /// Ids for a run started at `now`.
    pub fn new(now: NaiveDateTime) -> Self {
        let utc = now.and_utc();
        RunIds {
            context: uuid::ContextV7::new(),
            seconds: u64::try_from(utc.timestamp()).unwrap_or(0),
            nanos: utc.timestamp_subsec_nanos(),
        }
    }

    /// The next id.
    pub fn next_id(&self) -> String {
        let at = uuid::Timestamp::from_unix(&self.context, self.seconds, self.nanos);
        uuid::Uuid::new_v7(at).to_string()
    }
}

/// What an export says of an account: inserted with a new account ([`NewLegacy`]), the changes of
/// an import to an unlinked one.
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = legacy_accounts)]
// NULL for `None`, both inserted (as in `NewLegacy`) and changed.
#[diesel(treat_none_as_default_value = false, treat_none_as_null = true)]
pub struct LegacyChanges<'a> {
    /// The old login name, as exported and trimmed (its case may change).
    pub username: &'a str,
    /// The `sub` the e-services know.
    pub subject: &'a str,
    /// The address in use: as exported, or support's that stays.
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
    /// Last changed.
    pub updated_at: NaiveDateTime,
    /// The address the export gives, trimmed and lowercased: `email_normalized` unless the
    /// address support set stays ([`super::legacy::LegacyRow::exported_email_normalized`]).
    pub exported_email_normalized: Option<&'a str>,
}

/// The accounts of `tenant` that have one of these (lowercased) usernames or one of these subjects.
pub fn existing(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    usernames_normalized: &[&str],
    subjects: &[&str],
) -> Result<Vec<LegacyRow>> {
    // Two reads, each along its unique index (with `OR`, SQLite scans the tenant's accounts).
    // The second asks only for subjects the first did not find, none on a re-import.
    let mut found: Vec<LegacyRow> = legacy_accounts::table
        .filter(legacy_accounts::tenant_id.eq(tenant.id()))
        .filter(legacy_accounts::username_normalized.eq_any(usernames_normalized))
        .select(LegacyRow::as_select())
        .load(conn)?;
    let known: HashSet<&str> = found.iter().map(|r| r.subject.as_str()).collect();
    let other: Vec<&str> = subjects
        .iter()
        .copied()
        .filter(|s| !known.contains(s))
        .collect();
    if !other.is_empty() {
        let by_subject: Vec<LegacyRow> = legacy_accounts::table
            .filter(legacy_accounts::tenant_id.eq(tenant.id()))
            .filter(legacy_accounts::subject.eq_any(&other))
            .select(LegacyRow::as_select())
            .load(conn)?;
        found.extend(by_subject);
    }
    Ok(found)
}

/// Which of these (lowercased) usernames a user of `tenant` has (an authority user added with
/// `idp users add`).
pub fn users_named(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    usernames_normalized: &[&str],
) -> Result<HashSet<String>> {
    if usernames_normalized.is_empty() {
        return Ok(HashSet::new());
    }
    let named: Vec<Option<String>> = users::table
        .filter(users::tenant_id.eq(tenant.id()))
        .filter(users::username_normalized.eq_any(usernames_normalized))
        .select(users::username_normalized)
        .load(conn)?;
    Ok(named.into_iter().flatten().collect())
}

/// Inserts the rows in one statement.
pub fn insert_many(conn: &mut DbConnection, rows: &[NewLegacy<'_>]) -> Result<usize> {
    super::rows::insert_all::<_, NewLegacy<'_>>(conn, legacy_accounts::table, rows)
}

/// Updates an account of `tenant` unless it is linked, or its address is no longer
/// `email_normalized`, as the import read it (support set one meanwhile); false when either
/// happened.
pub fn update_unlinked(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    email_normalized: Option<&str>,
    changes: &LegacyChanges<'_>,
) -> Result<bool> {
    let unlinked = legacy_accounts::table
        .find(id)
        .filter(legacy_accounts::tenant_id.eq(tenant.id()))
        .filter(legacy_accounts::linked_user_id.is_null());
    let changed = match email_normalized {
        None => diesel::update(unlinked.filter(legacy_accounts::email_normalized.is_null()))
            .set(changes)
            .execute(conn)?,
        Some(email) => diesel::update(unlinked.filter(legacy_accounts::email_normalized.eq(email)))
            .set(changes)
            .execute(conn)?,
    };
    Ok(changed == 1)
}

/// Addresses of `tenant` shared by several accounts: how many addresses, and how many accounts
/// have one of them.
pub fn shared_emails(conn: &mut DbConnection, tenant: Tenant<'_>) -> Result<(u64, u64)> {
    let sizes: Vec<i64> = legacy_accounts::table
        .filter(legacy_accounts::tenant_id.eq(tenant.id()))
        .filter(legacy_accounts::email_normalized.is_not_null())
        .group_by(legacy_accounts::email_normalized)
        .having(count_star().gt(1))
        .select(count_star())
        .load(conn)?;
    Ok(sum_groups(&sizes))
}

diesel::table! {
    /// Scratch of one import run, on its connection only (a temporary table): the usernames
    /// (`u:<lowercased>`) and subjects (`s:<subject>`) of the rows accepted so far, with their
    /// line, so that a repeat is refused in bounded memory whatever the file's size.
    legacy_import_seen (key) {
        /// `u:` or `s:`, then the value.
        key -> Text,
        /// Where the row started.
        line -> BigInt,
    }
}

diesel::table! {
    /// Scratch of one import run: the username key of every row of the file whose username
    /// could be read (accepted or refused), to tell the accounts the file no longer holds.
    legacy_import_present (key) {
        /// The username's lookup key.
        key -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(legacy_accounts, legacy_import_present);

diesel::table! {
    /// Scratch of a dry run: the addresses of the accepted rows, to count shared addresses.
    legacy_import_emails (line) {
        /// Where the row started.
        line -> BigInt,
        /// The normalised address.
        email -> Text,
    }
}

/// A row of [`legacy_import_seen`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = legacy_import_seen)]
pub struct SeenKey {
    /// `u:` or `s:`, then the value.
    pub key: String,
    /// Where the row started.
    pub line: i64,
}

/// A row of [`legacy_import_emails`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = legacy_import_emails)]
pub struct RunEmail<'a> {
    /// Where the row started.
    pub line: i64,
    /// The normalised address.
    pub email: &'a str,
}

/// Makes the run's scratch tables, empty. They live on disk (SQLite's bundled build would keep
/// temporary tables in memory) and vanish with the connection; [`end_run`] drops them sooner.
pub fn begin_run(conn: &mut DbConnection) -> Result<()> {
    if matches!(conn, DbConnection::Sqlite(_)) {
        // On disk, with a cache of its own of at most 16 MB.
        diesel::sql_query("PRAGMA temp_store = FILE").execute(conn)?;
        diesel::sql_query("PRAGMA temp.cache_size = -16000").execute(conn)?;
    }
    for sql in [
        "DROP TABLE IF EXISTS legacy_import_seen",
        "DROP TABLE IF EXISTS legacy_import_emails",
        "DROP TABLE IF EXISTS legacy_import_present",
        "CREATE TEMPORARY TABLE legacy_import_present (key TEXT PRIMARY KEY)",
        "CREATE TEMPORARY TABLE legacy_import_seen (key TEXT PRIMARY KEY, line BIGINT NOT NULL)",
        "CREATE TEMPORARY TABLE legacy_import_emails (line BIGINT PRIMARY KEY, email TEXT NOT NULL)",
    ] {
        diesel::sql_query(sql).execute(conn)?;
    }
    Ok(())
}

/// Drops the run's scratch tables.
pub fn end_run(conn: &mut DbConnection) -> Result<()> {
    for sql in [
        "DROP TABLE IF EXISTS legacy_import_seen",
        "DROP TABLE IF EXISTS legacy_import_emails",
        "DROP TABLE IF EXISTS legacy_import_present",
    ] {
        diesel::sql_query(sql).execute(conn)?;
    }
    if matches!(conn, DbConnection::Sqlite(_)) {
        diesel::sql_query("PRAGMA temp_store = DEFAULT").execute(conn)?;
    }
    Ok(())
}

/// The keys of this run among `keys`, with their line.
pub fn seen(conn: &mut DbConnection, keys: &[String]) -> Result<Vec<(String, i64)>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    Ok(legacy_import_seen::table
        .filter(legacy_import_seen::key.eq_any(keys))
        .select((legacy_import_seen::key, legacy_import_seen::line))
        .load(conn)?)
}

/// Remembers keys for the rest of the run.
pub fn remember(conn: &mut DbConnection, keys: &[SeenKey]) -> Result<()> {
    super::rows::insert_all::<_, SeenKey>(conn, legacy_import_seen::table, keys)?;
    Ok(())
}

/// Remembers that the file holds the usernames `keys` (lookup keys; repeats allowed).
pub fn mark_present(conn: &mut DbConnection, keys: &[String]) -> Result<()> {
    let mut fresh: Vec<&String> = keys.iter().collect();
    fresh.sort_unstable();
    fresh.dedup();
    if fresh.is_empty() {
        return Ok(());
    }
    let known: HashSet<String> = legacy_import_present::table
        .filter(legacy_import_present::key.eq_any(&fresh))
        .select(legacy_import_present::key)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    let rows: Vec<PresentKey<'_>> = fresh
        .into_iter()
        .filter(|key| !known.contains(*key))
        .map(|key| PresentKey { key })
        .collect();
    // One statement (a batch's keys are at most 2,000, within both stores' limits of binds).
    super::rows::insert_all::<_, PresentKey<'_>>(conn, legacy_import_present::table, &rows)?;
    Ok(())
}

/// A row of [`legacy_import_present`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = legacy_import_present)]
pub struct PresentKey<'a> {
    /// The username's lookup key.
    pub key: &'a str,
}

/// The unbound old accounts of `tenant` whose username the run's file does not hold (at most
/// `most`, by id): `(id, username)`.
pub fn not_in_file(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    most: i64,
) -> Result<Vec<(String, String)>> {
    Ok(legacy_accounts::table
        .filter(legacy_accounts::tenant_id.eq(tenant.id()))
        .filter(legacy_accounts::linked_user_id.is_null())
        // NOT EXISTS, not NOT IN: PostgreSQL plans it as an anti-join, where a NOT IN over
        // more keys than its work memory holds would scan them again for every account.
        .filter(diesel::dsl::not(diesel::dsl::exists(
            legacy_import_present::table
                .filter(legacy_import_present::key.eq(legacy_accounts::username_normalized)),
        )))
        .order(legacy_accounts::id.asc())
        .limit(most)
        .select((legacy_accounts::id, legacy_accounts::username))
        .load(conn)?)
}

/// How many unbound old accounts of `tenant` the run's file does not hold.
pub fn count_not_in_file(conn: &mut DbConnection, tenant: Tenant<'_>) -> Result<u64> {
    let n: i64 = legacy_accounts::table
        .filter(legacy_accounts::tenant_id.eq(tenant.id()))
        .filter(legacy_accounts::linked_user_id.is_null())
        // NOT EXISTS, not NOT IN: PostgreSQL plans it as an anti-join, where a NOT IN over
        // more keys than its work memory holds would scan them again for every account.
        .filter(diesel::dsl::not(diesel::dsl::exists(
            legacy_import_present::table
                .filter(legacy_import_present::key.eq(legacy_accounts::username_normalized)),
        )))
        .count()
        .get_result(conn)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// How many unbound old accounts `tenant` has.
pub fn count_unbound(conn: &mut DbConnection, tenant: Tenant<'_>) -> Result<u64> {
    let n: i64 = legacy_accounts::table
        .filter(legacy_accounts::tenant_id.eq(tenant.id()))
        .filter(legacy_accounts::linked_user_id.is_null())
        .count()
        .get_result(conn)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Deletes the unbound old accounts `ids` of `tenant` (their mailed links go with them, `ON
/// DELETE CASCADE`); how many. An account bound meanwhile stays.
pub fn retire(conn: &mut DbConnection, tenant: Tenant<'_>, ids: &[String]) -> Result<usize> {
    Ok(diesel::delete(
        legacy_accounts::table
            .filter(legacy_accounts::tenant_id.eq(tenant.id()))
            .filter(legacy_accounts::linked_user_id.is_null())
            .filter(legacy_accounts::id.eq_any(ids)),
    )
    .execute(conn)?)
}

/// Deletes the old account `account` of `tenant` if no user has bound it ([`retire`]), with what
/// names it: its links (ON DELETE CASCADE), its throttle counters, the linker's mail to each
/// address it was mailed at that nobody else holds (a user's, another old account's: their mail,
/// which may list theirs, stays), and the mail that names it wherever it went (a shared address
/// too). Whether it was deleted (false: bound meanwhile, by a first login). Support's
/// `idp legacy delete` and the import's `--retire-missing` alike: the old system erased it.
pub fn retire_account(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    account: &LegacyRow,
) -> Result<bool> {
    let Some(sent_to) = retire_one(conn, tenant, account)? else {
        return Ok(false);
    };
    forget_mail_of_retired(conn, tenant, (std::slice::from_ref(&account.id), sent_to))?;
    Ok(true)
}

/// [`retire_account`] without the mail: the addresses it was mailed at when it was deleted, for
/// [`forget_mail_of_retired`] (once for a batch: each reads the tenant's linker mail).
pub fn retire_one(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    account: &LegacyRow,
) -> Result<Option<std::collections::BTreeSet<String>>> {
    // Where the linker mailed it, before its links go with it: its address as exported, as
    // set, and as each link was sent.
    let mut sent_to: std::collections::BTreeSet<String> =
        super::links::addresses_of_legacy(conn, tenant, &account.id)?
            .into_iter()
            .chain(account.email.clone())
            .map(|address| lookup_key(&address))
            .collect();
    sent_to.extend(account.email_normalized.clone());
    if account.linked_user_id.is_some()
        || retire(conn, tenant, std::slice::from_ref(&account.id))? == 0
    {
        return Ok(None);
    }
    super::throttle::forget_legacy(conn, tenant, &account.id)?;
    Ok(Some(sent_to))
}

/// The mail of the retired old accounts `ids`, mailed at `sent_to`: the linker's mail to each of
/// those addresses that nobody holds now, and the mail that names one of them.
pub fn forget_mail_of_retired(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    (ids, sent_to): (&[String], std::collections::BTreeSet<String>),
) -> Result<()> {
    let mut nobodys = std::collections::BTreeSet::new();
    for address in sent_to {
        let held = super::users::find_by_email(conn, tenant, &address)?.is_some()
            || !super::legacy::unlinked_by_email(conn, tenant, &address)?.is_empty();
        if !held {
            nobodys.insert(address);
        }
    }
    super::outbox::forget_linker_mail(conn, tenant, &nobodys)?;
    super::outbox::forget_mail_naming(conn, tenant, ids)?;
    Ok(())
}

/// Remembers the addresses of a dry run's accepted rows.
pub fn remember_emails(conn: &mut DbConnection, emails: &[RunEmail<'_>]) -> Result<()> {
    super::rows::insert_all::<_, RunEmail<'_>>(conn, legacy_import_emails::table, emails)?;
    Ok(())
}

/// Addresses of the run's accepted rows shared by several of them, and those rows.
pub fn shared_in_run(conn: &mut DbConnection) -> Result<(u64, u64)> {
    let sizes: Vec<i64> = legacy_import_emails::table
        .group_by(legacy_import_emails::email)
        .having(count_star().gt(1))
        .select(count_star())
        .load(conn)?;
    Ok(sum_groups(&sizes))
}

fn sum_groups(sizes: &[i64]) -> (u64, u64) {
    let accounts = sizes.iter().map(|&n| u64::try_from(n).unwrap_or(0)).sum();
    (sizes.len() as u64, accounts)
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
pub fn report(conn: &mut DbConnection, tenant: Tenant<'_>) -> Result<ReportCounts> {
    let of_tenant = || legacy_accounts::table.filter(legacy_accounts::tenant_id.eq(tenant.id()));
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
    // A bound account's hash is forgotten (`legacy::link`): its format tells what it was.
    let unbound_without_hash = legacy_accounts::password_hash
        .is_null()
        .and(legacy_accounts::linked_user_id.is_null());
    let unusable: i64 = of_tenant()
        .filter(
            legacy_accounts::hash_format
                .is_null()
                .or(unbound_without_hash),
        )
        .count()
        .get_result(conn)?;
    let authority: i64 = of_tenant()
        .filter(legacy_accounts::is_authority.eq(true))
        .count()
        .get_result(conn)?;
    let formats: Vec<(Option<String>, i64)> = of_tenant()
        .filter(legacy_accounts::hash_format.is_not_null())
        .filter(
            legacy_accounts::password_hash
                .is_not_null()
                .or(legacy_accounts::linked_user_id.is_not_null()),
        )
        .group_by(legacy_accounts::hash_format)
        .select((legacy_accounts::hash_format, count_star()))
        .order(legacy_accounts::hash_format.asc())
        .load(conn)?;
    // An erased resident's old accounts keep no time of their binding (it named the resident
    // behind the trail's pseudonym): they are no month's first logins.
    let linked_at: Vec<Option<NaiveDateTime>> = of_tenant()
        .filter(legacy_accounts::linked_at.gt(super::erasure::TOMBSTONE_TIME))
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
