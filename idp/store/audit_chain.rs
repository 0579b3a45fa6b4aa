//! The audit trail's hash chain: every event of a tenant chained to the one before it, so that an
//! edited, deleted or inserted row shows (docs/security.md, "The audit chain").
//!
//! Events are written unsealed ([`super::audit::Event`]); chaining them at insert time would
//! serialise every login of a tenant on one lock. One sealer ([`seal`]), which every node runs
//! every few seconds (`Services::seal_audit`, idp/app.rs) and of which one node at a time does a
//! round on PostgreSQL, gives each unsealed event, per tenant and in the order of their ids, the
//! next place in its tenant's chain (`seq`), the previous event's hash (`prev_hash`), a fresh
//! random `salt`, the digest of its personal fields and its own hash:
//!
//! ```text
//! personal_digest = SHA-256(enc["idp-audit/1 personal", salt, user_id, remote_addr, detail])
//! hash = SHA-256(enc["idp-audit/2 event", prev_hash, tenant, seq, id, occurred_at, kind,
//!                    client_id, personal_digest, impersonal(detail)])
//! genesis(tenant) = SHA-256(enc["idp-audit/1 genesis", tenant])   (the prev_hash of seq 1)
//! ```
//!
//! `impersonal(detail)` is what an erasure keeps of the detail (`store::audit::impersonal`).
//! Events sealed before it entered (scheme 1: `"idp-audit/1 event"`, without that last field)
//! verify under their own scheme.
//!
//! `enc` ([`encode`]) writes each field as the byte 0 when it is NULL, or the byte 1, its length in
//! bytes (8 bytes, big-endian) and its UTF-8 bytes; `seq` and `id` are written in decimal, and
//! `occurred_at` as the export prints it ([`timestamp`]). Hashes and digests are lowercase hex.
//!
//! The personal fields enter the chain only through their salted digest, so that erasing an
//! account ([`super::audit::pseudonymise`]) can rewrite them and remove the salt without breaking
//! the chain: [`verify`] then trusts the stored digest of such a row, as long as it names an
//! erased account's pseudonym (or no one) and no address; what the erasure keeps of its detail
//! is in the hash itself, so a row without its salt cannot be given another's detail either.
//!
//! The retention purge deletes only a beginning of a tenant's sealed chain ([`purge_before`]),
//! and the first event kept is the anchor from which the rest verifies. A beginning deleted by
//! hand (`DELETE … WHERE seq < N`) looks the same, so the purge says what it did: in the same
//! transaction it writes an `audit.purged` event ([`PURGED`]: the first kept `seq`, that event's
//! `prev_hash`, how many went) and seals it at once, after the chain's head. [`verify`] accepts
//! a chain that starts at seq 1 after the genesis value, or exactly where the newest sealed
//! `audit.purged` event says, and nothing else.
//!
//! Why sealed by the purge and not by the sealer: the newest marker must always be sealed and
//! name where the chain starts now. Left to the sealer, a purge that deleted the previous marker
//! (it gets old like any event) would leave a chain whose newest sealed marker names a start
//! gone since, until the next round; verify would fail in between, or would have to trust an
//! unsealed marker. Sealed in the purge's transaction, every commit leaves the two consistent:
//! the only transaction that can delete the newest marker is a purge, and it writes a newer one
//! before it commits (a round that deletes nothing writes none). Out of the order of ids, which
//! the chain allows (an event committed late is sealed after higher ids too). On PostgreSQL the
//! purge takes the sealer's lock first, without waiting ([`purge`]): two sealers at once would
//! fork the chain (the unique index would fail the clean-up's whole round); when a sealer holds
//! it, the audit trail is purged in a later round.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::audit::AuditRow;
use super::schema::audit_events;
use super::transaction::try_lock;
use super::{DbConnection, Result, Tenant};

/// The advisory lock of the sealer (an arbitrary constant, beside the migrations' `0x1d9_0001`,
/// the clean-up's `0x1d9_0002` and the key creation's `0x1d9_0003`).
const AUDIT_CHAIN_LOCK: i64 = 0x1d9_0004;

/// What the chain's hashes begin with (the version of the scheme).
const GENESIS: &str = "idp-audit/1 genesis";
/// What every event's hash begins with.
const EVENT: &str = "idp-audit/2 event";
/// What the hash of an event sealed before [`EVENT`] began with (without its impersonal detail).
const EVENT_1: &str = "idp-audit/1 event";
/// What every personal digest begins with.
const PERSONAL: &str = "idp-audit/1 personal";

