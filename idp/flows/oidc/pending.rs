//! A request waiting for the resident: stored with the browser's binding (its flow cookie's hash)
//! while the resident logs in or consents, found again by its id, and the language its pages are
//! shown in; and the login of the account page, a request of its own pseudo-client.
//!
//! Anyone can make a request wait for its login, without logging in: each is a row of up to 21 KB
//! for `tokens.authorization_request_seconds`. So such a request keeps its client address's key
//! (`Minter::client_key`: a hash, an IPv6 address per /64) and is stored only while the address
//! has fewer than `[limits] waiting_requests_per_address` (100) requests not yet expired, in every
//! tenant together ([`store_within`]); a public client's push counts against the same limit
//! (`par.rs`). So is a fresh request of a signed-in resident that waits (the consent, a
//! step-up: [`Waiting::Fresh`]): anyone can register, and then repeat it. A login that goes on
//! from one step to the next deletes its request and stores the next with the address's key, so
//! it keeps its one place until it ends, and is never refused half way ([`Waiting::GoesOn`]); an
//! expired request counts no more. A refusal stores nothing and is counted in the metrics
//! (`idp_waiting_requests_refused_total`), never audited: an event per refusal would be a flood
//! of its own.
//!
//! Only a request the browser opened as a page waits for a login: an image, a frame or a script's
//! fetch of `/authorize` or of the account page is the page [`NOT_A_PAGE`] and stores nothing
//! (`http::util::top_level_navigation`), or any web page could fill its visitors' address's
//! places with hidden images.

use serde::{Deserialize, Serialize};

use super::error::{ErrorCode, OAuthError};
use super::request::{AuthorizationRequest, ResponseMode};
use crate::config::Language;
use crate::crypto::secret;
use crate::flows::context::Minter;
use crate::store::auth_requests::{self, AuthRequestRow};
use crate::store::{DbConnection, Tenant};
use crate::telemetry::metrics::Counted;

/// A request waiting for the resident, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    /// The request.
    pub request: AuthorizationRequest,
    /// SHA-256 of the browser-binding secret.
    pub binding_hash: String,
    /// What the resident does next; each page takes only a request at its own step.
    #[serde(default)]
    pub step: Step,
}

/// Where a pending request is: which page may take it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// The resident logs in (the login pages, a mailed link).
    #[default]
    Login,
    /// The first factor is proved (the row's user); a second factor comes next, or its enrolment.
    /// No session exists yet unless `session_id` names the one being stepped up.
    SecondFactor {
        /// What the first factor proved, as stored (`Proof::stored`).
        amr: String,
        /// Whether the session to start is persistent.
        remember: bool,
        /// The session a step-up raises; none when the login starts one.
        session_id: Option<String>,
    },
    /// Signed in (the row's user); idp offers to add a passkey before going on.
    OfferPasskey,
    /// Signed in (the row's user); the resident consents or declines.
    Consent,
    /// Answered by a login of the row's user, which went on in the row's session (none when it
    /// went on to a second factor). Kept, uncounted, for [`ANSWERED_SECONDS`], so that the same
    /// form posted again before the first answer reached the browser (a double click) goes on as
    /// the first did instead of saying "expired" (`steps::take`).
    Answered,
}

/// How long a request answered by a login is kept at [`Step::Answered`], seconds: long enough for
/// a second click whose request left before the first answer arrived, on a slow line.
pub const ANSWERED_SECONDS: i64 = 300;

/// The pseudo-client of logins that lead to the account page (not a configurable id: it starts
/// with an underscore, which client ids may contain but the demo never uses).
pub const ACCOUNT_CLIENT: &str = "_account";

/// When a client whose request was refused past the limit may try again (`Retry-After`,
/// seconds): a place frees only when a waiting request expires or its login goes on.
pub const TOO_MANY_WAITING_RETRY_SECONDS: i64 = 60;

/// The reason of the page (400) that answers a login which the browser did not open as a page
/// of its own (an image, a frame, a script's fetch: `http::util::top_level_navigation`): such a
/// request stores nothing.
pub const NOT_A_PAGE: &str = "not_a_page";

/// The description of `temporarily_unavailable` when a client address has too many requests
/// waiting already.
pub const TOO_MANY_WAITING: &str =
    "too many authorization requests from this address are waiting for a login; try again later";

/// Stores a login that returns to the account page; returns the request's id, or `None` when its
/// client address has too many requests waiting already ([`store_anonymous`]).
pub fn account_login(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    binding: &str,
) -> Result<Option<String>, OAuthError> {
    store_anonymous(m, conn, &account_request(m), binding)
}

