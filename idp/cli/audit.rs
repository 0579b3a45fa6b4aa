//! `idp audit export`: a tenant's audit trail for the city (who did what, when, from where), as
//! JSON Lines or CSV on standard output, streamed a page at a time, with each event's place and
//! hashes in the tenant's hash chain. `idp audit verify`: the chain checked, its first broken link
//! named (`store/audit_chain.rs`).

use std::io::Write;

use chrono::{NaiveDate, NaiveDateTime};
use clap::{Subcommand, ValueEnum};

use super::failure::Failure;
use super::tenant::tenant_config;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::store::audit::{self, After, AuditRow};
use crate::store::audit_chain;
use crate::store::{self, DbConnection, Store, Tenant};

/// Events read from the database at a time.
const PAGE: i64 = 1000;

/// `idp audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print a tenant's audit events, oldest first, to standard output.
    Export {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        /// Only events at or after this time (UTC): `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS`.
        #[arg(long, value_parser = parse_time)]
        since: Option<NaiveDateTime>,
        /// Only events before this time (UTC), in the same form.
        #[arg(long, value_parser = parse_time)]
        until: Option<NaiveDateTime>,
        /// One JSON object a line, or CSV with a header.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: Format,
    },
    /// Check a tenant's audit hash chain; name its first broken link (exit status 1).
    Verify {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
    },
}

/// What an export is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// JSON Lines: one object a line.
    Jsonl,
    /// CSV (RFC 4180) with a header line.
    Csv,
}

/// Runs an `idp audit` command.
pub fn run(config: &Config, command: AuditCommand) -> Result<(), Failure> {
    match command {
        AuditCommand::Export {
            tenant,
            since,
            until,
            format,
        } => export(config, &tenant, since, until, format),
        AuditCommand::Verify { tenant } => verify(config, &tenant),
    }
}

/// Verifies the chain of `tenant`: on success what was verified, on standard output; else the
/// first broken link, as the failure.
fn verify(config: &Config, tenant: &str) -> Result<(), Failure> {
    let tenant = Tenant::of(tenant_config(config, tenant)?);
    let store = Store::open(&config.settings.database)?;
    let mut conn = store.conn()?;
    match audit_chain::verify(&mut conn, tenant, PAGE)? {
        Ok(verified) => {
            let mut out = std::io::stdout().lock();
            Ok(out.write_all(report(tenant, &verified).as_bytes())?)
        }
        Err(broken) => {
            let seq = broken
                .seq
                .map_or_else(|| "no seq".to_string(), |seq| format!("seq {seq}"));
            Err(Failure::Other(format!(
                "the audit chain of {tenant} is broken at {seq} (event {}, {}, {}): {}",
                broken.id,
                audit_chain::timestamp(broken.occurred_at),
                broken.kind,
                broken.problem
            )))
        }
    }
}

/// What a verified chain holds, a line a fact.
fn report(tenant: Tenant<'_>, verified: &audit_chain::Verified) -> String {
    let mut lines = match (&verified.first, &verified.last) {
        (Some(first), Some(last)) => {
            let mut lines = vec![format!(
                "the audit chain of {tenant} is intact: {} events, seq {} to {}, {} to {}",
                verified.events,
                first.seq,
                last.seq,
                audit_chain::timestamp(first.occurred_at),
                audit_chain::timestamp(last.occurred_at),
            )];
            // Verify accepts a start after seq 1 only where the newest audit.purged event says.
            if let Some(purged) = verified.purged.as_ref().filter(|_| first.seq > 1) {
                lines.push(format!(
                    "it starts at seq {}: the events before it were deleted (retention)",
                    first.seq
                ));
                lines.push(format!(
                    "as the newest audit.purged event says: seq {}, {}",
                    purged.seq,
                    audit_chain::timestamp(purged.occurred_at)
                ));
            }
            lines.push(format!("head: seq {}, hash {}", last.seq, last.hash));
            lines
        }
        _ => vec![format!("the audit chain of {tenant} has no sealed events")],
    };
    lines.push(format!(
        "pseudonymised (erased accounts): {}",
        verified.pseudonymised
    ));
    lines.push(format!("not sealed yet: {}", verified.unsealed));
    lines.join("\n") + "\n"
}

/// A time of the command line: a date (its midnight) or a date and time, UTC.
fn parse_time(text: &str) -> Result<NaiveDateTime, String> {
    if let Ok(time) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S") {
        return Ok(time);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .ok_or_else(|| format!("\"{text}\" is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"))
}