/// The canonical encoding of a list of fields: for each, the byte 0 when it is NULL, or the byte
/// 1, its length in bytes as 8 bytes big-endian, and its UTF-8 bytes. No two lists encode alike,
/// and NULL differs from the empty text.
pub fn encode(fields: &[Option<&str>]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(fields.iter().map(|f| 9 + f.map_or(0, str::len)).sum());
    for field in fields {
        match field {
            None => bytes.push(0),
            Some(text) => {
                bytes.push(1);
                bytes.extend_from_slice(&(text.len() as u64).to_be_bytes());
                bytes.extend_from_slice(text.as_bytes());
            }
        }
    }
    bytes
}

/// The SHA-256 of the encoded `fields`, lowercase hex.
fn digest(fields: &[Option<&str>]) -> String {
    hex::encode(Sha256::digest(encode(fields)))
}

/// The `prev_hash` of a tenant's first event.
pub fn genesis(tenant: &str) -> String {
    digest(&[Some(GENESIS), Some(tenant)])
}

/// A time as the chain hashes it and the export prints it: RFC 3339, UTC, microseconds.
pub fn timestamp(time: NaiveDateTime) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// An event as the chain reads it: every column.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct ChainRow {
    /// The event as the export reads it (its fields are the row's, through `Deref`).
    #[diesel(embed)]
    pub event: AuditRow,
    /// The tenant.
    pub tenant_id: Option<String>,
    /// The salt of its personal digest; removed when the event is pseudonymised.
    pub salt: Option<String>,
}

impl std::ops::Deref for ChainRow {
    type Target = AuditRow;

    fn deref(&self) -> &AuditRow {
        &self.event
    }
}

impl std::ops::DerefMut for ChainRow {
    fn deref_mut(&mut self) -> &mut AuditRow {
        &mut self.event
    }
}

impl ChainRow {
    /// The digest of the personal fields under `salt`.
    fn personal_digest_with(&self, salt: &str) -> String {
        digest(&[
            Some(PERSONAL),
            Some(salt),
            self.user_id.as_deref(),
            self.remote_addr.as_deref(),
            self.detail.as_deref(),
        ])
    }

    /// The event's hash at `seq` after `prev_hash`, with `personal_digest`: of the current
    /// scheme, which covers what an erasure keeps of the detail too.
    fn hash_with(&self, prev_hash: &str, seq: i64, personal_digest: &str) -> String {
        let kept = super::audit::impersonal(self.detail.as_deref());
        self.hash_of(
            EVENT,
            prev_hash,
            seq,
            personal_digest,
            Some(kept.as_deref()),
        )
    }

    /// Whether `hash` is the event's hash at `seq` after `prev_hash` with `personal_digest`, of
    /// the current scheme or of the first (sealed before the current one).
    fn hashes_to(&self, hash: &str, prev_hash: &str, seq: i64, personal_digest: &str) -> bool {
        self.hash_with(prev_hash, seq, personal_digest) == hash
            || self.hash_of(EVENT_1, prev_hash, seq, personal_digest, None) == hash
    }

    /// The hash under the scheme `scheme`; `kept`, the impersonal detail, from scheme 2 on.
    fn hash_of(
        &self,
        scheme: &str,
        prev_hash: &str,
        seq: i64,
        personal_digest: &str,
        kept: Option<Option<&str>>,
    ) -> String {
        let (seq, id) = (seq.to_string(), self.id.to_string());
        let time = timestamp(self.occurred_at);
        let mut fields = vec![
            Some(scheme),
            Some(prev_hash),
            self.tenant_id.as_deref(),
            Some(seq.as_str()),
            Some(id.as_str()),
            Some(time.as_str()),
            Some(self.kind.as_str()),
            self.client_id.as_deref(),
            Some(personal_digest),
        ];
        fields.extend(kept);
        digest(&fields)
    }
}

/// What one round of the sealer did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    /// Whether this node did the round (false: another node held the lock).
    pub ran: bool,
    /// Events sealed.
    pub events: usize,
}

