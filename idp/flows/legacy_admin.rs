//! Support's side of the legacy accounts: how far a tenant's migration has come
//! (`idp legacy report`), and giving an account the address it lacks (`idp legacy set-email`).

use std::fmt;

use chrono::NaiveDateTime;

use crate::config::TenantConfig;
use crate::domain::{Email, lookup_key};
use crate::store::legacy_import::{self, ReportCounts};
use crate::store::{DbConnection, StoreError, Tenant, audit, legacy, links};

/// The migration follow-up of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The counts.
    pub counts: ReportCounts,
    /// First logins (accounts bound) per month of the tenant's time zone, `YYYY-MM`, oldest
    /// first.
    pub per_month: Vec<(String, u64)>,
}

/// The report of `tenant`.
pub fn report(conn: &mut DbConnection, tenant: &TenantConfig) -> Result<Report, StoreError> {
    let counts = legacy_import::report(conn, Tenant::of(tenant))?;
    let mut per_month: Vec<(String, u64)> = Vec::new();
    // Grouped here: SQLite and PostgreSQL spell "the month of" differently. The city's month: a
    // login at 00.30 on the 1st in Helsinki is 22.30 UTC the day before.
    for at in &counts.linked_at {
        let local = at.and_utc().with_timezone(&tenant.time_zone);
        let month = local.format("%Y-%m").to_string();
        match per_month.last_mut() {
            Some((last, n)) if *last == month => *n += 1,
            _ => per_month.push((month, 1)),
        }
    }
    Ok(Report { counts, per_month })
}

/// Width of the labels of the report.
const LABEL: usize = 23;

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        let line = |f: &mut fmt::Formatter<'_>, label: &str, value: &dyn fmt::Display| {
            writeln!(f, "{label:<LABEL$}  {value}")
        };
        line(f, "legacy accounts", &c.total)?;
        line(f, "linked", &c.linked)?;
        line(f, "not yet linked", &c.total.saturating_sub(c.linked))?;
        line(f, "without email", &c.without_email)?;
        line(
            f,
            "shared emails",
            &format_args!(
                "{} addresses, {} accounts",
                c.shared_addresses, c.shared_accounts
            ),
        )?;
        line(f, "unusable hashes", &c.unusable_hashes)?;
        line(f, "authority accounts", &c.authority)?;
        writeln!(f)?;
        writeln!(f, "accounts per hash format")?;
        for (format, n) in &c.formats {
            line(f, format, n)?;
        }
        line(f, "unusable", &c.unusable_hashes)?;
        writeln!(f)?;
        writeln!(f, "first logins per month")?;
        if self.per_month.is_empty() {
            writeln!(f, "none yet")?;
        }
        for (month, n) in &self.per_month {
            writeln!(f, "{month}  {n}")?;
        }
        Ok(())
    }
}

/// Why support's change of a legacy account could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SetEmailError {
    /// No such legacy account.
    #[error("no legacy account \"{username}\" in tenant {tenant}")]
    Unknown {
        /// As given.
        username: String,
        /// The tenant.
        tenant: String,
    },
    /// The account is bound to a user: its address is the user's, changed on the account page;
    /// it is erased with the user.
    #[error("the legacy account \"{username}\" is already linked to a user: {instead}")]
    Linked {
        /// As stored.
        username: String,
        /// What to do instead.
        instead: &'static str,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `set_email` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSet {
    /// The account's username, as stored.
    pub username: String,
    /// The address it had.
    pub previous: Option<String>,
    /// Other unlinked accounts with the same address (the resident will choose at login).
    pub sharing: usize,
}

/// Gives the unlinked legacy account `username` of `tenant` the address `email`, voids the links
/// mailed for it that are not used yet (when the address changes), and records its audit event,
/// in one transaction. A re-import keeps the address while the export still gives the account
/// the address it gave before (`idp/flows/legacy_import/batch.rs`).
pub fn set_email(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    username: &str,
    email: &Email,
    now: NaiveDateTime,
) -> Result<EmailSet, SetEmailError> {
    crate::store::write_transaction(conn, |conn| {
        let account = named(conn, tenant, username)?;
        let linked = || SetEmailError::Linked {
            username: account.username.clone(),
            instead: "the address is changed on the account page",
        };
        if account.linked_user_id.is_some() {
            return Err(linked());
        }
        if !legacy::set_email(
            conn,
            tenant,
            &account.id,
            email.as_entered(),
            email.normalized(),
            now,
        )? {
            return Err(linked());
        }
        // A link the linker mailed to the old address would bind the account with the new one,
        // marked verified, for whoever reads the old address. The same address again changes
        // nothing, and its links stay.
        if account.email_normalized.as_deref() != Some(email.normalized()) {
            links::void_for_legacy(conn, tenant, &account.id, now)?;
        }
        // The old account's internal id, never its username or an address: an event without a
        // user id outlives the resident's erasure.
        let detail = serde_json::json!({
            "by": "cli",
            "account": account.id,
        });
        audit::Event::new(tenant.id(), now, "legacy.email_set")
            .detail(&detail)
            .record(conn)?;
        let sharing = legacy::unlinked_by_email(conn, tenant, email.normalized())?
            .iter()
            .filter(|other| other.id != account.id)
            .count();
        Ok(EmailSet {
            username: account.username,
            previous: account.email,
            sharing,
        })
    })
}

/// The legacy account of `tenant` whose username is `username` (in any case), or the error that
/// names it unknown.
fn named(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    username: &str,
) -> Result<legacy::LegacyRow, SetEmailError> {
    found(
        legacy::find_by_username(conn, tenant, &lookup_key(username))?,
        tenant,
        username,
    )
}

/// How support names an old account: by its old username, or by its internal id (the `account`
/// of its `legacy.*` events: after a restore, the account a lost `legacy.retired` names).
#[derive(Debug, Clone, Copy)]
pub enum OldAccount<'a> {
    /// Its old username, in any case.
    Username(&'a str),
    /// Its internal id.
    Id(&'a str),
}

/// `account` if there is one, else the error that names `given` unknown in `tenant`.
fn found(
    account: Option<legacy::LegacyRow>,
    tenant: Tenant<'_>,
    given: &str,
) -> Result<legacy::LegacyRow, SetEmailError> {
    account.ok_or_else(|| SetEmailError::Unknown {
        username: given.trim().to_string(),
        tenant: tenant.id().to_string(),
    })
}

/// Deletes the legacy account `which` of `tenant` that no user has bound (its owner asked for
/// its erasure, or the old system removed it), with its links (ON DELETE CASCADE), throttle
/// counters and the mail that names no account at its address (where nobody else holds it), audited as `legacy.retired` (`"by": "cli"`, the account's internal id), in one
/// transaction; its old username, as stored. A bound account is erased with its user
/// (`idp users delete`).
pub fn delete(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    which: OldAccount<'_>,
    now: NaiveDateTime,
) -> Result<String, SetEmailError> {
    crate::store::write_transaction(conn, |conn| {
        let account = match which {
            OldAccount::Username(username) => named(conn, tenant, username)?,
            OldAccount::Id(id) => found(legacy::find(conn, tenant, id.trim())?, tenant, id)?,
        };
        // One bound meanwhile (a first login) stays.
        if !legacy_import::retire_account(conn, tenant, &account)? {
            return Err(SetEmailError::Linked {
                username: account.username,
                instead: "delete the user with idp users delete, which erases its old accounts too",
            });
        }
        audit::Event::new(tenant.id(), now, "legacy.retired")
            .detail(&serde_json::json!({ "by": "cli", "account": account.id }))
            .record(conn)?;
        Ok(account.username)
    })
}
