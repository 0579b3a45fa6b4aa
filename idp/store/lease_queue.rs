//! The lease queue that the mail outbox ([`super::outbox`]) and the back-channel logout deliveries
//! ([`super::deliveries`]) share: rows written `pending`, worked by every node, each claimed with a
//! lease so that no two nodes work the same row at once.
//!
//! A row is due when it is `pending`, its `next_attempt_at` has come and its lease
//! (`locked_until`) is free or has run out. [`LeaseQueue::claim_due`] reads the due ids, oldest
//! first (or each destination's in turn, [`LeaseQueue::turns_by`]), then takes each with a conditional `UPDATE` that sets the lease only where the row is
//! still `pending` and its lease still free: on either backend one node wins a row, without
//! `SELECT … FOR UPDATE`. A node that dies holding rows leaves them due again once the lease has
//! run out. [`LeaseQueue::done`] and [`LeaseQueue::failed`] record an attempt and free the lease.
//!
//! The two tables have the same queue columns (`migrations/*/…_outbox…`, `…_logout_deliveries…`)
//! and differ in their name and in what a finished row records, so the statements are written
//! once here as SQL over a [`LeaseQueue`], which names those. diesel's query builder is typed by
//! table and cannot be written over "a table with these columns". A row holds those columns as
//! one [`QueueState`], which a new row starts from ([`QueueState::pending`]).

use chrono::NaiveDateTime;
use diesel::deserialize::QueryableByName;
use diesel::prelude::*;
use diesel::query_builder::BoxedSqlQuery;
use diesel::row::NamedRow;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use super::schema::{logout_deliveries, mail_outbox};
use super::{Backend, DbConnection, Result, Tenant};

/// The status of a row waiting for an attempt.
const PENDING: &str = "pending";

/// The status of a row given up after its last attempt.
const FAILED: &str = "failed";

/// A table worked as a lease queue. Its columns `id`, `status`, `attempts`, `next_attempt_at`,
/// `locked_until` and `last_error` are the queue's; a finished row takes the status `done` and
/// the time in the column `done_at`.
#[derive(Debug, Clone, Copy)]
pub struct LeaseQueue {
    /// The table.
    pub table: &'static str,
    /// The status of a row whose work is done (`delivered`, `sent`).
    pub done: &'static str,
    /// The column that records when (`delivered_at`, `sent_at`).
    pub done_at: &'static str,
    /// A column whose values take turns in a claim (the deliveries' `uri`): the first due row of
    /// each value, then the second of each, and so on. Without it the longest due go first, and
    /// one destination with many rows due fills every claim.
    pub turns_by: Option<&'static str>,
    /// The columns emptied (`''`) when a row leaves the queue, done or given up: what only its
    /// work needed and that names a person or holds a secret (a logout token's `sub`, a mail's
    /// text with its working links), so that the row kept for its week of operations no longer
    /// does.
    pub spent: &'static [&'static str],
}

/// The queue columns of a row, which both queues' tables have: each row embeds them, inserted
/// with the rest of its row and read by name (as the statements are SQL).
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = mail_outbox)]
#[diesel(table_name = logout_deliveries)]
pub struct QueueState {
    /// `pending`, then the queue's `done` status or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// Not before.
    pub next_attempt_at: NaiveDateTime,
    /// Claimed by a node until then.
    pub locked_until: Option<NaiveDateTime>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// Written out, as the derive would need one table and the columns are of two.
impl QueryableByName<Backend> for QueueState {
    fn build<'a>(row: &impl NamedRow<'a, Backend>) -> diesel::deserialize::Result<Self> {
        Ok(QueueState {
            status: NamedRow::get::<Text, _>(row, "status")?,
            attempts: NamedRow::get::<BigInt, _>(row, "attempts")?,
            next_attempt_at: NamedRow::get::<Timestamp, _>(row, "next_attempt_at")?,
            locked_until: NamedRow::get::<Nullable<Timestamp>, _>(row, "locked_until")?,
            last_error: NamedRow::get::<Nullable<Text>, _>(row, "last_error")?,
        })
    }
}

impl QueueState {
    /// A row just queued: pending, due at `now`, never tried.
    pub fn pending(now: NaiveDateTime) -> Self {
        QueueState {
            status: PENDING.to_string(),
            attempts: 0,
            next_attempt_at: now,
            locked_until: None,
            last_error: None,
        }
    }
}

/// A row of a queue as read: its columns are read by name, as the statements are SQL.
pub trait QueueRow: QueryableByName<Backend> + Send + 'static {}