/// Seals up to `limit` unsealed events, oldest first, of every tenant, in one write transaction.
/// On PostgreSQL it first takes an advisory lock, and skips the round when another node holds
/// it; the unique index on `(tenant_id, seq)` would refuse a fork all the same.
pub fn seal(conn: &mut DbConnection, limit: i64) -> Result<Sealed> {
    super::write_transaction(conn, |conn| {
        if !try_lock(conn, AUDIT_CHAIN_LOCK)? {
            return Ok(Sealed::default());
        }
        let tenants: Vec<Option<String>> = audit_events::table
            .filter(audit_events::seq.is_null())
            .filter(audit_events::tenant_id.is_not_null())
            .select(audit_events::tenant_id)
            .distinct()
            .load(conn)?;
        let mut events = 0;
        for tenant in tenants.iter().flatten() {
            let left = limit - i64::try_from(events).unwrap_or(limit);
            if left <= 0 {
                break;
            }
            events += seal_tenant(conn, tenant, left)?;
        }
        Ok(Sealed { ran: true, events })
    })
}

/// Seals up to `limit` unsealed events of `tenant` after its chain's last event.
fn seal_tenant(conn: &mut DbConnection, tenant: &str, limit: i64) -> Result<usize> {
    let ids: Vec<i64> = unsealed(tenant)
        .order(audit_events::id.asc())
        .limit(limit)
        .select(audit_events::id)
        .load(conn)?;
    seal_ids(conn, tenant, &ids)
}

/// Seals the unsealed events `ids` of `tenant`, in the order of their ids, after its chain's
/// last event.
fn seal_ids(conn: &mut DbConnection, tenant: &str, ids: &[i64]) -> Result<usize> {
    let head: Option<(Option<i64>, Option<String>)> = audit_events::table
        .filter(audit_events::tenant_id.eq(tenant))
        .filter(audit_events::seq.is_not_null())
        .order(audit_events::seq.desc())
        .select((audit_events::seq, audit_events::hash))
        .first(conn)
        .optional()?;
    let (mut seq, mut prev_hash) = match head {
        Some((seq, hash)) => (seq.unwrap_or(0), hash.unwrap_or_default()),
        None => (0, genesis(tenant)),
    };
    // Lock the rows before reading them: on PostgreSQL an erasure that rewrites one of them
    // either committed before (and its content is what is read below) or waits for this
    // transaction (and finds it sealed, its salt to remove). A no-op on SQLite's one writer.
    diesel::update(unsealed(tenant).filter(audit_events::id.eq_any(ids)))
        .set(audit_events::seq.eq(None::<i64>))
        .execute(conn)?;
    let rows: Vec<ChainRow> = unsealed(tenant)
        .filter(audit_events::id.eq_any(ids))
        .order(audit_events::id.asc())
        .select(ChainRow::as_select())
        .load(conn)?;
    for row in &rows {
        seq += 1;
        let salt = hex::encode(rand::random::<[u8; 16]>());
        let personal = row.personal_digest_with(&salt);
        let hash = row.hash_with(&prev_hash, seq, &personal);
        diesel::update(unsealed(tenant).filter(audit_events::id.eq(row.id)))
            .set((
                audit_events::seq.eq(seq),
                audit_events::prev_hash.eq(&prev_hash),
                audit_events::hash.eq(&hash),
                audit_events::personal_digest.eq(&personal),
                audit_events::salt.eq(&salt),
            ))
            .execute(conn)?;
        prev_hash = hash;
    }
    Ok(rows.len())
}

/// The unsealed events of `tenant`.
fn unsealed(
    tenant: &str,
) -> diesel::dsl::Filter<
    diesel::dsl::Filter<audit_events::table, diesel::dsl::Eq<audit_events::tenant_id, &str>>,
    diesel::dsl::IsNull<audit_events::seq>,
> {
    audit_events::table
        .filter(audit_events::tenant_id.eq(tenant))
        .filter(audit_events::seq.is_null())
}

/// The most events one round's retention purge deletes of a tenant ([`purge_before`]): a city
/// that turns a retention on after years of events (two million) does not hold the writer for
/// many seconds in one transaction; the rounds (every five minutes) go on from where it stopped.
pub const PURGE_BATCH: i64 = 10_000;

/// The kind of the event the retention purge writes and seals when it deletes a beginning of a
/// tenant's chain: its detail names where the chain starts now, `{"first_seq": n, "prev_hash":
/// …, "deleted": n}`, and [`verify`] accepts no other start than seq 1 or the newest one's.
pub const PURGED: &str = "audit.purged";

