//! The audit trail: security events a city can query (`audit_events`).

use chrono::{NaiveDateTime, SubsecRound};
use diesel::prelude::*;

use super::schema::audit_events;
use super::{DbConnection, Result, Tenant};

/// An event to record: made by [`Event::new`], filled in by its builder methods, written by
/// [`Event::record`]. Every audit event of the service is written this way.
#[derive(Debug, Insertable)]
#[diesel(table_name = audit_events)]
pub struct Event<'a> {
    /// The tenant the event belongs to.
    tenant_id: Option<&'a str>,
    /// When.
    occurred_at: NaiveDateTime,
    /// What, as `noun.verb`: `user.created`, `login.failed`.
    kind: &'a str,
    /// Whose account.
    user_id: Option<&'a str>,
    /// Which e-service.
    client_id: Option<&'a str>,
    /// From which address.
    remote_addr: Option<&'a str>,
    /// More, as JSON; never a secret.
    detail: Option<String>,
}

impl<'a> Event<'a> {
    /// An event of `kind` in tenant `tenant_id` at `occurred_at`, naming no user, client or
    /// address and carrying no detail until the builder methods add them. The time is kept to
    /// the microsecond, as PostgreSQL keeps it, so that SQLite reads back the same value and the
    /// chain's hash of it (`store/audit_chain.rs`) is the same on both stores.
    pub fn new(tenant_id: &'a str, occurred_at: NaiveDateTime, kind: &'a str) -> Event<'a> {
        Event {
            tenant_id: Some(tenant_id),
            occurred_at: occurred_at.trunc_subsecs(6),
            kind,
            user_id: None,
            client_id: None,
            remote_addr: None,
            detail: None,
        }
    }

    /// Whose account (`None` leaves it empty).
    pub fn user(self, user_id: impl Into<Option<&'a str>>) -> Event<'a> {
        Event {
            user_id: user_id.into(),
            ..self
        }
    }

    /// Which e-service (`None` leaves it empty).
    pub fn client(self, client_id: impl Into<Option<&'a str>>) -> Event<'a> {
        Event {
            client_id: client_id.into(),
            ..self
        }
    }

    /// From which client address (`None` leaves it empty).
    pub fn address(self, remote_addr: impl Into<Option<&'a str>>) -> Event<'a> {
        Event {
            remote_addr: remote_addr.into(),
            ..self
        }
    }

    /// More about the event, stored as its JSON text; never a secret.
    pub fn detail(self, detail: &serde_json::Value) -> Event<'a> {
        Event {
            detail: Some(detail.to_string()),
            ..self
        }
    }

    /// Appends the event.
    pub fn record(&self, conn: &mut DbConnection) -> Result<()> {
        super::rows::insert(conn, audit_events::table, self)
    }
}

/// The kinds of a tenant's events, oldest first (tests and reports).
pub fn kinds(conn: &mut DbConnection, tenant: Tenant<'_>) -> Result<Vec<String>> {
    Ok(audit_events::table
        .filter(audit_events::tenant_id.eq(tenant.id()))
        .order(audit_events::id.asc())
        .select(audit_events::kind)
        .load(conn)?)
}

/// How many events of `kinds` naming the user `user_id` of `tenant` occurred after `since`,
/// counted up to `at_most` (no further): the index on the user and time
/// (`audit_events_user_time`) serves it, reading at most `at_most` of its entries however long
/// the account's trail is.
pub fn count_recent(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    (user_id, kinds): (&str, &[&str]),
    since: NaiveDateTime,
    at_most: i64,
) -> Result<usize> {
    let ids: Vec<i64> = audit_events::table
        .filter(audit_events::user_id.eq(user_id))
        .filter(audit_events::occurred_at.gt(since))
        .filter(audit_events::tenant_id.eq(tenant.id()))
        .filter(audit_events::kind.eq_any(kinds))
        .select(audit_events::id)
        .limit(at_most)
        .load(conn)?;
    Ok(ids.len())
}

/// An event as stored, for the export.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    /// Its place in the trail (increasing).
    pub id: i64,
    /// When.
    pub occurred_at: NaiveDateTime,
    /// What, as `noun.verb`.
    pub kind: String,
    /// Whose account.
    pub user_id: Option<String>,
    /// Which e-service.
    pub client_id: Option<String>,
    /// From which address.
    pub remote_addr: Option<String>,
    /// More, as JSON text.
    pub detail: Option<String>,
    /// Its place in the tenant's hash chain (`None` until sealed).
    pub seq: Option<i64>,
    /// The hash of the event before it in the chain.
    pub prev_hash: Option<String>,
    /// The salted digest of its user, address and detail.
    pub personal_digest: Option<String>,
    /// Its hash in the chain.
    pub hash: Option<String>,
}

