//! Limits on the mail that anyone can cause: forgot password, registration, the
//! account-exists notice, the linker's links, a change of address.
//!
//! Every such mail counts against its recipient (the normalised address, in one of its budgets:
//! forgot password's, a change of address's, or the one every other mail shares, [`Budget`]) and
//! the client address of the request (`Minter::client_key`: an IPv6 address per /64), within the
//! tenant's `[mail_limits]`, in the database (`store::mail_limits`), so the limits hold across nodes. Past
//! a limit no mail (nor its link) is written, the page reads as before, and the refusal is counted
//! in the metrics (`idp_mail_total{outcome="limited"}`). The first refusal of a limit's key
//! within its window is also audited as `mail.limited` with the limit and the kind of mail — the
//! user's id when the recipient has an account, never the address —; the later ones of that
//! window are not, so that repeating a refused request adds nothing to the recipient's audit
//! trail. [`write`] is how a flow writes such a mail.
//!
//! One mail is counted but never refused ([`count`]): the deletion's undo mail. Only the account's
//! owner (with its current password, on a signed-in session) or support can cause it, and it goes
//! only to the account's own address; refusing it would let anyone who fills that address's
//! shared budget (with registrations of it) stop the owner from deleting the account. Counted, it
//! still weighs on the other mail anyone causes to the address.

use chrono::Duration;
use serde_json::json;

use crate::flows::context::{Minter, client_key_of};
use crate::flows::error::FlowError;
use crate::mail::{self, Rendered};
pub use crate::store::mail_limits::Budget;
use crate::store::mail_limits::{self, Limit};
use crate::store::{DbConnection, Tenant};
use crate::telemetry::metrics::Counted;

/// The names of the limits, as `mail.limited` records them.
const PER_ADDRESS: &str = "per_address";
const PER_CLIENT_ADDRESS: &str = "per_client_address";

/// A mail about to be written.
#[derive(Debug, Clone, Copy)]
pub struct Mail<'a> {
    /// The kind (`reset_password`, `register`, `account_exists`, `legacy_link`, `verify_email`).
    pub kind: &'a str,
    /// The recipient, normalised.
    pub to: &'a str,
    /// The recipient's account, when it has one (for the audit trail).
    pub user: Option<&'a str>,
    /// The recipient's budget it is counted in: the form's that asked for it, never one chosen
    /// by what the address has (see [`Budget`]).
    pub budget: Budget,
}

/// The hashed keys `mail` counts against: its recipient's, and the client address's when the
/// request has one.
struct Keys {
    recipient: String,
    client: Option<String>,
}

impl Keys {
    fn of(m: &Minter<'_>, mail: Mail<'_>) -> Self {
        Self {
            recipient: mail.budget.key(mail.to),
            client: m.client_key(),
        }
    }

    /// The limits by name, the recipient's first.
    fn limits(&self, m: &Minter<'_>) -> Vec<(&'static str, Limit<'_>)> {
        let limits = &m.tenant.mail_limits;
        let minutes = |m: u32| Duration::minutes(i64::from(m));
        let mut counted = vec![(
            PER_ADDRESS,
            Limit {
                key: &self.recipient,
                max: i64::from(limits.per_address),
                since: m.now - minutes(limits.per_address_minutes),
            },
        )];
        if let Some(client) = &self.client {
            counted.push((
                PER_CLIENT_ADDRESS,
                Limit {
                    key: client,
                    max: i64::from(limits.per_client_address),
                    since: m.now - minutes(limits.per_client_address_minutes),
                },
            ));
        }
        counted
    }
}

/// The turns a mail request to `tenant` of the client `address` waits for on its node before it takes a
/// connection (`store/gate.rs`): its client address's limit. Residents behind one address asking
/// at the same moment each get their mail, one after the other; the requests of one recipient
/// from many addresses are let in two at a time.
pub fn turns(tenant: Tenant<'_>, address: Option<&str>) -> Vec<String> {
    address
        .map(|a| mail_limits::turn_of(tenant, &client_key_of(a)))
        .into_iter()
        .collect()
}

/// Counts `mail` against the tenant's limits; false when a limit is reached and the mail must not
/// be written (counted in the metrics, and audited as `mail.limited` when it is the first refusal
/// of the limit's key within its window). Call it inside the write transaction that writes the
/// mail, before anything else of it.
pub fn admit(m: &Minter<'_>, conn: &mut DbConnection, mail: Mail<'_>) -> Result<bool, FlowError> {
    let keys = Keys::of(m, mail);
    let counted = keys.limits(m);
    let only: Vec<Limit<'_>> = counted.iter().map(|(_, limit)| *limit).collect();
    let Some(reached) = mail_limits::count_mail(conn, Tenant::of(m.tenant), &only, m.now)? else {
        return Ok(true);
    };
    let name = counted
        .get(reached.index)
        .map_or(PER_ADDRESS, |(name, _)| *name);
    if reached.first {
        tracing::info!(tenant = %m.tenant.id, kind = mail.kind, limit = name, "mail limit reached");
        m.audit("mail.limited")
            .user(mail.user)
            .detail(&json!({ "limit": name, "mail": mail.kind }))
            .record(conn)?;
    }
    m.tally.note(Counted::MailLimited);
    Ok(false)
}

/// Counts `mail` against the tenant's limits as [`admit`] does, but never refuses it, past a limit
/// too: only for the deletion's undo mail (see the module's documentation). Call it inside the
/// write transaction that writes the mail.
pub fn count(m: &Minter<'_>, conn: &mut DbConnection, mail: Mail<'_>) -> Result<(), FlowError> {
    let keys = Keys::of(m, mail);
    let only: Vec<Limit<'_>> = keys.limits(m).into_iter().map(|(_, l)| l).collect();
    mail_limits::add_mail(conn, Tenant::of(m.tenant), &only, m.now)?;
    Ok(())
}

/// Writes the mail `counted` to `to` under the limits, in the caller's write transaction: counted
/// first ([`admit`]); past a limit nothing else is written and the answer is `None`. Else `with`
/// writes what goes with the mail (its links, its audit event) and renders it, and the mail is
/// queued: the answer is its id.
pub fn write(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    counted: Mail<'_>,
    to: &str,
    with: impl FnOnce(&mut DbConnection) -> Result<Rendered, FlowError>,
) -> Result<Option<String>, FlowError> {
    if !admit(m, conn, counted)? {
        return Ok(None);
    }
    let rendered = with(conn)?;
    let about = (m.tenant.id.as_str(), counted.user);
    let id = mail::enqueue(conn, about, counted.kind, to, &rendered, m.now)?;
    Ok(Some(id))
}