/// The retention purge of the clean-up's round at `now`: [`purge_before`] for each tenant of
/// `audit_before` with its time. On PostgreSQL it first takes the sealer's lock, without waiting
/// (the purge seals its `audit.purged` event, and the clean-up may already hold rows a sealer
/// waits for): when a sealer holds it, nothing is purged this round. Returns how many events
/// were deleted.
pub(super) fn purge(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    audit_before: &[(String, NaiveDateTime)],
) -> Result<usize> {
    if audit_before.is_empty() || !try_lock(conn, AUDIT_CHAIN_LOCK)? {
        return Ok(0);
    }
    let mut deleted = 0;
    for (tenant, before) in audit_before {
        deleted += purge_before(conn, tenant, *before, now)?;
    }
    Ok(deleted)
}

/// Deletes the sealed events of the tenant `tenant` that a retention ending at `before` lets go,
/// as a beginning of its chain: every event before the first one (by `seq`) that occurred at or
/// after `before`, so that no hole is left and that first event's `prev_hash` anchors the rest —
/// at most [`PURGE_BATCH`] of them, the oldest, which leaves a beginning of the chain too.
/// The chain's last event stays even when it is older, so that the next sealed event has an
/// event to follow. Unsealed events stay until they are sealed. When it deleted any, it writes
/// and seals the [`PURGED`] event that names the new start, at `now`. Returns how many were
/// deleted. Called by [`purge`], which holds the sealer's lock.
fn purge_before(
    conn: &mut DbConnection,
    tenant: &str,
    before: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<usize> {
    let sealed = audit_events::table
        .filter(audit_events::tenant_id.eq(tenant))
        .filter(audit_events::seq.is_not_null());
    // The first kept event is the one of least `seq` among those at or after `before`. Asked at
    // once (`min(seq)` over the retention window) the database reads the whole window, ten
    // million events at a million residents (scripts/bench/populate.py), every round. Events
    // are sealed nearly in the order they occurred, so: the earliest kept event by time (one
    // index entry), then any kept event before it in the chain, which only reads the part of
    // the chain this round deletes.
    let earliest: Option<Option<i64>> = sealed
        .filter(audit_events::occurred_at.ge(before))
        .order(audit_events::occurred_at)
        .select(audit_events::seq)
        .limit(1)
        .get_result(conn)
        .optional()?;
    let first_kept = match earliest.flatten() {
        Some(earliest) => {
            let before_it: Option<i64> = sealed
                .filter(audit_events::seq.lt(earliest))
                .filter(audit_events::occurred_at.ge(before))
                .select(diesel::dsl::min(audit_events::seq))
                .get_result(conn)?;
            Some(before_it.map_or(earliest, |seq| seq.min(earliest)))
        }
        None => None,
    };
    let first_kept = match first_kept {
        Some(seq) => seq,
        None => {
            let last: Option<i64> = sealed
                .select(diesel::dsl::max(audit_events::seq))
                .get_result(conn)?;
            let Some(last) = last else {
                return Ok(0);
            };
            last
        }
    };
    let first: Option<i64> = sealed
        .select(diesel::dsl::min(audit_events::seq))
        .get_result(conn)?;
    let Some(first) = first else {
        return Ok(0);
    };
    let end = first_kept.min(first.saturating_add(PURGE_BATCH));
    let deleted = diesel::delete(sealed.filter(audit_events::seq.lt(end))).execute(conn)?;
    if deleted > 0 {
        mark_purge(conn, tenant, now, deleted)?;
    }
    Ok(deleted)
}

/// Writes the [`PURGED`] event of a purge that deleted `deleted` events of `tenant`'s chain,
/// naming the first event left and its `prev_hash`, and seals it after the chain's head, in the
/// purge's transaction.
fn mark_purge(
    conn: &mut DbConnection,
    tenant: &str,
    now: NaiveDateTime,
    deleted: usize,
) -> Result<()> {
    // The chain's last event is never deleted: there is a first one left.
    let (first_seq, prev_hash): (Option<i64>, Option<String>) = audit_events::table
        .filter(audit_events::tenant_id.eq(tenant))
        .filter(audit_events::seq.is_not_null())
        .order(audit_events::seq.asc())
        .select((audit_events::seq, audit_events::prev_hash))
        .first(conn)?;
    super::audit::Event::new(tenant, now, PURGED)
        .detail(&serde_json::json!({
            "first_seq": first_seq,
            "prev_hash": prev_hash,
            "deleted": deleted,
        }))
        .record(conn)?;
    // The one just written: the newest of this transaction's writes (on PostgreSQL another
    // transaction's uncommitted event is not seen).
    let marker: i64 = unsealed(tenant)
        .filter(audit_events::kind.eq(PURGED))
        .order(audit_events::id.desc())
        .select(audit_events::id)
        .first(conn)?;
    seal_ids(conn, tenant, &[marker])?;
    Ok(())
}

/// What is wrong at a broken link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Events are missing before this one: the previous event in the chain has `seq` `previous`.
    Gap {
        /// The `seq` of the event before it.
        previous: i64,
    },
    /// The first event's `prev_hash` is not the tenant's genesis value.
    Genesis,
    /// The chain starts at this event, after seq 1, but not where the newest `audit.purged`
    /// event (which names `purged_to`, if there is one) says the retention purge left it: its
    /// beginning was deleted otherwise.
    Start {
        /// Where the newest `audit.purged` event says the chain starts (`None`: there is none).
        purged_to: Option<i64>,
    },
    /// The chain starts at this event, as the newest `audit.purged` event says, but its
    /// `prev_hash` is not the one that event names.
    Anchor,
    /// Its `prev_hash` is not the hash of the event before it.
    PrevHash,
    /// It has a place in the chain but lacks its hash, previous hash or personal digest.
    Unsealed,
    /// Its user, address or detail do not match its personal digest.
    PersonalFields,
    /// Its time, kind, client, id or place do not match its hash (or the hash was changed).
    Hash,
    /// Its salt was removed, but it still names an address, personal detail or an account that
    /// was not erased: it was not pseudonymised by an erasure.
    Salt,
    /// It carries a hash, digest or salt but has no place in the chain.
    NoPlace,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Gap { previous } => write!(
                f,
                "the event before it in the chain is seq {previous}: the events between are missing"
            ),
            Problem::Genesis => f.write_str("its prev_hash is not the genesis value of the tenant"),
            Problem::Start { purged_to: None } => f.write_str(
                "the chain starts here, but no audit.purged event says that the retention purge \
                 deleted its beginning (it must start at seq 1): the events before it were deleted",
            ),
            Problem::Start {
                purged_to: Some(first),
            } => write!(
                f,
                "the chain starts here, but the newest audit.purged event says that the retention \
                 purge left it starting at seq {first}: its beginning was deleted otherwise"
            ),
            Problem::Anchor => f.write_str(
                "its prev_hash is not the one the newest audit.purged event names for the chain's \
                 first event",
            ),
            Problem::PrevHash => {
                f.write_str("its prev_hash is not the hash of the event before it")
            }
            Problem::Unsealed => f.write_str("it has a seq but no hash, prev_hash or digest"),
            Problem::PersonalFields => {
                f.write_str("its user, address or detail do not match its personal digest (edited)")
            }
            Problem::Hash => {
                f.write_str("its time, kind, client or place do not match its hash (edited)")
            }
            Problem::Salt => f.write_str(
                "its salt was removed but it still has an address, personal detail or a user \
                     who was not erased",
            ),
            Problem::NoPlace => f.write_str("it has a hash, digest or salt but no seq"),
        }
    }
}

