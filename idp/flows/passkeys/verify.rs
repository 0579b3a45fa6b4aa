//! Proving a passkey: every check of a browser's answer goes through [`checked`], counted in the
//! same throttle as passwords (`flows::password_check`'s allowance, against the user and the
//! client address) before it runs; a success gives the check back and records the key's new
//! counter and last use. And the account page's confirmation with one of the user's passkeys
//! (before a passkey is removed).

use serde_json::json;
use webauthn_rs::prelude::{
    AuthenticationResult, Passkey, PasskeyAuthentication, PublicKeyCredential, WebauthnError,
    WebauthnResult,
};

use super::ceremony::{self, Owner, Purpose, Refusal, Started};
use super::party::relying_party;
use super::register::stored;
use crate::crypto::keys::b64;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::password_check::ALLOWANCE;
use crate::store::passkeys::{self, PasskeyRow};
use crate::store::throttle::{self, ThrottleKey};
use crate::store::users::UserRow;
use crate::store::{self, DbConnection, Tenant};
use crate::telemetry::metrics::LoginOutcome;

/// Checks `user`'s passkey `row` with `verify` (webauthn-rs's check of the answer), throttled:
/// whether the key is backup eligible (synced), or why it was refused. `None` for `row` (an
/// answer naming none of the user's passkeys) is a failed check.
pub fn checked(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    row: Option<&PasskeyRow>,
    verify: impl FnOnce(&Passkey) -> WebauthnResult<AuthenticationResult>,
) -> Result<Result<bool, Refusal>, FlowError> {
    let tenant = Tenant::of(m.tenant);
    let mut keys = vec![
        ThrottleKey::User(user.id.clone()),
        ThrottleKey::Checks(user.id.clone()),
    ];
    if let Some(address) = &m.remote_addr {
        keys.push(ThrottleKey::Address(address.clone()));
    }
    if let Err(blocked) = throttle::reserve(conn, tenant, &keys, ALLOWANCE, m.now)? {
        let event = m.audit("login.throttled").user(user.id.as_str());
        if let Some(event) = blocked.audit(event) {
            event.record(conn)?;
        }
        m.count_login(LoginOutcome::Throttled);
        let retry_after = (blocked.until - m.now).num_seconds().max(1);
        return Ok(Err(Refusal::Throttled { retry_after }));
    }
    let found = row.and_then(|row| Some((row, stored(row)?)));
    let result = found.as_ref().map(|(_, passkey)| {
        verify(passkey).inspect_err(|e| tracing::info!(error = %e, "a passkey did not verify"))
    });
    let (Some((row, mut passkey)), Some(Ok(result))) = (found, result) else {
        m.audit("login.failed")
            .user(user.id.as_str())
            .detail(&json!({ "check": "passkey" }))
            .record(conn)?;
        m.count_login(LoginOutcome::PasskeyFailed);
        return Ok(Err(Refusal::Failed));
    };
    throttle::give_back(conn, tenant, &keys, ALLOWANCE, m.now, true)?;
    passkey.update_credential(&result);
    let state = serde_json::to_string(&passkey).map_err(FlowError::server)?;
    if !passkeys::used(conn, tenant, &row.id, &state, m.now)? {
        // Removed since it was read (a reset that removed the account's passkeys committed
        // meanwhile, on PostgreSQL): a key that is no longer there proves nothing.
        return Ok(Err(Refusal::Failed));
    }
    Ok(Ok(result.backup_eligible()))
}

/// The passkey of `tenant` that `answer` names, if it is `user`'s.
pub fn named(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    answer: &PublicKeyCredential,
) -> Result<Option<PasskeyRow>, FlowError> {
    let id = b64(answer.get_credential_id());
    Ok(passkeys::by_credential(conn, Tenant::of(m.tenant), &id)?.filter(|p| p.user_id == user.id))
}

/// Starts a ceremony of `purpose` for `user` with the user's own passkeys (in the pending login
/// `request`, if any); `None` when passkeys are off or the user has none.
pub fn start_with_own(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    purpose: Purpose,
    request: Option<&str>,
) -> Result<Option<Started>, FlowError> {
    let Some(party) = relying_party(m) else {
        return Ok(None);
    };
    let own: Vec<Passkey> = passkeys::of_user(conn, Tenant::of(m.tenant), &user.id)?
        .iter()
        .filter_map(stored)
        .collect();
    if own.is_empty() {
        return Ok(None);
    }
    let (options, state) = party
        .start_passkey_authentication(&own)
        .map_err(FlowError::server)?;
    let owner = Owner {
        user: Some(&user.id),
        request,
    };
    Ok(Some(ceremony::begin(
        m, conn, purpose, owner, &state, &options,
    )?))
}

/// Checks the answer `credential` (JSON) to the ceremony `ceremony_id` of `purpose`, begun by
/// [`start_with_own`] for `user`: whether the key is backup eligible, or why it was refused.
pub fn finish_with_own(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    (purpose, request): (Purpose, Option<&str>),
    (ceremony_id, credential): (&str, &str),
) -> Result<Result<bool, Refusal>, FlowError> {
    let Some(party) = relying_party(m) else {
        return Ok(Err(Refusal::Off));
    };
    store::write_transaction(conn, |conn| {
        let owner = Owner {
            user: Some(&user.id),
            request,
        };
        let taken: Option<PasskeyAuthentication> =
            ceremony::take(m, conn, purpose, owner, ceremony_id)?;
        let Some(state) = taken else {
            return Ok(Err(Refusal::Expired));
        };
        let answer = serde_json::from_str::<PublicKeyCredential>(credential).ok();
        let row = match &answer {
            Some(answer) => named(m, conn, user, answer)?,
            None => None,
        };
        // Without an answer there is no row, and `checked` refuses without verifying.
        checked(m, conn, user, row.as_ref(), |_| {
            let answer = answer.as_ref().ok_or(WebauthnError::InvalidUserUniqueId)?;
            party.finish_passkey_authentication(answer, &state)
        })
    })
}

/// Starts the account page's confirmation with one of `user`'s passkeys.
pub fn start_confirm(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
) -> Result<Option<Started>, FlowError> {
    start_with_own(m, conn, user, Purpose::Confirm, None)
}

/// Checks the account page's confirmation with one of `user`'s passkeys.
pub fn finish_confirm(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    ceremony_id: &str,
    credential: &str,
) -> Result<Result<(), Refusal>, FlowError> {
    let answer = (ceremony_id, credential);
    let checked = finish_with_own(m, conn, user, (Purpose::Confirm, None), answer)?;
    Ok(checked.map(|_| ()))
}
