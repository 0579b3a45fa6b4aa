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
    /// An unlinked account, changed; `kept_address`: but for the address that support set
    /// (`idp legacy set-email`), which stays while the export gives the one it gave then.
    Updated {
        /// Support's address stayed instead of the row's.
        kept_address: bool,
    },
    /// An unlinked account holding the same data (or support's address, which stays).
    Unchanged {
        /// Support's address stayed instead of the row's.
        kept_address: bool,
    },
    /// A linked account: never changed by an import.
    Linked,
    /// Refused, and why.
    Rejected(String),
}

/// How a run writes its batches.
pub struct Run<'a> {
    /// Check and compare only; write nothing.
    pub dry_run: bool,
    /// Let a row change an imported account's subject.
    pub allow_subject_change: bool,
    /// The run's time.
    pub now: NaiveDateTime,
    /// The ids of the accounts it adds.
    pub ids: &'a RunIds,
}

/// What each row of `rows` became (in order); written unless `run.dry_run`.
pub fn apply(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    rows: &[ImportRow],
    run: &Run<'_>,
) -> Result<Vec<Disposition>, StoreError> {
    let allow = run.allow_subject_change;
    let (now, ids) = (run.now, run.ids);
    if run.dry_run {
        return Ok(plan(conn, tenant, rows, allow)?
            .into_iter()
            .zip(rows)
            .map(|(step, row)| step.into_disposition(row))
            .collect());
    }
    match crate::store::write_transaction(conn, |conn| write(conn, tenant, rows, allow, (now, ids)))
    {
        Err(StoreError::UniqueViolation(_)) if rows.len() > 1 => {
            let mut dispositions = Vec::with_capacity(rows.len());
            for row in rows {
                let one = std::slice::from_ref(row);
                match crate::store::write_transaction(conn, |conn| {
                    write(conn, tenant, one, allow, (now, ids))
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
    /// The account to change, as read, and whether its address (support's) stays.
    Update(Box<LegacyRow>, bool),
    /// Nothing to change; whether support's address stays instead of the row's.
    Unchanged(bool),
    Linked,
    Reject(String),
}

impl Step {
    fn into_disposition(self, row: &ImportRow) -> Disposition {
        match self {
            Step::Insert => Disposition::Imported,
            Step::Update(stored, keep) => Disposition::Updated {
                kept_address: keep && differs(&stored, row),
            },
            Step::Unchanged(kept_address) => Disposition::Unchanged { kept_address },
            Step::Linked => Disposition::Linked,
            Step::Reject(reason) => Disposition::Rejected(reason),
        }
    }
}

/// Whether the address of `stored` differs from the row's (support's address that stays counts
/// only where it made a difference).
fn differs(stored: &LegacyRow, row: &ImportRow) -> bool {
    stored.email_normalized.as_deref() != row.email.as_ref().map(crate::domain::Email::normalized)
}

/// Compares the rows with the accounts of the same usernames or subjects; a row that would change
/// an account's subject is refused unless `allow_subject_change`.
fn plan(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    rows: &[ImportRow],
    allow_subject_change: bool,
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
    // The new accounts' usernames that a user has already (none on a re-import).
    let new: Vec<&str> = usernames
        .iter()
        .copied()
        .filter(|u| !by_username.contains_key(u))
        .collect();
    let users_named = legacy_import::users_named(conn, tenant, &new)?;
    Ok(rows
        .iter()
        .map(|row| {
            let stored = by_username.get(row.username_normalized.as_str());
            // The subject is another account's: the e-services would merge two residents.
            let holder = by_subject
                .get(row.subject.as_str())
                .filter(|e| e.username_normalized != row.username_normalized);
            // Support set the address (`idp legacy set-email`) and the export still gives the
            // one it gave then: support's stays.
            let keep = stored.is_some_and(|stored| row.keeps_support_address(stored));
            match (stored, holder) {
                (Some(stored), _) if stored.linked_user_id.is_some() => Step::Linked,
                (Some(stored), _) if row.same_as(stored, keep) => {
                    Step::Unchanged(keep && differs(stored, row))
                }
                (Some(stored), _) if stored.subject != row.subject && !allow_subject_change => {
                    Step::Reject(format!(
                        "subject {:?} is not the account's {:?}: the e-services keep its history \
                         under that one (is this the tenant's file?); give \
                         --allow-subject-change if the old system changed it",
                        row.subject, stored.subject
                    ))
                }
                (_, Some(holder)) if erased(holder) => Step::Reject(format!(
                    "subject {:?} belonged to an account erased at its owner's request; it is \
                     never issued again",
                    row.subject
                )),
                (_, Some(holder)) => Step::Reject(format!(
                    "subject {:?} belongs to the account {:?}",
                    row.subject, holder.username
                )),
                (Some(stored), None) => Step::Update(Box::new((*stored).clone()), keep),
                // Its first login would make a user of that username, which is another's: the
                // old account could never log in.
                (None, None) if users_named.contains(&row.username_normalized) => {
                    Step::Reject(format!(
                        "username {:?} is a user's of idp already (idp users add): the old \
                         account could never log in; rename one of them",
                        row.username
                    ))
                }
                // A zero-width space, a direction mark, a soft hyphen: nobody could type the
                // username of a new account (one imported before keeps being updated).
                (None, None) if row.username.chars().any(crate::domain::text::invisible) => {
                    Step::Reject(format!(
                        "username {:?} contains an invisible character (a zero-width space, a \
                         direction mark, a soft hyphen): nobody could type it",
                        row.username
                    ))
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
    allow_subject_change: bool,
    (now, ids): (NaiveDateTime, &RunIds),
) -> Result<Vec<Disposition>, StoreError> {
    let steps = plan(conn, tenant, rows, allow_subject_change)?;
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
            Step::Update(stored, keep) => {
                let mut changes = row.to_changes(now);
                if keep {
                    changes.email = stored.email.as_deref();
                    changes.email_normalized = stored.email_normalized.as_deref();
                }
                let (id, read) = (&stored.id, stored.email_normalized.as_deref());
                if legacy_import::update_unlinked(conn, tenant, id, read, &changes)? {
                    // A link mailed to the address the account had before would bind it with
                    // the new one, for whoever reads the old address.
                    if changes.email_normalized != read {
                        links::void_for_legacy(conn, tenant, id, now)?;
                    }
                    Disposition::Updated {
                        kept_address: keep && differs(&stored, row),
                    }
                } else {
                    left_alone(conn, tenant, id)?
                }
            }
            other => other.into_disposition(row),
        });
    }
    Ok(dispositions)
}

/// What became of the account `id`, which a login bound, or support or another import gave
/// another address, after the batch read it.
fn left_alone(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
) -> Result<Disposition, StoreError> {
    let linked = crate::store::legacy::find(conn, tenant, id)?
        .is_none_or(|account| account.linked_user_id.is_some());
    Ok(if linked {
        // A login bound it: it is left alone.
        Disposition::Linked
    } else {
        Disposition::Rejected(
            "its address changed during the import (idp legacy set-email, or another import): \
             import the file again"
                .into(),
        )
    })
}