/// The first broken link of a chain: the event, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// Its place in the chain, if it has one.
    pub seq: Option<i64>,
    /// Its id.
    pub id: i64,
    /// When it occurred.
    pub occurred_at: NaiveDateTime,
    /// Its kind.
    pub kind: String,
    /// What is wrong.
    pub problem: Problem,
}

impl Broken {
    fn at(row: &ChainRow, problem: Problem) -> Broken {
        Broken {
            seq: row.seq,
            id: row.id,
            occurred_at: row.occurred_at,
            kind: row.kind.clone(),
            problem,
        }
    }
}

/// An event at the edge of a verified chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Its place.
    pub seq: i64,
    /// When it occurred.
    pub occurred_at: NaiveDateTime,
    /// Its hash.
    pub hash: String,
}

/// The newest sealed [`PURGED`] event of a chain: where the retention purge left its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purge {
    /// The event's own place.
    pub seq: i64,
    /// When the purge ran.
    pub occurred_at: NaiveDateTime,
    /// The first event kept, where the chain must start (`None`: its detail does not say).
    pub first_seq: Option<i64>,
    /// That event's `prev_hash`, the hash of the last one deleted.
    pub prev_hash: Option<String>,
}

impl Purge {
    /// What the `audit.purged` event `row` says.
    fn of(row: &ChainRow) -> Purge {
        let detail: serde_json::Value = row
            .detail
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_default();
        Purge {
            seq: row.seq.unwrap_or_default(),
            occurred_at: row.occurred_at,
            first_seq: detail["first_seq"].as_i64(),
            prev_hash: detail["prev_hash"].as_str().map(str::to_string),
        }
    }
}

