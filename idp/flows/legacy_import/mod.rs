//! Importing a city's export of its old accounts into `legacy_accounts`:
//! `idp import-legacy`, and `serve` for `legacy.import_at_start`.
//!
//! The file is streamed ([`read`]), each row checked on its own ([`row`]): a bad row is refused
//! with its line number and never stops the others. Rows are written [`BATCH_ROWS`] at a time,
//! each batch in one transaction ([`batch`]), so a killed import leaves whole batches only, and
//! running it again completes it: the key is (tenant, lowercased username), a row already there
//! is left unchanged or updated, and a linked account is never touched. Memory is bounded by
//! the batch: the usernames and subjects already seen (to refuse repeats) are kept in a
//! temporary table of the import's connection, on disk.

mod batch;
mod read;
mod row;
mod summary;

#[cfg(test)]
mod proptests;

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use chrono::NaiveDateTime;
use diesel::Connection;

use crate::config::TenantConfig;
use crate::domain::lookup_key;
use crate::store::{DbConnection, StoreError, Tenant, audit, legacy_import};

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
    /// Let a row change the subject of an account already imported (refused otherwise: the
    /// subject is what the e-services keep the account's history under, and a changed one is
    /// most often a file of another system, or of another tenant).
    pub allow_subject_change: bool,
    /// Delete the unbound old accounts of the tenant whose username the file does not hold (an
    /// account the old system removed: a departed official, an erased resident), once the whole
    /// file was read and every username in it could be.
    pub retire_missing: bool,
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
    let mut records = read::Records::open(input, options.format).map_err(|e| match e {
        ReadError::Header(_) => ImportError::Header(e.to_string()),
        ReadError::Io(source) => ImportError::Read {
            rows_read: 0,
            source,
        },
    })?;
    let mut summary = Summary::new(options.dry_run);
    let store_error =
        |rows_read| move |source: StoreError| ImportError::Store { rows_read, source };
    legacy_import::begin_run(conn).map_err(store_error(0))?;
    let outcome = run(conn, &mut records, options, now, &mut summary);
    // The scratch tables go with the connection anyway; dropping them is a courtesy to a pool.
    let ended = legacy_import::end_run(conn);
    outcome?;
    ended.map_err(store_error(summary.rows_read))?;
    Ok(summary)
}

