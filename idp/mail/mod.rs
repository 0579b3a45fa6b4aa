//! Mail: rendered from templates in the resident's language, written to the outbox in the same
//! transaction as the change that caused it, delivered by a worker with lettre — one `.eml` file
//! per mail in `mail.dir` (the embedded default), or SMTP.

mod overrides;
mod relay_state;
mod render;
mod transport;

pub use overrides::with_overrides;
pub use relay_state::RelayState;
pub use render::{Mails, Rendered};
pub use transport::{MailTransport, TransportError, unsendable};

use chrono::NaiveDateTime;

use crate::store::lease_queue::QueueState;
use crate::store::outbox::{self, MailRow};
use crate::store::{self, DbConnection, StoreError};

/// Attempts before a mail is given up.
pub const MAX_ATTEMPTS: i64 = 10;

/// Writes `mail` to `to` into the outbox, about the account `user` when there is one; returns its
/// id (to follow its delivery).
pub fn enqueue(
    conn: &mut DbConnection,
    (tenant, user): (&str, Option<&str>),
    kind: &str,
    to: &str,
    mail: &Rendered,
    now: NaiveDateTime,
) -> Result<String, StoreError> {
    let id = store::new_id(now);
    outbox::insert(
        conn,
        &MailRow {
            id: id.clone(),
            tenant_id: tenant.to_string(),
            kind: kind.to_string(),
            to_address: to.to_string(),
            subject: mail.subject.clone(),
            body_text: mail.text.clone(),
            body_html: mail.html.clone(),
            queue: QueueState::pending(now),
            created_at: now,
            sent_at: None,
            user_id: user.map(str::to_string),
            legacy_account_ids: None,
        },
    )?;
    Ok(id)
}

/// Records `mail.failed`: an attempt to send `row` failed where a resident is told so at once
/// (`send_now`), or the worker gave up on it (`gave_up`). Names the kind of mail and the attempts,
/// never the address nor the transport's error (which may quote the address).
pub fn audit_failed(
    conn: &mut DbConnection,
    row: &MailRow,
    attempts: i64,
    gave_up: bool,
    remote_addr: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let detail = serde_json::json!({
        "mail": row.kind,
        "mail_id": row.id,
        "attempts": attempts,
        "gave_up": gave_up,
    });
    crate::store::audit::Event::new(&row.tenant_id, now, "mail.failed")
        .address(remote_addr)
        .detail(&detail)
        .record(conn)
}

/// When to try a mail again after `attempts` failed attempts, or `None` to give up.
pub fn retry_at(now: NaiveDateTime, attempts: i64) -> Option<NaiveDateTime> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let exponent = u32::try_from(attempts.clamp(0, 10)).unwrap_or(10);
    let delay = (10_i64 * 2_i64.pow(exponent)).min(3600);
    Some(now + chrono::Duration::seconds(delay))
}