fn export(
    config: &Config,
    tenant: &str,
    since: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
    format: Format,
) -> Result<(), Failure> {
    let tenant = Tenant::of(tenant_config(config, tenant)?);
    let store = Store::open(&config.settings.database)?;
    let mut conn = store.conn()?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let pages = Pages {
        tenant,
        since,
        until,
    };
    let mut count = 0_u64;
    let mut written = || -> Result<(), Failure> {
        match format {
            Format::Jsonl => pages.each(&mut conn, |row| {
                writeln!(out, "{}", json(row))?;
                count += 1;
                Ok(())
            })?,
            Format::Csv => {
                let mut csv = csv::Writer::from_writer(&mut out);
                csv.write_record(COLUMNS)?;
                pages.each(&mut conn, |row| {
                    csv.write_record(fields(row))?;
                    count += 1;
                    Ok(())
                })?;
                csv.flush()?;
            }
        }
        out.flush()?;
        Ok(())
    };
    let written = written();
    // The trail names residents and their addresses: its own export is in it (after the range
    // exported, so an export never holds its own event), also when the output stopped early (a
    // reader that closed it, a full disk): with the events handed to it.
    let time = |t: Option<NaiveDateTime>| t.map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string());
    let exported = || {
        audit::Event::new(tenant.id(), SystemClock.now(), "audit.exported").detail(
            &serde_json::json!({
                "by": "cli",
                "count": count,
                "since": time(since),
                "until": time(until),
            }),
        )
    };
    // On another connection when the export's own is gone (its server ended it): the events
    // handed out are audited all the same.
    if exported().record(&mut conn).is_err() {
        let mut another = store.conn()?;
        exported().record(&mut another)?;
    }
    written
}

/// What an export reads: a tenant's events in a time range, a page at a time.
struct Pages<'t> {
    tenant: Tenant<'t>,
    since: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
}

impl Pages<'_> {
    /// Hands every event to `each`, oldest first, reading [`PAGE`] at a time, all in one read
    /// snapshot: an event written during the export, even one stamped with an earlier time than
    /// the page being read (another node's, committed late), is not half in it.
    fn each(
        &self,
        conn: &mut DbConnection,
        mut each: impl FnMut(&AuditRow) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        store::read_transaction(conn, |conn| {
            store::reader_may_pause(conn)?;
            let mut after: Option<After> = None;
            loop {
                let rows = audit::page(conn, self.tenant, after, self.since, self.until, PAGE)?;
                // Only what comes after the page before, by value: on SQLite a time written in
                // another form than diesel's (by hand, or by another tool) compares as text
                // after its own instant, and would come again, the last one for ever.
                let from = after;
                let new: Vec<&AuditRow> = rows
                    .iter()
                    .filter(|row| from < Some(After::of(row)))
                    .collect();
                let Some(last) = new.last() else {
                    return Ok(());
                };
                after = Some(After::of(last));
                new.into_iter().try_for_each(&mut each)?;
            }
        })
    }
}

/// The columns of both formats, in order.
const COLUMNS: [&str; 11] = [
    "id",
    "occurred_at",
    "kind",
    "user_id",
    "client_id",
    "remote_addr",
    "detail",
    "seq",
    "prev_hash",
    "personal_digest",
    "hash",
];

/// When an event occurred, as RFC 3339 in UTC: the text the chain's hash covers.
fn time(row: &AuditRow) -> String {
    audit_chain::timestamp(row.occurred_at)
}

/// An event as one JSON object; its detail as JSON, not as text.
fn json(row: &AuditRow) -> serde_json::Value {
    let detail = row
        .detail
        .as_deref()
        .map(|d| serde_json::from_str(d).unwrap_or_else(|_| serde_json::Value::from(d)));
    serde_json::json!({
        "id": row.id,
        "occurred_at": time(row),
        "kind": row.kind,
        "user_id": row.user_id,
        "client_id": row.client_id,
        "remote_addr": row.remote_addr,
        "detail": detail,
        "seq": row.seq,
        "prev_hash": row.prev_hash,
        "personal_digest": row.personal_digest,
        "hash": row.hash,
    })
}

/// An event as the CSV record of [`COLUMNS`] (an empty field for what it does not name). A field
/// that a spreadsheet would read as a formula (it begins with `=`, `+`, `-`, `@`, a tab or a
/// carriage return) is written with a leading `'`, as OWASP's advice on CSV injection says.
fn fields(row: &AuditRow) -> [String; 11] {
    let text = |v: &Option<String>| inert(v.clone().unwrap_or_default());
    [
        row.id.to_string(),
        time(row),
        row.kind.clone(),
        text(&row.user_id),
        text(&row.client_id),
        text(&row.remote_addr),
        text(&row.detail),
        row.seq.map(|seq| seq.to_string()).unwrap_or_default(),
        text(&row.prev_hash),
        text(&row.personal_digest),
        text(&row.hash),
    ]
}

/// `field` as a spreadsheet shows it as text, never as a formula.
fn inert(field: String) -> String {
    if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{field}")
    } else {
        field
    }
}

#[cfg(test)]
mod tests {
    use super::inert;

    /// What a spreadsheet would run as a formula is written as text; anything else as it is.
    #[test]
    fn a_field_a_spreadsheet_would_run_is_written_as_text() {
        for formula in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(inert(formula.into()), format!("'{formula}"));
        }
        for plain in [
            "198.51.100.9",
            "2001:db8::1",
            r#"{"amr":"pwd"}"#,
            "erased-x",
            "",
        ] {
            assert_eq!(inert(plain.into()), plain);
        }
    }
}
