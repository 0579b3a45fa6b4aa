//! Importing a city's export of its old accounts into `legacy_accounts` (DESIGN.md §5):
//! `idp import-legacy`, and `serve` for `legacy.import_at_start`.
//!
//! The file is streamed ([`read`]), each row checked on its own ([`row`]): a bad row is refused
//! with its line number and never stops the others. Rows are written [`BATCH_ROWS`] at a time,
//! each batch in one transaction ([`batch`]), so a killed import leaves whole batches only, and
//! running it again completes it: the key is (tenant, lowercased username), a row already there
//! is left unchanged or updated, and a linked account is never touched. Memory is bounded by
//! the batch, plus some 70 bytes a row for the usernames and subjects seen (to refuse repeats).

mod batch;
mod read;
mod row;
mod summary;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::io::Read;
use std::path::Path;

use chrono::NaiveDateTime;

use crate::config::TenantConfig;
use crate::store::{DbConnection, StoreError, audit, legacy_import};

pub use read::{Format, ReadError};
pub use row::COLUMNS;
pub use summary::{LISTED_REJECTIONS, Summary};

/// Rows written per transaction.
pub const BATCH_ROWS: usize = 1000;

/// How to import.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// The tenant, whose salted SHA layout detects hashes.
    pub tenant: &'a TenantConfig,
    /// The file's format.
    pub format: Format,
    /// Check and compare only; write nothing.
    pub dry_run: bool,
    /// The file's name, for the audit event.
    pub source: &'a str,
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file's header is wrong: nothing was imported.
    #[error("{0}")]
    Header(String),
    /// The file could not be read; the batches before were committed.
    #[error("cannot read the file after {rows_read} rows: {source}")]
    Read {
        /// Records read before.
        rows_read: u64,
        /// Why.
        source: std::io::Error,
    },
    /// The database failed; the batches before were committed.
    #[error("after {rows_read} rows: {source}")]
    Store {
        /// Records read before.
        rows_read: u64,
        /// Why.
        source: StoreError,
    },
}

/// Imports the file at `path` (opening it is the caller's first possible failure).
pub fn import_file(
    conn: &mut DbConnection,
    path: &Path,
    options: &Options<'_>,
    now: NaiveDateTime,
) -> Result<Summary, ImportError> {
    let file = std::fs::File::open(path).map_err(|source| ImportError::Read {
        rows_read: 0,
        source,
    })?;
    import(conn, file, options, now)
}

/// Imports an export read from `input`. Refused rows are counted and listed in the summary.
pub fn import<R: Read>(
    conn: &mut DbConnection,
    input: R,
    options: &Options<'_>,
    now: NaiveDateTime,
) -> Result<Summary, ImportError> {
    let tenant = options.tenant.id.as_str();
    let salted = options.tenant.legacy.salted_sha.as_ref();
    let mut summary = Summary::new(options.dry_run);
    let store_error =
        |rows_read| move |source: StoreError| ImportError::Store { rows_read, source };
    let mut records = read::Records::open(input, options.format).map_err(|e| match e {
        ReadError::Header(_) => ImportError::Header(e.to_string()),
        ReadError::Io(source) => ImportError::Read {
            rows_read: 0,
            source,
        },
    })?;
    let mut seen = Seen::default();
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    loop {
        let record = records.next_record().map_err(|e| ImportError::Read {
            rows_read: summary.rows_read,
            source: match e {
                ReadError::Io(e) => e,
                ReadError::Header(m) => std::io::Error::other(m),
            },
        })?;
        let Some(record) = record else { break };
        summary.rows_read += 1;
        let checked = record
            .fields
            .and_then(|raw| row::ImportRow::parse(record.line, &raw, salted))
            .and_then(|row| seen.check(row));
        match checked {
            Ok(row) => batch.push(row),
            Err(reason) => summary.reject(record.line, reason),
        }
        if batch.len() == BATCH_ROWS {
            flush(
                conn,
                tenant,
                &mut batch,
                &mut seen,
                options.dry_run,
                now,
                &mut summary,
            )
            .map_err(store_error(summary.rows_read))?;
        }
    }
    flush(
        conn,
        tenant,
        &mut batch,
        &mut seen,
        options.dry_run,
        now,
        &mut summary,
    )
    .map_err(store_error(summary.rows_read))?;
    if options.dry_run {
        (summary.shared_addresses, summary.shared_accounts) = seen.shared_emails();
    } else {
        (summary.shared_addresses, summary.shared_accounts) =
            legacy_import::shared_emails(conn, tenant).map_err(store_error(summary.rows_read))?;
        let mut detail = summary.to_json();
        detail["file"] = options.source.into();
        audit::record(
            conn,
            &audit::NewEvent {
                tenant_id: Some(tenant),
                occurred_at: now,
                kind: "legacy.imported",
                user_id: None,
                client_id: None,
                remote_addr: None,
                detail: Some(&detail.to_string()),
            },
        )
        .map_err(store_error(summary.rows_read))?;
    }
    Ok(summary)
}

/// Runs a batch against the database and counts what became of its rows.
fn flush(
    conn: &mut DbConnection,
    tenant: &str,
    batch: &mut Vec<row::ImportRow>,
    seen: &mut Seen,
    dry_run: bool,
    now: NaiveDateTime,
    summary: &mut Summary,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let dispositions = batch::apply(conn, tenant, batch, dry_run, now)?;
    for (row, disposition) in batch.drain(..).zip(dispositions) {
        if dry_run && !matches!(disposition, batch::Disposition::Rejected(_)) {
            seen.count_email(&row);
        }
        summary.count(&row, disposition);
    }
    Ok(())
}

/// The usernames and subjects of the file's accepted rows so far, by a keyed 64-bit hash and
/// with their line: a million rows take some 70 MB instead of the strings' 200. Two different
/// names share a hash with a chance of about 3 in 10⁸ for a million rows, and the keys change at
/// every run. In a dry run, also how many rows have each address.
#[derive(Default)]
struct Seen {
    keys: RandomState,
    usernames: HashMap<u64, u64>,
    subjects: HashMap<u64, u64>,
    emails: HashMap<u64, u32>,
}

impl Seen {
    /// Refuses a row whose username or subject an earlier row of the file had.
    fn check(&mut self, row: row::ImportRow) -> Result<row::ImportRow, String> {
        let username = self.keys.hash_one(("username", &row.username_normalized));
        if let Some(line) = self.usernames.get(&username) {
            return Err(format!("username repeated from line {line}"));
        }
        let subject = self.keys.hash_one(("subject", &row.subject));
        if let Some(line) = self.subjects.get(&subject) {
            return Err(format!(
                "subject {:?} repeated from line {line}",
                row.subject
            ));
        }
        self.usernames.insert(username, row.line);
        self.subjects.insert(subject, row.line);
        Ok(row)
    }

    fn count_email(&mut self, row: &row::ImportRow) {
        if let Some(email) = &row.email {
            let key = self.keys.hash_one(("email", email.normalized()));
            *self.emails.entry(key).or_default() += 1;
        }
    }

    /// Addresses of more than one accepted row, and those rows.
    fn shared_emails(&self) -> (u64, u64) {
        self.emails
            .values()
            .filter(|&&n| n > 1)
            .fold((0, 0), |(addresses, accounts), &n| {
                (addresses + 1, accounts + u64::from(n))
            })
    }
}