/// A request of the account page's pseudo-client: back to the account page, no code.
pub(super) fn account_request(m: &Minter<'_>) -> AuthorizationRequest {
    AuthorizationRequest {
        client_id: ACCOUNT_CLIENT.into(),
        redirect_uri: format!("{}/account", m.issuer),
        response_mode: ResponseMode::Query,
        scope: vec!["openid".into()],
        state: None,
        nonce: None,
        code_challenge: None,
        prompt_none: false,
        prompt_login: false,
        prompt_consent: false,
        max_age: None,
        login_hint: None,
        ui_locales: None,
        id_token_hint: None,
        lang: None,
        acr_values: Vec::new(),
        acr_essential: false,
        hinted_subject: None,
    }
}

/// Stores `request` waiting for its login, before anyone has logged in, for the browser whose
/// binding secret is `binding`; returns its id, or `None` when the request's client address has
/// `[limits] waiting_requests_per_address` requests waiting already: then nothing is stored
/// ([`store_within`]).
pub(super) fn store_anonymous(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request: &AuthorizationRequest,
    binding: &str,
) -> Result<Option<String>, OAuthError> {
    let row = pending_row(m, request, None, binding, Step::Login)?;
    Ok(store_within(m, conn, &row)?.then_some(row.id))
}

/// Stores `row` unless its `client_key` (an address's) has `[limits] waiting_requests_per_address`
/// requests not yet expired, of any tenant; returns whether it stored it. A refusal is counted in
/// the metrics (`idp_waiting_requests_refused_total`), not audited. A row without a client key is
/// stored uncounted.
pub(super) fn store_within(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    row: &AuthRequestRow,
) -> Result<bool, OAuthError> {
    let limit = m.config.settings.limits.waiting_requests_per_address;
    store_counted(m, conn, row, limit)
}

/// Stores `row` unless its `client_key` has `limit` requests waiting already; a refusal is
/// counted in the metrics. Whether it stored it.
pub(super) fn store_counted(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    row: &AuthRequestRow,
    limit: u64,
) -> Result<bool, OAuthError> {
    let max = i64::try_from(limit).unwrap_or(i64::MAX);
    let stored = auth_requests::insert_within(conn, row, max, m.now)?;
    if !stored {
        m.tally.note(Counted::WaitingRefused);
    }
    Ok(stored)
}

/// The protocol's answer to a request refused by [`store_within`]: `temporarily_unavailable`
/// (RFC 6749 §4.1.2.1).
pub(super) fn too_many_waiting() -> OAuthError {
    OAuthError::new(ErrorCode::TemporarilyUnavailable, TOO_MANY_WAITING)
}

/// How a request of a signed-in resident (or one whose first factor is proved) comes to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// A fresh request (`/authorize` met by a session: consent, a step-up; the account page's
    /// step-up): anyone who has registered can repeat it, so it is counted against its client
    /// address's limit as an anonymous one is, and refused past it ([`store_within`]).
    Fresh,
    /// A login that goes on from one step to the next (the second factor after the password, the
    /// consent after the login): its request was stored within the limit when it began and is
    /// deleted as the next is stored, so the next keeps its place (it is counted, with the
    /// address of now) and is never refused: a login is not stopped half way.
    GoesOn,
}

/// Stores `request` at `step` for the browser whose binding secret is `binding` and the user
/// `user_id`, whose first factor is proved; returns its id, or `None` when a [`Waiting::Fresh`]
/// request's client address has `[limits] waiting_requests_per_address` requests waiting
/// already: then nothing is stored. A [`Waiting::GoesOn`] request is always stored.
pub(super) fn store_pending(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request: &AuthorizationRequest,
    user_id: &str,
    binding: &str,
    step: Step,
    waiting: Waiting,
) -> Result<Option<String>, OAuthError> {
    let row = pending_row(m, request, Some(user_id), binding, step)?;
    if waiting == Waiting::GoesOn {
        auth_requests::insert(conn, &row)?;
        return Ok(Some(row.id));
    }
    Ok(store_within(m, conn, &row)?.then_some(row.id))
}

/// The row of `request` at `step` for the browser whose binding secret is `binding` (and
/// `user_id`), with a new id and the key of the request's client address
/// (`Minter::client_key`), which counts it.
fn pending_row(
    m: &Minter<'_>,
    request: &AuthorizationRequest,
    user_id: Option<&str>,
    binding: &str,
    step: Step,
) -> Result<AuthRequestRow, OAuthError> {
    let pending = Pending {
        request: request.clone(),
        binding_hash: secret::hash(binding),
        step,
    };
    Ok(AuthRequestRow {
        id: secret::random_token(),
        tenant_id: m.tenant.id.clone(),
        client_id: request.client_id.clone(),
        params: serde_json::to_string(&pending).map_err(OAuthError::server)?,
        request_uri_hash: None,
        user_id: user_id.map(str::to_string),
        session_id: None,
        created_at: m.now,
        expires_at: m.after(m.config.settings.tokens.authorization_request_seconds),
        client_key: m.client_key(),
    })
}