/// Reads, checks and writes every row, then counts the shared addresses and records the run.
fn run<R: Read>(
    conn: &mut DbConnection,
    records: &mut read::Records<R>,
    options: &Options<'_>,
    now: NaiveDateTime,
    summary: &mut Summary,
) -> Result<(), ImportError> {
    let tenant = Tenant::of(options.tenant);
    let salted = options.tenant.legacy.salted_sha.as_ref();
    let store_error =
        |rows_read| move |source: StoreError| ImportError::Store { rows_read, source };
    let context = Context {
        tenant,
        dry_run: options.dry_run,
        allow_subject_change: options.allow_subject_change,
        now,
        ids: legacy_import::RunIds::new(now),
    };
    // Recorded before the first batch commits: a run that never ends (killed, the machine lost)
    // still leaves in the audit trail what wrote the rows of its committed batches, and when.
    if !options.dry_run {
        audit::Event::new(tenant.id(), now, "legacy.import_started")
            .detail(&serde_json::json!({ "file": options.source }))
            .record(conn)
            .map_err(store_error(0))?;
    }
    // The unbound accounts before the file's rows are written: the measure of a file cut short
    // (its own new rows would otherwise make the part it leaves out look small).
    let unbound_before = if options.retire_missing {
        legacy_import::count_unbound(conn, tenant).map_err(store_error(0))?
    } else {
        0
    };
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    let mut present = Vec::with_capacity(BATCH_ROWS);
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
        match &record.fields {
            // A line break left in a field (after trimming) is an unclosed quote that swallowed
            // the lines after it, whose usernames are then unknown.
            Ok(raw) if raw.holds_a_line_break() => summary.unnamed += 1,
            Ok(raw) if !raw.username.trim().is_empty() => {
                // Its key, and the key before keys were folded (an account the fold left as it
                // was, `store/usernames.rs`, is this one's too). A username no account can have
                // (a control character, NUL among them, which PostgreSQL refuses in text; over
                // the length) names none: its row is refused by line.
                let username = raw.username.trim();
                if row::may_name_an_account(username) {
                    present.push(lookup_key(username));
                    present.push(username.to_lowercase());
                }
            }
            _ => summary.unnamed += 1,
        }
        if present.len() >= BATCH_ROWS {
            legacy_import::mark_present(conn, &present).map_err(store_error(summary.rows_read))?;
            present.clear();
        }
        let checked = record
            .fields
            .and_then(|raw| row::ImportRow::parse(record.line, &raw, salted));
        match checked {
            Ok(row) => batch.push(row),
            Err(reason) => summary.reject(record.line, reason),
        }
        if batch.len() == BATCH_ROWS {
            flush(conn, &context, &mut batch, summary).map_err(store_error(summary.rows_read))?;
        }
    }
    flush(conn, &context, &mut batch, summary).map_err(store_error(summary.rows_read))?;
    legacy_import::mark_present(conn, &present).map_err(store_error(summary.rows_read))?;
    retire_missing(conn, options, (now, unbound_before), summary)
        .map_err(store_error(summary.rows_read))?;
    let shared = if options.dry_run {
        legacy_import::shared_in_run(conn)
    } else {
        legacy_import::shared_emails(conn, tenant)
    };
    (summary.shared_addresses, summary.shared_accounts) =
        shared.map_err(store_error(summary.rows_read))?;
    if !options.dry_run {
        let mut detail = summary.to_json();
        detail["file"] = options.source.into();
        audit::Event::new(tenant.id(), now, "legacy.imported")
            .detail(&detail)
            .record(conn)
            .map_err(store_error(summary.rows_read))?;
    }
    Ok(())
}

/// Counts the unbound old accounts the file does not hold and, with `--retire-missing` (not in a
/// dry run, and only when every username of the file could be read: an unreadable line's
/// account would look missing), deletes them a batch at a time, each audited as
/// `legacy.retired`.
fn retire_missing(
    conn: &mut DbConnection,
    options: &Options<'_>,
    (now, unbound_before): (NaiveDateTime, u64),
    summary: &mut Summary,
) -> Result<(), StoreError> {
    let tenant = Tenant::of(options.tenant);
    let retire = options.retire_missing && !options.dry_run;
    // A file cut short (an empty one, one department's, a test file, another tenant's) would
    // retire every account it leaves out: more than half of the unbound accounts there were
    // before the run missing is taken for one.
    let missing = legacy_import::count_not_in_file(conn, tenant)?;
    let cut_short = missing > 0 && missing * 2 > unbound_before;
    summary.retire_refused = options.retire_missing && (summary.unnamed > 0 || cut_short);
    if retire && !summary.retire_refused {
        loop {
            let missing = legacy_import::not_in_file(conn, tenant, BATCH_ROWS as i64)?;
            if missing.is_empty() {
                break;
            }
            let retired = crate::store::write_transaction(conn, |conn| {
                let (mut ids, mut sent_to) = (Vec::new(), std::collections::BTreeSet::new());
                for (id, _) in &missing {
                    // With what names it (its mail, its counters), as support's deletion; one
                    // bound meanwhile (a first login) stays.
                    let Some(account) = crate::store::legacy::find(conn, tenant, id)? else {
                        continue;
                    };
                    let Some(mailed) = legacy_import::retire_one(conn, tenant, &account)? else {
                        continue;
                    };
                    audit::Event::new(tenant.id(), now, "legacy.retired")
                        .detail(&serde_json::json!({ "account": id, "file": options.source }))
                        .record(conn)?;
                    ids.push(id.clone());
                    sent_to.extend(mailed);
                }
                // The mail once for the batch: each reading goes over the tenant's linker mail.
                legacy_import::forget_mail_of_retired(conn, tenant, (&ids, sent_to))?;
                Ok::<_, StoreError>(ids.len() as u64)
            })?;
            summary.retired += retired;
            if retired == 0 {
                break;
            }
        }
    }
    summary.not_in_file = legacy_import::count_not_in_file(conn, tenant)?;
    Ok(())
}

