//! A WebAuthn ceremony between its two requests: webauthn-rs's state (with its challenge) kept on
//! the server in `ceremonies`, found by the hash of a random id the page holds, for one purpose,
//! one user (or none, for a login that learns the user from the passkey) and one pending login
//! (or none, on the account page); taken once, within five minutes. A second use of the same
//! answer finds nothing: a replayed assertion is refused.

use chrono::Duration;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::party::CEREMONY_SECONDS;
use crate::crypto::secret;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::store::ceremonies::{self, CeremonyRow, Owned};
use crate::store::{self, DbConnection, Tenant};

/// What a ceremony is for; a state is only taken for its own purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Adding a passkey (the account page, the offer, an enrolment).
    Register,
    /// Logging in with a passkey the browser chooses.
    Login,
    /// Confirming a change on the account page with one of the user's passkeys.
    Confirm,
    /// A passkey as the second factor of a login.
    Second,
}

impl Purpose {
    /// The `purpose` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "passkey_register",
            Purpose::Login => "passkey_login",
            Purpose::Confirm => "passkey_confirm",
            Purpose::Second => "passkey_second",
        }
    }
}

/// Whose ceremony it is: the user (when known before it starts) and the pending login.
#[derive(Debug, Clone, Copy, Default)]
pub struct Owner<'a> {
    /// The user it is for.
    pub user: Option<&'a str>,
    /// The pending login it belongs to.
    pub request: Option<&'a str>,
}

/// A browser's pending login: the request's id, the browser's flow secret, and its session
/// cookie (the offer's session, or the one a step-up raises).
#[derive(Debug, Clone, Copy)]
pub struct InLogin<'a> {
    /// The pending request's id.
    pub request: &'a str,
    /// The browser's flow secret.
    pub binding: &'a str,
    /// The browser's session cookie, if any.
    pub session: Option<&'a str>,
}

/// The state as stored, with the pending login it belongs to.
#[derive(Serialize, Deserialize)]
struct Held<S> {
    request: Option<String>,
    state: S,
}

/// A ceremony begun: the id the page holds and the options for the browser.
#[derive(Debug, Clone, Serialize)]
pub struct Started {
    /// The ceremony's id (random; only its hash is stored).
    pub ceremony: String,
    /// `publicKey` (and `mediation`) for `navigator.credentials`.
    pub options: serde_json::Value,
}

/// The ceremonies of one purpose one pending request (or one user's account page) keeps at most:
/// the newest, the older ones deleted as a new one is stored.
const PER_REQUEST: i64 = 3;

/// Stores `state` for `purpose` and `owner`; the page gets `options` and the ceremony's id.
pub fn begin<S: Serialize>(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    purpose: Purpose,
    owner: Owner<'_>,
    state: &S,
    options: &impl Serialize,
) -> Result<Started, FlowError> {
    let held = Held {
        request: owner.request.map(str::to_string),
        state,
    };
    let id = secret::random_token();
    let row = CeremonyRow {
        id_hash: secret::hash(&id),
        tenant_id: m.tenant.id.clone(),
        user_id: owner.user.map(str::to_string),
        purpose: purpose.as_str().into(),
        state: serde_json::to_string(&held).map_err(FlowError::server)?,
        created_at: m.now,
        expires_at: m.now + Duration::seconds(CEREMONY_SECONDS.cast_signed()),
        auth_request_id: owner.request.map(str::to_string),
    };
    store::write_transaction(conn, |conn| {
        // A login (or an account page) keeps its newest few: a page asks again on each click
        // (and its autofill once), but one anonymous login, or one signed-in user, must not
        // write a row a request.
        let owned = match (owner.request, owner.user) {
            (Some(request), _) => Some(Owned::Request(request)),
            (None, Some(user)) => Some(Owned::User(user)),
            (None, None) => None,
        };
        if let Some(owned) = owned {
            let of = (owned, purpose.as_str());
            ceremonies::trim(conn, Tenant::of(m.tenant), of, PER_REQUEST - 1)?;
        }
        ceremonies::insert(conn, &row)
    })?;
    Ok(Started {
        ceremony: id,
        options: serde_json::to_value(options).map_err(FlowError::server)?,
    })
}

/// Takes (once) the ceremony `id` of `purpose` and `owner`; `None` when there is none, it expired,
/// was taken already, or is another user's or another login's.
pub fn take<S: DeserializeOwned>(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    purpose: Purpose,
    owner: Owner<'_>,
    id: &str,
) -> Result<Option<S>, FlowError> {
    if id.is_empty() {
        return Ok(None);
    }
    let tenant = Tenant::of(m.tenant);
    let hash = secret::hash(id);
    let Some(row) = ceremonies::take(conn, tenant, purpose.as_str(), &hash, m.now)? else {
        return Ok(None);
    };
    if row.user_id.as_deref() != owner.user {
        return Ok(None);
    }
    let Ok(held) = serde_json::from_str::<Held<S>>(&row.state) else {
        return Ok(None);
    };
    Ok((held.request.as_deref() == owner.request).then_some(held.state))
}

/// Why a passkey was not added or not accepted: each is a page's message, never an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Passkeys are off at this tenant.
    Off,
    /// The ceremony is unknown, expired or used (a replayed answer).
    Expired,
    /// The browser's answer did not verify (or was not one).
    Failed,
    /// The passkey is not registered at this tenant (another city's, or removed).
    Unknown,
    /// The passkey is registered already.
    Duplicate,
    /// The account has as many passkeys as it may (`register::MOST_PASSKEYS`).
    TooMany,
    /// Too many failed checks of the account or from the address (as with passwords).
    Throttled {
        /// Seconds until the block ends.
        retry_after: i64,
    },
}

impl Refusal {
    /// The message key of the refusal (`templates/locales/*/passkeys.ftl`).
    pub fn key(self) -> &'static str {
        match self {
            Refusal::Off => "passkey-off",
            Refusal::Expired => "passkey-expired",
            Refusal::Failed => "passkey-failed",
            Refusal::Unknown => "passkey-unknown",
            Refusal::Duplicate => "passkey-duplicate",
            Refusal::TooMany => "passkey-too-many",
            Refusal::Throttled { .. } => "passkey-throttled",
        }
    }
}