/// Keeps the request of `row`, just answered by a login of `user_id` that went on in the session
/// `session_id`, at [`Step::Answered`] under its id for [`ANSWERED_SECONDS`] (never past its own
/// expiry), bound to the same browser and counted against no address; in the caller's
/// transaction, after the row was deleted.
pub(super) fn keep_answered(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    row: &AuthRequestRow,
    pending: &Pending,
    user_id: &str,
    session_id: Option<&str>,
) -> Result<(), OAuthError> {
    let answered = Pending {
        request: pending.request.clone(),
        binding_hash: pending.binding_hash.clone(),
        step: Step::Answered,
    };
    let kept = AuthRequestRow {
        id: row.id.clone(),
        tenant_id: row.tenant_id.clone(),
        client_id: row.client_id.clone(),
        params: serde_json::to_string(&answered).map_err(OAuthError::server)?,
        request_uri_hash: None,
        user_id: Some(user_id.to_string()),
        session_id: session_id.map(str::to_string),
        created_at: row.created_at,
        expires_at: row
            .expires_at
            .min(m.now + chrono::Duration::seconds(ANSWERED_SECONDS)),
        client_key: None,
    };
    Ok(auth_requests::insert(conn, &kept)?)
}

/// The stored request `id` at `step`, if this browser (by its binding secret) started it.
pub fn pending_at(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    id: &str,
    binding: Option<&str>,
    step: impl Fn(&Step) -> bool,
) -> Result<Option<(AuthRequestRow, Pending)>, OAuthError> {
    Ok(pending(m, conn, id, binding)?.filter(|(_, pending)| step(&pending.step)))
}

/// The stored request `id`, if this browser (by its binding secret) started it, at whatever
/// step.
pub fn pending(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    id: &str,
    binding: Option<&str>,
) -> Result<Option<(AuthRequestRow, Pending)>, OAuthError> {
    let Some(row) = auth_requests::find(conn, Tenant::of(m.tenant), id, m.now)? else {
        return Ok(None);
    };
    let Ok(pending) = serde_json::from_str::<Pending>(&row.params) else {
        return Ok(None);
    };
    let bound =
        binding.is_some_and(|b| secret::constant_time_eq(&secret::hash(b), &pending.binding_hash));
    Ok(bound.then_some((row, pending)))
}

/// The language of the login for the stored request `id`, if it is pending and has one. Not
/// bound to the browser: a mailed link opened elsewhere shows its pages in the login's language.
pub fn language(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    id: &str,
) -> Result<Option<Language>, OAuthError> {
    let Some(row) = auth_requests::find(conn, Tenant::of(m.tenant), id, m.now)? else {
        return Ok(None);
    };
    Ok(serde_json::from_str::<Pending>(&row.params)
        .ok()
        .and_then(|pending| pending.request.lang))
}

/// The language of the login a mailed link (by its token) was sent from, if any.
pub fn language_of_link(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<Language>, OAuthError> {
    let tenant = crate::store::Tenant::of(m.tenant);
    match crate::store::links::auth_request_of(conn, tenant, &secret::hash(token), m.now)? {
        Some(id) => language(m, conn, &id),
        None => Ok(None),
    }
}

/// Changes the language of the login for the stored request `id` (the resident chose it with the
/// selector), if this browser started it; returns whether it did.
pub fn set_language(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    id: &str,
    binding: Option<&str>,
    lang: Language,
) -> Result<bool, OAuthError> {
    let Some((row, mut pending)) = pending(m, conn, id, binding)? else {
        return Ok(false);
    };
    pending.request.lang = Some(lang);
    let params = serde_json::to_string(&pending).map_err(OAuthError::server)?;
    crate::store::write_alone(conn, |conn| {
        auth_requests::set_params(conn, crate::store::Tenant::of(m.tenant), &row.id, &params)
    })
    .map_err(OAuthError::from)
}

#[cfg(test)]
mod tests {
    use super::{Pending, Step};

    /// A pending request as stored before `hinted_subject` existed (no migration rewrote the
    /// rows): it still reads, with no hinted subject; one stored with it reads it back.
    #[test]
    fn a_request_stored_before_the_hinted_subject_still_reads() {
        let before = r#"{"request":{"client_id":"rp-basic",
            "redirect_uri":"http://127.0.0.1:9/callback","response_mode":"query",
            "scope":["openid"],"state":"s","nonce":null,"code_challenge":null,
            "prompt_none":false,"prompt_login":true,"prompt_consent":false,"max_age":null,
            "login_hint":null,"ui_locales":null,"id_token_hint":"eyJ.x.y"},
            "binding_hash":"ab","step":{"step":"login"}}"#;
        let pending: Pending = serde_json::from_str(before).expect("an old row reads");
        assert_eq!(pending.request.hinted_subject, None);
        assert_eq!(pending.step, Step::Login);
        let mut request = pending.request;
        request.hinted_subject = Some("sub-1".into());
        let stored = serde_json::to_string(&request).expect("serialises");
        let read: super::AuthorizationRequest = serde_json::from_str(&stored).expect("reads");
        assert_eq!(read.hinted_subject.as_deref(), Some("sub-1"));
    }
}
