//! One batch of rows against the database: one read of the accounts it touches, then inserts
//! and updates in one write transaction. A constraint error (a concurrent writer, a case the
//! checks did not foresee) rolls the batch back, and it is redone a row at a time so that only
//! the rows at fault are refused.

use std::collections::HashMap;

use chrono::NaiveDateTime;

use super::row::ImportRow;
use crate::store::erasure::ERASED_PREFIX;
use crate::store::legacy::LegacyRow;
use crate::store::legacy_import::{self, NewLegacy, RunIds};
use crate::store::links;
use crate::store::{DbConnection, StoreError, Tenant};

/// What became of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// A new account.
    Imported,
    /// An unlinked account, changed.
    Updated,
    /// An unlinked account holding the same data.
    Unchanged,
    /// A linked account: never changed by an import.
    Linked,
    /// Refused, and why.
    Rejected(String),
}

/// What each row of `rows` became (in order); written unless `dry_run`.
pub fn apply(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    rows: &[ImportRow],
    dry_run: bool,
    now: NaiveDateTime,
    ids: &RunIds,
) -> Result<Vec<Disposition>, StoreError> {
    if dry_run {
        return Ok(plan(conn, tenant, rows)?
            .into_iter()
            .map(Step::into_disposition)
            .collect());
    }
    match crate::store::write_transaction(conn, |conn| write(conn, tenant, rows, now, ids)) {
        Err(StoreError::UniqueViolation(_)) if rows.len() > 1 => {
            let mut dispositions = Vec::with_capacity(rows.len());
            for row in rows {
                let one = std::slice::from_ref(row);
                match crate::store::write_transaction(conn, |conn| {
                    write(conn, tenant, one, now, ids)
                }) {
                    Ok(mut done) => dispositions.append(&mut done),
                    Err(StoreError::UniqueViolation(message)) => {
                        dispositions.push(Disposition::Rejected(format!(
                            "conflicts with an account written meanwhile ({message})"
                        )));
                    }
                    Err(other) => return Err(other),
                }
            }
            Ok(dispositions)
        }
        outcome => outcome,
    }
}

/// What to do with one row.
enum Step {
    Insert,
    /// The account to change: its id, and whether its address changes.
    Update(String, bool),
    Unchanged,
    Linked,
    Reject(String),
}

impl Step {
    fn into_disposition(self) -> Disposition {
        match self {
            Step::Insert => Disposition::Imported,
            Step::Update(..) => Disposition::Updated,
            Step::Unchanged => Disposition::Unchanged,
            Step::Linked => Disposition::Linked,
            Step::Reject(reason) => Disposition::Rejected(reason),
        }
    }
}

/// Compares the rows with the accounts of the same usernames or subjects.
fn plan(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    rows: &[ImportRow],
) -> Result<Vec<Step>, StoreError> {
    let usernames: Vec<&str> = rows
        .iter()
        .map(|r| r.username_normalized.as_str())
        .collect();
    let subjects: Vec<&str> = rows.iter().map(|r| r.subject.as_str()).collect();
    let existing = legacy_import::existing(conn, tenant, &usernames, &subjects)?;
    let by_username: HashMap<&str, &LegacyRow> = existing
        .iter()
        .map(|e| (e.username_normalized.as_str(), e))
        .collect();
    let by_subject: HashMap<&str, &LegacyRow> =
        existing.iter().map(|e| (e.subject.as_str(), e)).collect();
    Ok(rows
        .iter()
        .map(|row| {
            let stored = by_username.get(row.username_normalized.as_str());
            // The subject is another account's: the e-services would merge two residents.
            let holder = by_subject
                .get(row.subject.as_str())
                .filter(|e| e.username_normalized != row.username_normalized);
            match (stored, holder) {
                (Some(stored), _) if stored.linked_user_id.is_some() => Step::Linked,
                (Some(stored), _) if row.same_as(stored) => Step::Unchanged,
                (_, Some(holder)) if erased(holder) => Step::Reject(format!(
                    "subject {:?} belonged to an account erased at its owner's request; it is \
                     never issued again",
                    row.subject
                )),
                (_, Some(holder)) => Step::Reject(format!(
                    "subject {:?} belongs to the account {:?}",
                    row.subject, holder.username
                )),
                (Some(stored), None) => {
                    let email = row.email.as_ref().map(crate::domain::Email::normalized);
                    Step::Update(
                        stored.id.clone(),
                        stored.email_normalized.as_deref() != email,
                    )
                }
                (None, None) => Step::Insert,
            }
        })
        .collect())
}

/// Whether `account` is an erased old account (`store::erasure`): bound, its username replaced,
/// its address and hash gone.
fn erased(account: &LegacyRow) -> bool {
    account.linked_user_id.is_some()
        && account.username_normalized.starts_with(ERASED_PREFIX)
        && account.email_normalized.is_none()
        && account.password_hash.is_none()
}

/// Plans and writes, inside the caller's transaction.
fn write(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    rows: &[ImportRow],
    now: NaiveDateTime,
    ids: &RunIds,
) -> Result<Vec<Disposition>, StoreError> {
    let steps = plan(conn, tenant, rows)?;
    let new: Vec<NewLegacy<'_>> = rows
        .iter()
        .zip(&steps)
        .filter(|(_, step)| matches!(step, Step::Insert))
        .map(|(row, _)| row.to_new(tenant.id(), ids.next_id(), now))
        .collect();
    legacy_import::insert_many(conn, &new)?;
    let mut dispositions = Vec::with_capacity(rows.len());
    for (row, step) in rows.iter().zip(steps) {
        dispositions.push(match step {
            Step::Update(id, email_changes) => {
                if legacy_import::update_unlinked(conn, tenant, &id, &row.to_changes(now))? {
                    // A link mailed to the address the export had before would bind the account
                    // with the new one, for whoever reads the old address.
                    if email_changes {
                        links::void_for_legacy(conn, tenant, &id, now)?;
                    }
                    Disposition::Updated
                } else {
                    // A login bound it since the read: it is left alone.
                    Disposition::Linked
                }
            }
            other => other.into_disposition(),
        });
    }
    Ok(dispositions)
}