/// Where an export stands: the time and id of the last event it wrote (ordered as the export
/// is: by time, then by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct After {
    /// When that event occurred.
    pub occurred_at: NaiveDateTime,
    /// Its id.
    pub id: i64,
}

impl After {
    /// Where the page ending with `row` leaves the export.
    pub fn of(row: &AuditRow) -> After {
        After {
            occurred_at: row.occurred_at,
            id: row.id,
        }
    }
}

/// Up to `limit` events of `tenant` after `after` (the first page: `None`), that occurred at or
/// after `since` and before `until` when given, oldest first: by the time they occurred, then by
/// id. One page of an export that streams any number of events in constant memory.
///
/// Each page is one range of the `(tenant_id, occurred_at)` index, which holds the id after the
/// time on both stores (SQLite's rowid; PostgreSQL sorts only the events of one instant), so a
/// page costs the same at the start of a trail of ten million events as at its end. Paged by
/// id with a time range, SQLite sorted the whole rest of the range for every page.
pub fn page(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    after: Option<After>,
    since: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
    limit: i64,
) -> Result<Vec<AuditRow>> {
    let mut query = audit_events::table
        .filter(audit_events::tenant_id.eq(tenant.id()))
        .into_boxed();
    if let Some(after) = after {
        query = query
            .filter(audit_events::occurred_at.ge(after.occurred_at))
            .filter(
                audit_events::occurred_at
                    .gt(after.occurred_at)
                    .or(audit_events::id.gt(after.id)),
            );
    }
    if let Some(since) = since {
        query = query.filter(audit_events::occurred_at.ge(since));
    }
    if let Some(until) = until {
        query = query.filter(audit_events::occurred_at.lt(until));
    }
    Ok(query
        .order((audit_events::occurred_at.asc(), audit_events::id.asc()))
        .limit(limit)
        .select(AuditRow::as_select())
        .load(conn)?)
}

/// How the pseudonym that replaces an erased account in its events begins (the rest is random),
/// and an erased old account's username (`store/erasure.rs`): the chain's verifier trusts a row
/// without its salt only when it names such a pseudonym (`store/audit_chain.rs`).
pub const ERASED_PREFIX: &str = "erased-";

/// The keys of an event's detail that never name or describe a person: what pseudonymisation
/// keeps. Any other key (a username, a passkey's name given by its owner) is dropped.
///
/// Part of the audit chain's scheme: an event's hash covers what [`impersonal`] keeps of its
/// detail (`store/audit_chain.rs`), so adding a key here changes the hash of every sealed event
/// whose detail has it. Give a new event a key of its own that is listed here from its first
/// release, or change the chain's scheme.
const IMPERSONAL_DETAIL: &[&str] = &[
    "activates_at",
    "alg",
    "amr",
    "blocked",
    "by",
    "check",
    "claim",
    "consent",
    "consents",
    "first",
    "grants",
    "kid",
    "left",
    "limit",
    "mail",
    "method",
    "outcome",
    "passkey",
    "passkeys",
    "proven",
    "reason",
    "recovery_codes",
    "scope",
    "taken",
    "token",
    "totp",
    "until",
];