/// What the batches of a run share.
struct Context<'a> {
    tenant: Tenant<'a>,
    dry_run: bool,
    allow_subject_change: bool,
    now: NaiveDateTime,
    ids: legacy_import::RunIds,
}

/// Refuses the batch's repeats, runs the rest against the database, and counts what became of
/// each row.
fn flush(
    conn: &mut DbConnection,
    context: &Context<'_>,
    batch: &mut Vec<row::ImportRow>,
    summary: &mut Summary,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let rows = std::mem::take(batch);
    // One transaction for the scratch table's read and write (of the connection only: it
    // takes no lock that other connections would wait for).
    let (rows, refused) = conn.transaction(|conn| without_repeats(conn, rows))?;
    for (line, reason) in refused {
        summary.reject(line, reason);
    }
    let run = batch::Run {
        dry_run: context.dry_run,
        allow_subject_change: context.allow_subject_change,
        now: context.now,
        ids: &context.ids,
    };
    let dispositions = batch::apply(conn, context.tenant, &rows, &run)?;
    if context.dry_run {
        let emails: Vec<legacy_import::RunEmail<'_>> = rows
            .iter()
            .zip(&dispositions)
            .filter(|(_, d)| !matches!(d, batch::Disposition::Rejected(_)))
            .filter_map(|(row, _)| {
                Some(legacy_import::RunEmail {
                    line: line_number(row.line),
                    email: row.email.as_ref()?.normalized(),
                })
            })
            .collect();
        legacy_import::remember_emails(conn, &emails)?;
    }
    for (row, disposition) in rows.iter().zip(dispositions) {
        summary.count(row, disposition);
    }
    Ok(())
}

/// Refuses the rows whose username or subject an earlier row of the file had (in this batch,
/// or in the run's scratch table), and remembers the others'.
fn without_repeats(
    conn: &mut DbConnection,
    rows: Vec<row::ImportRow>,
) -> Result<(Vec<row::ImportRow>, Refused), StoreError> {
    let username_key = |row: &row::ImportRow| format!("u:{}", row.username_normalized);
    let subject_key = |row: &row::ImportRow| format!("s:{}", row.subject);
    let keys: Vec<String> = rows
        .iter()
        .flat_map(|row| [username_key(row), subject_key(row)])
        .collect();
    let mut lines: HashMap<String, i64> = legacy_import::seen(conn, &keys)?.into_iter().collect();
    let mut kept = Vec::with_capacity(rows.len());
    let mut refused = Vec::new();
    let mut remember = Vec::with_capacity(keys.len());
    for row in rows {
        let (username, subject) = (username_key(&row), subject_key(&row));
        if let Some(line) = lines.get(&username) {
            refused.push((row.line, format!("username repeated from line {line}")));
            continue;
        }
        if let Some(line) = lines.get(&subject) {
            refused.push((
                row.line,
                format!("subject {:?} repeated from line {line}", row.subject),
            ));
            continue;
        }
        let line = line_number(row.line);
        for key in [username, subject] {
            lines.insert(key.clone(), line);
            remember.push(legacy_import::SeenKey { key, line });
        }
        kept.push(row);
    }
    legacy_import::remember(conn, &remember)?;
    Ok((kept, refused))
}

/// Rows refused: their line and why.
type Refused = Vec<(u64, String)>;

fn line_number(line: u64) -> i64 {
    i64::try_from(line).unwrap_or(i64::MAX)
}