impl<R: QueryableByName<Backend> + Send + 'static> QueueRow for R {}

/// An id read by [`LeaseQueue::claim_due`].
#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = Text)]
    id: String,
}

/// What [`LeaseQueue::waiting`] reads.
#[derive(QueryableByName)]
struct Waiting {
    #[diesel(sql_type = BigInt)]
    waiting: i64,
    #[diesel(sql_type = Nullable<Timestamp>)]
    oldest: Option<NaiveDateTime>,
}

/// A statement of `sql` for `conn`: SQLite takes the `?` placeholders as written, PostgreSQL
/// numbered (`$1`, `$2`, …).
fn statement(
    conn: &DbConnection,
    sql: &str,
) -> BoxedSqlQuery<'static, Backend, diesel::query_builder::SqlQuery> {
    let sql = match conn {
        DbConnection::Sqlite(_) => sql.to_string(),
        DbConnection::Postgres(_) => {
            let mut numbered = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    numbered.push('$');
                    numbered.push_str(&n.to_string());
                } else {
                    numbered.push(c);
                }
            }
            numbered
        }
    };
    diesel::sql_query(sql).into_boxed()
}

impl LeaseQueue {
    /// Claims up to `limit` due rows (or only the row `only`, when given) until `lease_until`,
    /// the longest due first; returns the rows this call won.
    pub fn claim_due<R: QueueRow>(
        &self,
        conn: &mut DbConnection,
        now: NaiveDateTime,
        lease_until: NaiveDateTime,
        limit: i64,
        only: Option<&str>,
    ) -> Result<Vec<R>> {
        let mut claimed = Vec::new();
        for id in self.due_ids(conn, now, limit, only)? {
            if self.take_lease(conn, &id, now, lease_until)?
                && let Some(row) = self.find_pending(conn, &id)?
            {
                claimed.push(row);
            }
        }
        Ok(claimed)
    }

    /// The ids of up to `limit` rows due at `now` and held by no node (or only `only`), the
    /// longest due first (in turns of [`Self::turns_by`], when set): candidates, which
    /// [`Self::take_lease`] claims one by one.
    pub fn due_ids(
        &self,
        conn: &mut DbConnection,
        now: NaiveDateTime,
        limit: i64,
        only: Option<&str>,
    ) -> Result<Vec<String>> {
        let only_clause = if only.is_some() { " AND id = ?" } else { "" };
        let due = format!(
            "FROM {} WHERE status = ? AND next_attempt_at <= ? \
             AND (locked_until IS NULL OR locked_until <= ?){only_clause}",
            self.table
        );
        // A window function (SQLite 3.25, PostgreSQL 8.4) numbers each value's due rows.
        let sql = match self.turns_by {
            None => format!("SELECT id {due} ORDER BY next_attempt_at ASC LIMIT ?"),
            Some(column) => format!(
                "SELECT id FROM (SELECT id, next_attempt_at, ROW_NUMBER() OVER \
                 (PARTITION BY {column} ORDER BY next_attempt_at ASC, id ASC) AS turn {due}) \
                 AS due ORDER BY turn ASC, next_attempt_at ASC, id ASC LIMIT ?"
            ),
        };
        let mut query = statement(conn, &sql)
            .bind::<Text, _>(PENDING)
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(now);
        if let Some(id) = only {
            query = query.bind::<Text, _>(id.to_string());
        }
        let candidates: Vec<Id> = query.bind::<BigInt, _>(limit).load(conn)?;
        Ok(candidates.into_iter().map(|Id { id }| id).collect())
    }

    /// Claims the row `id` until `lease_until` if it is still due at `now` and held by no node;
    /// whether this call won it. The whole "due" condition again: between [`Self::due_ids`] and
    /// this another node may have claimed the row, tried it and failed (its lease gone, its next
    /// attempt later); without `next_attempt_at` here the row was claimed and tried again at
    /// once, past its backoff.
    pub fn take_lease(
        &self,
        conn: &mut DbConnection,
        id: &str,
        now: NaiveDateTime,
        lease_until: NaiveDateTime,
    ) -> Result<bool> {
        let sql = format!(
            "UPDATE {} SET locked_until = ? WHERE id = ? AND status = ? AND next_attempt_at <= ? \
             AND (locked_until IS NULL OR locked_until <= ?)",
            self.table
        );
        let won = statement(conn, &sql)
            .bind::<Timestamp, _>(lease_until)
            .bind::<Text, _>(id.to_string())
            .bind::<Text, _>(PENDING)
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(now)
            .execute(conn)?;
        Ok(won == 1)
    }