/// A chain that verified.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// Sealed events verified.
    pub events: u64,
    /// The newest `audit.purged` event of the chain, read before the walk: the start it names is
    /// the only one after seq 1 that the chain may have.
    pub purged: Option<Purge>,
    /// The first of them (`seq` above 1: the ones before were purged, as `purged` says, and its
    /// `prev_hash` is the one `purged` names).
    pub first: Option<Link>,
    /// The last of them, the chain's head.
    pub last: Option<Link>,
    /// How many of them were pseudonymised after sealing (their salt removed).
    pub pseudonymised: u64,
    /// Events of the tenant not sealed yet.
    pub unsealed: u64,
}

/// Walks the sealed events of `tenant` in chain order, `page` at a time (constant memory), in
/// one read snapshot, and checks each: its place follows the one before without a gap, its
/// `prev_hash` is the hash before it (for seq 1 the genesis value; a later first event only
/// where the newest sealed `audit.purged` event says the retention purge left the chain, with
/// the `prev_hash` it names), its personal digest (when it still has its salt; without one it
/// must have been pseudonymised), and its hash. Then that no event outside the chain carries a
/// hash. `Ok(Err(broken))`: the first broken link.
pub fn verify(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    page: i64,
) -> Result<std::result::Result<Verified, Broken>> {
    super::read_transaction(conn, |conn| {
        // Itself in the chain, so checked by the walk like any event.
        let purged: Option<ChainRow> = audit_events::table
            .filter(audit_events::tenant_id.eq(tenant.id()))
            .filter(audit_events::seq.is_not_null())
            .filter(audit_events::kind.eq(PURGED))
            .order(audit_events::seq.desc())
            .select(ChainRow::as_select())
            .first(conn)
            .optional()?;
        let mut verified = Verified {
            purged: purged.as_ref().map(Purge::of),
            ..Verified::default()
        };
        let mut after = i64::MIN;
        loop {
            let rows: Vec<ChainRow> = audit_events::table
                .filter(audit_events::tenant_id.eq(tenant.id()))
                .filter(audit_events::seq.gt(after))
                .order(audit_events::seq.asc())
                .limit(page)
                .select(ChainRow::as_select())
                .load(conn)?;
            let Some(last) = rows.last() else {
                break;
            };
            after = last.seq.unwrap_or(i64::MAX);
            for row in &rows {
                if let Err(broken) = check(row, tenant.id(), &mut verified) {
                    return Ok(Err(broken));
                }
            }
        }
        let stray: Option<ChainRow> = audit_events::table
            .filter(audit_events::tenant_id.eq(tenant.id()))
            .filter(audit_events::seq.is_null())
            .filter(
                audit_events::hash
                    .is_not_null()
                    .or(audit_events::prev_hash.is_not_null())
                    .or(audit_events::personal_digest.is_not_null())
                    .or(audit_events::salt.is_not_null()),
            )
            .order(audit_events::id.asc())
            .select(ChainRow::as_select())
            .first(conn)
            .optional()?;
        if let Some(row) = stray {
            return Ok(Err(Broken::at(&row, Problem::NoPlace)));
        }
        let unsealed: i64 = unsealed(tenant.id()).count().get_result(conn)?;
        verified.unsealed = u64::try_from(unsealed).unwrap_or(0);
        Ok(Ok(verified))
    })
}

