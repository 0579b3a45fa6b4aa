//! What the resident's data export (`flows::export`) reads of a user that no other flow reads:
//! every session, grant, consent, audit event and mail of the user, each query filtered by the
//! tenant and the user (its links it reads with `links::of_user`). The export leaves out their secrets (a session's cookie hash, a
//! link's token hash); a grant's codes and tokens and a mail's text (it carries its link) are not
//! read at all.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::grants::GrantRow;
use super::schema::{audit_events, consents, grants, mail_outbox, sso_sessions};
use super::sessions::SessionRow;
use super::{DbConnection, Result, Tenant};

/// The sessions of a user of `tenant`, live or ended, the oldest first.
pub fn sessions(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
) -> Result<Vec<SessionRow>> {
    Ok(sso_sessions::table
        .filter(sso_sessions::tenant_id.eq(tenant.id()))
        .filter(sso_sessions::user_id.eq(user_id))
        .order((sso_sessions::created_at.asc(), sso_sessions::id.asc()))
        .select(SessionRow::as_select())
        .load(conn)?)
}

/// The grants of a user of `tenant`, revoked or not, the oldest first.
pub fn grants(conn: &mut DbConnection, tenant: Tenant<'_>, user_id: &str) -> Result<Vec<GrantRow>> {
    Ok(grants::table
        .filter(grants::tenant_id.eq(tenant.id()))
        .filter(grants::user_id.eq(user_id))
        .order((grants::created_at.asc(), grants::id.asc()))
        .select(GrantRow::as_select())
        .load(conn)?)
}

/// The consents of a user of `tenant`: (client, scope, given), by client.
pub fn consents(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
) -> Result<Vec<(String, String, NaiveDateTime)>> {
    Ok(consents::table
        .filter(consents::tenant_id.eq(tenant.id()))
        .filter(consents::user_id.eq(user_id))
        .order(consents::client_id.asc())
        .select((consents::client_id, consents::scope, consents::granted_at))
        .load(conn)?)
}

/// An audit event that names the user.
#[derive(Debug, Clone, Queryable)]
pub struct EventSeen {
    /// When.
    pub occurred_at: NaiveDateTime,
    /// What (`login.succeeded`…).
    pub kind: String,
    /// Which e-service.
    pub client_id: Option<String>,
    /// From which client address.
    pub remote_addr: Option<String>,
    /// More, as JSON text.
    pub detail: Option<String>,
}

/// The audit events of `tenant` whose user is `user_id`, in the order they were written. An
/// event names one user (`user_id`) or none; events of other users and of no user are not read.
pub fn events(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
) -> Result<Vec<EventSeen>> {
    Ok(audit_events::table
        .filter(audit_events::tenant_id.eq(tenant.id()))
        .filter(audit_events::user_id.eq(user_id))
        .order(audit_events::id.asc())
        .select((
            audit_events::occurred_at,
            audit_events::kind,
            audit_events::client_id,
            audit_events::remote_addr,
            audit_events::detail,
        ))
        .load(conn)?)
}

/// A mail in the outbox, without its text (which carries its link).
#[derive(Debug, Clone, Queryable)]
pub struct MailSeen {
    /// What mail (`reset_password`…).
    pub kind: String,
    /// Written.
    pub created_at: NaiveDateTime,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Handed to the transport.
    pub sent_at: Option<NaiveDateTime>,
}

/// The mails of `tenant` to the address `to` (as stored), the oldest first.
pub fn mails(conn: &mut DbConnection, tenant: Tenant<'_>, to: &str) -> Result<Vec<MailSeen>> {
    Ok(mail_outbox::table
        .filter(mail_outbox::tenant_id.eq(tenant.id()))
        .filter(mail_outbox::to_address.eq(to))
        .order((mail_outbox::created_at.asc(), mail_outbox::id.asc()))
        .select((
            mail_outbox::kind,
            mail_outbox::created_at,
            mail_outbox::status,
            mail_outbox::sent_at,
        ))
        .load(conn)?)
}
