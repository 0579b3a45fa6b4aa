//! Logging in with a passkey the browser chooses (discoverable credentials: the identifier page's
//! button and the browser's autofill): the options for the pending login of this browser, then the
//! answer identified by its credential id — only among this tenant's passkeys —, checked against
//! the user handle it carries, verified (throttled), and the login ends as every login does
//! (`steps::after_first_factor`) with `Proof::passkey`: a passkey verifies the user, so it is two
//! factors at once.

use chrono::NaiveDateTime;
use webauthn_rs::prelude::{DiscoverableAuthentication, PublicKeyCredential};

use super::ceremony::{self, Owner, Purpose, Refusal, Started};
use super::party::relying_party;
use super::verify::checked;
use crate::crypto::keys::b64;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::oidc::pending::{Step, pending_at};
use crate::flows::oidc::proof::Proof;
use crate::flows::oidc::steps::{Next, after_first_factor};
use crate::store::{self, DbConnection, Tenant, deletions, passkeys, users};

/// What a passkey login led to.
#[derive(Debug)]
pub enum LoggedIn {
    /// The pending login is gone (expired, another browser's, past this step).
    Expired,
    /// The passkey was refused; the identifier page says why.
    Refused(Refusal),
    /// Logged in: the login's next step.
    Done(Next),
    /// The passkey is right, but its account is being deleted: it is erased at this time unless
    /// the link mailed to its address undoes the deletion.
    Deleting(NaiveDateTime),
}

fn at_login(step: &Step) -> bool {
    *step == Step::Login
}

/// The options of a passkey login for the pending login `request_id` of the browser with the
/// flow secret `binding`; `None` when there is no such login or passkeys are off.
pub fn start_login(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request_id: &str,
    binding: &str,
) -> Result<Option<Started>, FlowError> {
    let Some(party) = relying_party(m) else {
        return Ok(None);
    };
    if pending_at(m, conn, request_id, Some(binding), at_login)?.is_none() {
        return Ok(None);
    }
    let (options, state) = party
        .start_discoverable_authentication()
        .map_err(FlowError::server)?;
    let owner = Owner {
        user: None,
        request: Some(request_id),
    };
    Ok(Some(ceremony::begin(
        m,
        conn,
        Purpose::Login,
        owner,
        &state,
        &options,
    )?))
}

/// Finishes a passkey login: the answer `credential` (JSON) to the ceremony `ceremony_id` of the
/// pending login `request_id` of this browser (its binding secret `binding`, its session cookie
/// `session_cookie`), in one transaction.
pub fn finish_login(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    (request_id, binding, session_cookie): (&str, &str, Option<&str>),
    (ceremony_id, credential): (&str, &str),
) -> Result<LoggedIn, FlowError> {
    let Some(party) = relying_party(m) else {
        return Ok(LoggedIn::Refused(Refusal::Off));
    };
    let tenant = Tenant::of(m.tenant);
    store::write_transaction(conn, |conn| {
        let Some((row, pending)) = pending_at(m, conn, request_id, Some(binding), at_login)? else {
            return Ok(LoggedIn::Expired);
        };
        let owner = Owner {
            user: None,
            request: Some(request_id),
        };
        let taken: Option<DiscoverableAuthentication> =
            ceremony::take(m, conn, Purpose::Login, owner, ceremony_id)?;
        let Some(state) = taken else {
            return Ok(LoggedIn::Refused(Refusal::Expired));
        };
        let Ok(answer) = serde_json::from_str::<PublicKeyCredential>(credential) else {
            return Ok(LoggedIn::Refused(Refusal::Failed));
        };
        let Ok((handle, credential_id)) = party.identify_discoverable_authentication(&answer)
        else {
            return Ok(LoggedIn::Refused(Refusal::Failed));
        };
        // Only this tenant's passkeys: one of another city (the same host) is unknown here.
        let Some(key) = passkeys::by_credential(conn, tenant, &b64(credential_id))? else {
            return Ok(LoggedIn::Refused(Refusal::Unknown));
        };
        // Held from here (`oidc/standing.rs`): a recovery that removes the passkey holds it
        // first, so on PostgreSQL it either waits for this login or has removed the key, and the
        // key's use below finds it gone.
        let Some(user) = users::lock(conn, tenant, &key.user_id)? else {
            return Ok(LoggedIn::Refused(Refusal::Failed));
        };
        // A disabled account gets the refusal a wrong key gets; one being deleted says so, but
        // only once the key has proven its owner (below).
        let deleting = match user.disabled {
            false => None,
            true => match deletions::find(conn, tenant, &user.id)? {
                Some(pending) if pending.erased_at.is_none() => Some(pending.erase_at),
                _ => return Ok(LoggedIn::Refused(Refusal::Failed)),
            },
        };
        // The user handle the authenticator keeps must be the key's user (it is not signed; the
        // signature below proves the key).
        let row_of_handle = (handle.to_string() == user.id).then_some(&key);
        let verified = checked(m, conn, &user, row_of_handle, |passkey| {
            party.finish_discoverable_authentication_v2(&answer, state, passkey)
        })?;
        let backup_eligible = match verified {
            Ok(backup_eligible) => backup_eligible,
            Err(refusal) => return Ok(LoggedIn::Refused(refusal)),
        };
        if let Some(erase_at) = deleting {
            m.audit("login.refused")
                .user(user.id.as_str())
                .client(row.client_id.as_str())
                .detail(&serde_json::json!({ "reason": "deletion_pending", "check": "passkey" }))
                .record(conn)?;
            return Ok(LoggedIn::Deleting(erase_at));
        }
        let proof = Proof::passkey(backup_eligible);
        let next = after_first_factor(
            m,
            conn,
            &row,
            pending,
            &user,
            proof,
            false,
            binding,
            session_cookie,
        )?;
        Ok(LoggedIn::Done(next))
    })
}