/// Checks one sealed event after those `verified` so far, and counts it.
fn check(row: &ChainRow, tenant: &str, verified: &mut Verified) -> std::result::Result<(), Broken> {
    let broken = |problem| Broken::at(row, problem);
    let (Some(seq), Some(prev_hash), Some(hash), Some(personal)) = (
        row.seq,
        row.prev_hash.as_deref(),
        row.hash.as_deref(),
        row.personal_digest.as_deref(),
    ) else {
        return Err(broken(Problem::Unsealed));
    };
    match &verified.last {
        Some(before) if seq != before.seq + 1 => {
            return Err(broken(Problem::Gap {
                previous: before.seq,
            }));
        }
        Some(before) if prev_hash != before.hash => return Err(broken(Problem::PrevHash)),
        Some(_) => {}
        None if seq == 1 => {
            if prev_hash != genesis(tenant) {
                return Err(broken(Problem::Genesis));
            }
        }
        None => {
            let purged = verified.purged.as_ref();
            let purged_to = purged.and_then(|p| p.first_seq);
            if purged_to != Some(seq) {
                return Err(broken(Problem::Start { purged_to }));
            }
            if purged.and_then(|p| p.prev_hash.as_deref()) != Some(prev_hash) {
                return Err(broken(Problem::Anchor));
            }
        }
    }
    match row.salt.as_deref() {
        Some(salt) if row.personal_digest_with(salt) != personal => {
            return Err(broken(Problem::PersonalFields));
        }
        Some(_) => {}
        None if row.remote_addr.is_some()
            || super::audit::impersonal(row.detail.as_deref()) != row.detail
            || row
                .user_id
                .as_deref()
                .is_some_and(|user| !user.starts_with(super::audit::ERASED_PREFIX)) =>
        {
            return Err(broken(Problem::Salt));
        }
        None => verified.pseudonymised += 1,
    }
    if !row.hashes_to(hash, prev_hash, seq, personal) {
        return Err(broken(Problem::Hash));
    }
    let link = Link {
        seq,
        occurred_at: row.occurred_at,
        hash: hash.to_string(),
    };
    verified.events += 1;
    if verified.first.is_none() {
        verified.first = Some(link.clone());
    }
    verified.last = Some(link);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoding_is_unambiguous() {
        // NULL is not the empty text, and field boundaries cannot be moved.
        assert_ne!(encode(&[None]), encode(&[Some("")]));
        assert_ne!(
            encode(&[Some("ab"), Some("c")]),
            encode(&[Some("a"), Some("bc")])
        );
        assert_ne!(encode(&[Some(""), None]), encode(&[None, Some("")]));
        assert_ne!(encode(&[Some("a")]), encode(&[Some("a"), None]));
        assert_eq!(
            encode(&[None, Some("é")]),
            [0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0xc3, 0xa9]
        );
    }

    #[test]
    fn genesis_and_timestamps_are_fixed() {
        // An outside verifier recomputes these: they must never change.
        assert_eq!(
            genesis("seinajoki"),
            hex::encode(Sha256::digest(encode(&[
                Some("idp-audit/1 genesis"),
                Some("seinajoki")
            ])))
        );
        assert_ne!(genesis("seinajoki"), genesis("kouvola"));
        let time = chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
            .and_then(|d| d.and_hms_micro_opt(8, 5, 3, 42))
            .unwrap();
        assert_eq!(timestamp(time), "2026-12-07T08:05:03.000042Z");
    }

    fn row() -> ChainRow {
        ChainRow {
            event: row_event(),
            tenant_id: Some("seinajoki".into()),
            salt: None,
        }
    }

    fn row_event() -> AuditRow {
        AuditRow {
            id: 7,
            occurred_at: chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
                .and_then(|d| d.and_hms_opt(8, 0, 0))
                .unwrap(),
            kind: "login.succeeded".into(),
            user_id: Some("u1".into()),
            client_id: None,
            remote_addr: Some("192.0.2.1".into()),
            detail: Some(r#"{"by":"password"}"#.into()),
            seq: None,
            prev_hash: None,
            hash: None,
            personal_digest: None,
        }
    }

    /// `row` sealed at `seq` after `prev`.
    fn sealed(mut row: ChainRow, seq: i64, prev: &str) -> ChainRow {
        let salt = "00112233445566778899aabbccddeeff";
        let personal = row.personal_digest_with(salt);
        row.hash = Some(row.hash_with(prev, seq, &personal));
        row.seq = Some(seq);
        row.prev_hash = Some(prev.into());
        row.personal_digest = Some(personal);
        row.salt = Some(salt.into());
        row
    }

    #[test]
    fn an_event_sealed_under_the_first_scheme_still_verifies() {
        let mut first = sealed(row(), 1, &genesis("seinajoki"));
        let personal = first.personal_digest.clone().unwrap();
        let prev = genesis("seinajoki");
        first.hash = Some(first.hash_of(EVENT_1, &prev, 1, &personal, None));
        assert_ne!(first.hash, Some(first.hash_with(&prev, 1, &personal)));
        assert_eq!(check(&first, "seinajoki", &mut Verified::default()), Ok(()));
        first.kind = "login.failed".into();
        assert_eq!(
            check(&first, "seinajoki", &mut Verified::default()).map_err(|b| b.problem),
            Err(Problem::Hash)
        );
    }

    #[test]
    fn every_field_is_covered() {
        let first = sealed(row(), 1, &genesis("seinajoki"));
        assert_eq!(check(&first, "seinajoki", &mut Verified::default()), Ok(()));
        let problem = |edit: fn(&mut ChainRow)| {
            let mut edited = first.clone();
            edit(&mut edited);
            check(&edited, "seinajoki", &mut Verified::default())
                .err()
                .map(|b| b.problem)
        };
        assert_eq!(
            problem(|r| r.kind = "login.failed".into()),
            Some(Problem::Hash)
        );
        assert_eq!(problem(|r| r.id = 8), Some(Problem::Hash));
        assert_eq!(
            problem(|r| r.client_id = Some(String::new())),
            Some(Problem::Hash)
        );
        assert_eq!(
            problem(|r| r.occurred_at += chrono::Duration::microseconds(1)),
            Some(Problem::Hash)
        );
        assert_eq!(problem(|r| r.user_id = None), Some(Problem::PersonalFields));
        assert_eq!(
            problem(|r| r.remote_addr = Some("192.0.2.2".into())),
            Some(Problem::PersonalFields)
        );
        assert_eq!(problem(|r| r.detail = None), Some(Problem::PersonalFields));
        assert_eq!(
            problem(|r| r.prev_hash = Some("0".into())),
            Some(Problem::Genesis)
        );
        assert_eq!(problem(|r| r.hash = None), Some(Problem::Unsealed));
        // The salt removed without the erasure's rewriting is refused; with it, trusted.
        assert_eq!(problem(|r| r.salt = None), Some(Problem::Salt));
        let mut erased = first.clone();
        erased.salt = None;
        erased.remote_addr = None;
        erased.user_id = Some("erased-pseudonym".into());
        let mut verified = Verified::default();
        assert_eq!(check(&erased, "seinajoki", &mut verified), Ok(()));
        assert_eq!(verified.pseudonymised, 1);
        // Without its salt, a row cannot be moved to an account that was not erased, nor have what
        // the erasure kept of its detail changed (that is in the hash).
        let mut moved = erased.clone();
        moved.user_id = Some("u2".into());
        assert_eq!(
            check(&moved, "seinajoki", &mut Verified::default()).map_err(|b| b.problem),
            Err(Problem::Salt)
        );
        let mut flipped = erased.clone();
        flipped.detail = Some(r#"{"by":"passkey"}"#.into());
        assert_eq!(
            check(&flipped, "seinajoki", &mut Verified::default()).map_err(|b| b.problem),
            Err(Problem::Hash)
        );
    }

    #[test]
    fn links_follow_each_other() {
        let first = sealed(row(), 1, &genesis("seinajoki"));
        let second = sealed(row(), 2, first.hash.as_deref().unwrap());
        let third = sealed(row(), 3, second.hash.as_deref().unwrap());
        let mut verified = Verified::default();
        assert_eq!(check(&first, "seinajoki", &mut verified), Ok(()));
        let mut skipped = verified.clone();
        assert_eq!(
            check(&third, "seinajoki", &mut skipped).map_err(|b| b.problem),
            Err(Problem::Gap { previous: 1 })
        );
        assert_eq!(check(&second, "seinajoki", &mut verified), Ok(()));
        assert_eq!(check(&third, "seinajoki", &mut verified), Ok(()));
        assert_eq!(verified.events, 3);
        // A chain whose beginning was deleted starts only where the newest audit.purged event
        // says, after the prev_hash it names.
        let start =
            |anchored: &mut Verified| check(&third, "seinajoki", anchored).map_err(|b| b.problem);
        assert_eq!(
            start(&mut Verified::default()),
            Err(Problem::Start { purged_to: None })
        );
        let purge = |first_seq, prev_hash: &str| Purge {
            seq: 9,
            occurred_at: third.occurred_at,
            first_seq: Some(first_seq),
            prev_hash: Some(prev_hash.into()),
        };
        let mut anchored = Verified {
            purged: Some(purge(2, second.hash.as_deref().unwrap())),
            ..Verified::default()
        };
        assert_eq!(
            start(&mut anchored),
            Err(Problem::Start { purged_to: Some(2) })
        );
        anchored.purged = Some(purge(3, first.hash.as_deref().unwrap()));
        assert_eq!(start(&mut anchored), Err(Problem::Anchor));
        anchored.purged = Some(purge(3, second.hash.as_deref().unwrap()));
        assert_eq!(start(&mut anchored), Ok(()));
        let forged = sealed(row(), 4, &genesis("seinajoki"));
        assert_eq!(
            check(&forged, "seinajoki", &mut anchored).map_err(|b| b.problem),
            Err(Problem::PrevHash)
        );
    }
}