    /// How many rows of `tenant` wait (`pending`: neither done nor given up), and when the
    /// oldest of them was written (the metrics' queue gauges).
    pub fn waiting(
        &self,
        conn: &mut DbConnection,
        tenant: Tenant<'_>,
    ) -> Result<(i64, Option<NaiveDateTime>)> {
        let sql = format!(
            "SELECT COUNT(*) AS waiting, MIN(created_at) AS oldest FROM {} \
             WHERE tenant_id = ? AND status = ?",
            self.table
        );
        let found: Waiting = statement(conn, &sql)
            .bind::<Text, _>(tenant.id().to_string())
            .bind::<Text, _>(PENDING)
            .get_result(conn)?;
        Ok((found.waiting, found.oldest))
    }

    /// The row `id` if it is still pending, as a claim reads the row it just leased. A node
    /// whose lease ran out may record the row done between this node's lease and its read (its
    /// `done` takes no lease, the work being done): read unconditionally, the row came back done
    /// with its [`Self::spent`] columns emptied, and an empty mail was sent.
    fn find_pending<R: QueueRow>(&self, conn: &mut DbConnection, id: &str) -> Result<Option<R>> {
        let sql = format!("SELECT * FROM {} WHERE id = ? AND status = ?", self.table);
        Ok(statement(conn, &sql)
            .bind::<Text, _>(id.to_string())
            .bind::<Text, _>(PENDING)
            .get_result(conn)
            .optional()?)
    }

    /// A row by id.
    pub fn find<R: QueueRow>(&self, conn: &mut DbConnection, id: &str) -> Result<Option<R>> {
        let sql = format!("SELECT * FROM {} WHERE id = ?", self.table);
        Ok(statement(conn, &sql)
            .bind::<Text, _>(id.to_string())
            .get_result(conn)
            .optional()?)
    }

    /// The assignments that empty [`Self::spent`], each after a comma; nothing without any.
    fn emptied(&self) -> String {
        self.spent
            .iter()
            .map(|column| format!(", {column} = ''"))
            .collect()
    }

    /// Records that the work of row `id` was done at `now` (its [`Self::spent`] columns emptied).
    pub fn done(&self, conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<()> {
        let sql = format!(
            "UPDATE {} SET status = ?, {} = ?, attempts = attempts + 1, locked_until = NULL, \
             last_error = NULL{} WHERE id = ?",
            self.table,
            self.done_at,
            self.emptied()
        );
        statement(conn, &sql)
            .bind::<Text, _>(self.done)
            .bind::<Timestamp, _>(now)
            .bind::<Text, _>(id.to_string())
            .execute(conn)?;
        Ok(())
    }

    /// Records a failed attempt at row `id` under the lease `lease` (the row's `locked_until` as
    /// this node claimed it): retry at `next` or, when `next` is none, give up. Only while the row
    /// waits under that lease: a node whose lease ran out while it was still trying (a relay
    /// slower than the lease) must not turn another node's success into a failure, give up what
    /// is done, or free a row another node holds now (a third would send it again). Whether it
    /// did. A row given up has its [`Self::spent`] columns emptied.
    pub fn failed(
        &self,
        conn: &mut DbConnection,
        (id, lease): (&str, Option<NaiveDateTime>),
        error: &str,
        next: Option<NaiveDateTime>,
    ) -> Result<bool> {
        let (then, emptied) = match next {
            Some(_) => ("next_attempt_at", String::new()),
            None => ("status", self.emptied()),
        };
        let sql = format!(
            "UPDATE {} SET attempts = attempts + 1, locked_until = NULL, last_error = ?, {then} = ?\
             {emptied} WHERE id = ? AND status = ? AND locked_until {}",
            self.table,
            if lease.is_some() { "= ?" } else { "IS NULL" }
        );
        let query = statement(conn, &sql).bind::<Text, _>(error.to_string());
        let query = match next {
            Some(next) => query.bind::<Timestamp, _>(next),
            None => query.bind::<Text, _>(FAILED),
        };
        let query = query
            .bind::<Text, _>(id.to_string())
            .bind::<Text, _>(PENDING);
        let changed = match lease {
            Some(lease) => query.bind::<Timestamp, _>(lease).execute(conn)?,
            None => query.execute(conn)?,
        };
        Ok(changed == 1)
    }
}