/// A detail's JSON text with only its [`IMPERSONAL_DETAIL`] keys (`None` when nothing is left or
/// the text is not a JSON object). What it returns it returns unchanged: the chain's verifier
/// (`store/audit_chain.rs`) tells a pseudonymised event by that.
pub(super) fn impersonal(detail: Option<&str>) -> Option<String> {
    let serde_json::Value::Object(fields) = serde_json::from_str(detail?).ok()? else {
        return None;
    };
    let kept: serde_json::Map<String, serde_json::Value> = fields
        .into_iter()
        .filter(|(key, _)| IMPERSONAL_DETAIL.contains(&key.as_str()))
        .collect();
    (!kept.is_empty()).then(|| serde_json::Value::Object(kept).to_string())
}

/// Pseudonymises the events of `tenant` about the user `user_id`: the user becomes `pseudonym`,
/// the client address is removed and the detail keeps only its impersonal keys. Returns how many
/// events were rewritten. For the erasure of an account (GDPR Art. 17): the trail still shows
/// what happened and when, no longer to whom.
///
/// The salt of a sealed event's personal digest goes too, so that nothing is left to test a guess
/// of the old user or address against; its hash chain stays intact, since the chain covers these
/// fields only through that digest (`store/audit_chain.rs`). An event not sealed yet is sealed
/// later with its new content.
///
/// Set-based, inside the erasure's write transaction: one `UPDATE` of every event of the user
/// (the pseudonym, which is fresh, then names exactly them), one read of their distinct details,
/// and one `UPDATE` per distinct detail that has personal keys to drop (a handful: the details of
/// one kind of event differ in few ways). However many events an account has, the statements do
/// not grow with them; one `UPDATE` per event held SQLite's writer for the whole run.
pub fn pseudonymise(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
    pseudonym: &str,
) -> Result<usize> {
    let of_user = |user: &str| {
        audit_events::table
            .filter(audit_events::tenant_id.eq(tenant.id()))
            .filter(audit_events::user_id.eq(user.to_string()))
    };
    let rewritten = diesel::update(of_user(user_id))
        .set((
            audit_events::user_id.eq(pseudonym),
            audit_events::remote_addr.eq(None::<String>),
            audit_events::salt.eq(None::<String>),
        ))
        .execute(conn)?;
    let details: Vec<Option<String>> = of_user(pseudonym)
        .filter(audit_events::detail.is_not_null())
        .select(audit_events::detail)
        .distinct()
        .load(conn)?;
    for detail in details.iter().flatten() {
        let kept = impersonal(Some(detail));
        if kept.as_deref() == Some(detail.as_str()) {
            continue;
        }
        diesel::update(of_user(pseudonym).filter(audit_events::detail.eq(detail)))
            .set(audit_events::detail.eq(kept))
            .execute(conn)?;
    }
    Ok(rewritten)
}

#[cfg(test)]
mod tests {
    use super::impersonal;

    #[test]
    fn pseudonymisation_keeps_only_impersonal_detail() {
        assert_eq!(
            impersonal(Some(
                r#"{"username":"anna.k","by":"password","first":true}"#
            ))
            .as_deref(),
            Some(r#"{"by":"password","first":true}"#)
        );
        assert_eq!(
            impersonal(Some(r#"{"passkey":"p1","name":"Annan puhelin"}"#)).as_deref(),
            Some(r#"{"passkey":"p1"}"#)
        );
        // A throttled check's block is kept as it is: what was blocked, and until when.
        let block = r#"{"blocked":["account","address"],"until":"2026-12-09T08:00:30.000000Z"}"#;
        assert_eq!(impersonal(Some(block)).as_deref(), Some(block));
        assert_eq!(impersonal(Some(r#"{"usernames":["anna.k"]}"#)), None);
        assert_eq!(impersonal(Some("not json")), None);
        assert_eq!(impersonal(None), None);
    }
}
