//! The one way a login ends: after the first factor (a password, a mailed link, a passkey) every
//! path comes here, and here alone a session starts.
//!
//! 1. [`after_first_factor`]: when a second factor is due — the tenant requires one of its
//!    authority users, an authority user has one, or the e-service asked for a stronger `acr` and
//!    the user has a factor to give it — no session starts: the pending request moves to
//!    [`Step::SecondFactor`] and the browser goes to the second factor's page (or its enrolment).
//!    Otherwise a session starts, idp may offer to add a passkey ([`Step::OfferPasskey`]), and
//!    the login goes on ([`proceed`]: consent or the code).
//! 2. [`after_second_factor`]: the second factor proved, the session starts (or the session
//!    being stepped up is raised) and the login goes on.
//! 3. [`after_offer`]: the resident added a passkey or said "not now"; the login goes on.
//!
//! A login in a browser that already has a live session ([`start`]) does not leave it running
//! beside a new one: the same user's session is renewed in place (its `sid` and grants stay, so
//! one logout ends them all), another user's is ended as a logout ends it before the new one
//! starts.
//!
//! A step-up of a live session ([`step_up`]) is a pending request at [`Step::SecondFactor`]
//! naming that session.
//!
//! Both ends hold the user's row ([`hold`]) before they write anything of the user's, and the
//! offer's answer holds it as it reads the browser's session ([`session::held`]), so that a
//! recovery committing meanwhile is either seen through or (on PostgreSQL) waited for
//! (`standing.rs`).

use super::decide::proceed;
use super::error::{ErrorCode, OAuthError};
use super::logout::end_session_now;
use super::outcome::{Outcome, refuse};
use super::pending::Waiting::{self, Fresh, GoesOn};
use super::pending::{
    Pending, Step, TOO_MANY_WAITING, account_request, keep_answered, pending_at, store_pending,
};
use super::proof::{Proof, meets};
use super::request::AuthorizationRequest;
use super::session;
use super::standing::hold;
use crate::config::SecondFactorPolicy;
use crate::crypto::secret;
use crate::flows::context::Minter;
use crate::store::auth_requests::AuthRequestRow;
use crate::store::sessions::SessionRow;
use crate::store::users::{self, UserRow};
use crate::store::{DbConnection, Tenant, auth_requests, passkeys, second_factors, sessions};

/// A session cookie to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The cookie's value.
    pub value: String,
    /// Whether the cookie is persistent ("remember me").
    pub remember: bool,
}

/// Where a login goes next, and the session cookie to set on the way when one started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Next {
    /// The new session, if one started.
    pub session: Option<NewSession>,
    /// The page or the answer to the client.
    pub outcome: Outcome,
}

/// What a user has as a second factor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Factors {
    /// A one-time-code factor.
    pub totp: bool,
    /// How many passkeys.
    pub passkeys: usize,
}

impl Factors {
    /// The factors a user of the tenant can give now: passkeys count only where they work (the
    /// tenant allows them and the public URL names a host), so that a city turning passkeys off
    /// does not leave a user asked for one it cannot give.
    pub fn of(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        user_id: &str,
    ) -> Result<Factors, OAuthError> {
        let tenant = Tenant::of(m.tenant);
        let passkeys = if m.passkeys_on() {
            passkeys::of_user(conn, tenant, user_id)?.len()
        } else {
            0
        };
        Ok(Factors {
            totp: second_factors::totp(conn, tenant, user_id)?.is_some(),
            passkeys,
        })
    }

    /// Whether there is any.
    pub fn any(self) -> bool {
        self.totp || self.passkeys > 0
    }
}

/// Whether a login of `user` that proved `proof` needs a second factor before it ends: `None`
/// when not, else whether the user has one to give (false: enrol one first).
fn second_factor_due(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    proof: &Proof,
    request: &AuthorizationRequest,
) -> Result<Option<bool>, OAuthError> {
    let policy = m.tenant.authority_second_factor;
    let authority = user.is_authority && policy != SecondFactorPolicy::Off;
    // Most logins — a resident's, asking nothing more — need no look-up of the user's factors:
    // SSO at the authorization endpoint stays as cheap as before.
    if proof.is_mfa() || (!authority && meets(proof, &request.acr_values, &m.tenant.acr, false)) {
        return Ok(None);
    }
    let has = Factors::of(m, conn, &user.id)?.any();
    Ok(if authority && policy == SecondFactorPolicy::Required {
        Some(has)
    } else {
        // An authority user under `optional`, or a request asking for more: when there is a
        // factor to give.
        has.then_some(true)
    })
}

/// After the first factor proved `user` for the pending request `row` in the browser with the
/// binding secret `binding` and the session cookie `session_cookie`: the second factor's page, or
/// a session ([`start`]) and the login's next step. The caller's transaction holds it all.
#[expect(
    clippy::too_many_arguments,
    reason = "the one place every login path meets"
)]
pub fn after_first_factor(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    row: &AuthRequestRow,
    pending: Pending,
    user: &UserRow,
    proof: Proof,
    remember: bool,
    binding: &str,
    session_cookie: Option<&str>,
) -> Result<Next, OAuthError> {
    let tenant = Tenant::of(m.tenant);
    let gone = Next {
        session: None,
        outcome: Outcome::Page("expired"),
    };
    // The account disabled meanwhile (a deletion): no login.
    if hold(conn, tenant, &user.id)?.is_none() {
        return Ok(gone);
    }
    let Some(taken) = take(m, conn, row, pending, user, binding, session_cookie)? else {
        // Answered already (or ended): the first factor was right all the same, and is audited
        // as such, never silently.
        m.audit("login.refused")
            .user(user.id.as_str())
            .client(row.client_id.as_str())
            .detail(&serde_json::json!({ "reason": "request_answered" }))
            .record(conn)?;
        return Ok(gone);
    };
    let Taken {
        pending,
        again,
        waiting,
    } = taken;
    if second_factor_due(m, conn, user, &proof, &pending.request)?.is_some() {
        let step = Step::SecondFactor {
            amr: proof.stored(),
            remember,
            session_id: None,
        };
        let stored = store_pending(m, conn, &pending.request, &user.id, binding, step, waiting)?;
        let Some(request_id) = stored else {
            return Ok(gone);
        };
        m.audit("login.first_factor")
            .user(user.id.as_str())
            .client(pending.request.client_id.as_str())
            .detail(&serde_json::json!({ "amr": proof.stored() }))
            .record(conn)?;
        keep_answered(m, conn, row, &pending, &user.id, None)?;
        return Ok(Next {
            session: None,
            outcome: Outcome::SecondFactor { request_id },
        });
    }
    let client = pending.request.client_id.as_str();
    let browser = (client, session_cookie, again);
    let (session, value) = start(m, conn, user, &proof, remember, browser)?;
    keep_answered(m, conn, row, &pending, &user.id, Some(&session.id))?;
    let new_session = Some(NewSession { value, remember });
    if offers_passkey(m, conn, user, &proof)? {
        let step = Step::OfferPasskey;
        let stored = store_pending(m, conn, &pending.request, &user.id, binding, step, waiting)?;
        // A second post past its address's limit goes on without the offer (it is only that).
        if let Some(request_id) = stored {
            passkeys::offered(conn, tenant, &user.id, m.now)?;
            return Ok(Next {
                session: new_session,
                outcome: Outcome::OfferPasskey { request_id },
            });
        }
    }
    let outcome = proceed(m, conn, pending.request, &session, user, binding, waiting)?;
    Ok(Next {
        session: new_session,
        outcome,
    })
}

/// A pending request [`take`]n for a login.
struct Taken {
    /// The request.
    pending: Pending,
    /// The live session a login of the same user started for it, when it was answered already.
    again: Option<SessionRow>,
    /// How its next step waits: a request answered already went on once, so what a second post
    /// stores (a consent, a second factor) is counted as a fresh request is.
    waiting: Waiting,
}

/// Takes the pending request `row` for a login of `user` whose first factor is proved: deletes it
/// (one login answers a request, not two) and returns it. A request a login of the same user
/// answered meanwhile in this browser ([`Step::Answered`]) is taken again, with the session that
/// login started (`again`, which must still be live), while that login's answer has not reached
/// the browser: the browser does not send that session's cookie (the same form posted twice, a
/// double click, the second post leaving before the first answer came back). Any other request is
/// gone (`None`): one of another user, one whose session ended since (a logout, another
/// resident's login in this browser), or one posted again after its answer arrived (Back and
/// resubmit).
fn take(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    row: &AuthRequestRow,
    pending: Pending,
    user: &UserRow,
    binding: &str,
    session_cookie: Option<&str>,
) -> Result<Option<Taken>, OAuthError> {
    let tenant = Tenant::of(m.tenant);
    if pending.step != Step::Answered {
        if auth_requests::delete_as_read(conn, tenant, row)? {
            let waiting = GoesOn;
            return Ok(Some(Taken {
                pending,
                again: None,
                waiting,
            }));
        }
        // Answered meanwhile: read what the first login left.
        let answered = |step: &Step| *step == Step::Answered;
        return match pending_at(m, conn, &row.id, Some(binding), answered)? {
            Some((row, pending)) => take(m, conn, &row, pending, user, binding, session_cookie),
            None => Ok(None),
        };
    }
    if row.user_id.as_deref() != Some(user.id.as_str()) {
        return Ok(None);
    }
    let again = match row.session_id.as_deref() {
        Some(id) => {
            let live = sessions::find(conn, tenant, id)?
                .filter(|s| s.user_id == user.id && s.ended_at.is_none() && s.expires_at > m.now);
            match live {
                Some(session) => Some(session),
                None => return Ok(None),
            }
        }
        None => None,
    };
    let delivered = again.as_ref().is_some_and(|s| {
        session_cookie.is_some_and(|c| secret::constant_time_eq(&secret::hash(c), &s.token_hash))
    });
    if delivered || !auth_requests::delete_as_read(conn, tenant, row)? {
        return Ok(None);
    }
    Ok(Some(Taken {
        pending,
        again,
        waiting: Fresh,
    }))
}

/// The session of a login of `user` proved by `proof` for `client`, audited, in the browser whose
/// session cookie is `session_cookie`. When that browser has a live session of `user` (or the
/// login answers again a request answered in the live session `again`, [`take`]), it is
/// renewed in place (a new cookie value, this login's `amr`, `acr` and `auth_time`, remember and
/// expiry as this login chose): its `sid` and the grants bound to it stay, and one logout ends
/// them all. A live session of another user is ended first, as a logout ends it (its grants that
/// do not outlive it revoked, its relying parties told). Otherwise a new session starts.
fn start(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    proof: &Proof,
    remember: bool,
    (client, session_cookie, again): (&str, Option<&str>, Option<SessionRow>),
) -> Result<(SessionRow, String), OAuthError> {
    let tokens = &m.config.settings.tokens;
    let lifetime = if remember {
        m.tenant.remember_seconds(tokens)
    } else {
        m.tenant.session_seconds(tokens)
    };
    let tenant = Tenant::of(m.tenant);
    let open = match session_cookie.filter(|c| !c.is_empty()) {
        Some(cookie) => sessions::find_live(conn, tenant, &secret::hash(cookie), m.now)?,
        None => None,
    }
    .or(again);
    let renewed = match open {
        Some(open) if open.user_id == user.id => {
            session::renew(m, conn, open, proof, remember, lifetime)?
        }
        Some(other) => {
            end_session_now(m, conn, &other.id)?;
            None
        }
        None => None,
    };
    let started = match renewed {
        Some(renewed) => renewed,
        None => session::start(m, conn, user, proof, remember, lifetime)?,
    };
    m.audit("login.succeeded")
        .user(user.id.as_str())
        .client(client)
        .detail(&serde_json::json!({ "amr": proof.stored() }))
        .record(conn)?;
    // The language of the login's pages is the resident's: the notices to the account's owner
    // are written in it (`notice::owner_language`), whoever causes them. Written only when it
    // changed, so a login runs no statement more.
    if let Some(tag) = m.language.map(|l| l.tag())
        && user.locale.as_deref() != Some(tag)
    {
        users::set_locale(conn, tenant, &user.id, tag)?;
    }
    m.count_login(proof.outcome());
    Ok(started)
}

/// Whether idp offers `user`, just logged in by `proof`, to add a passkey: passkeys are on, the
/// login was by password, the user has none, and was not offered one within the tenant's
/// interval.
fn offers_passkey(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    proof: &Proof,
) -> Result<bool, OAuthError> {
    if !m.passkeys_on() || proof.is_mfa() || user.is_authority {
        return Ok(false);
    }
    let tenant = Tenant::of(m.tenant);
    let days = i64::from(m.tenant.passkeys.offer_again_days);
    let recently = passkeys::offered_at(conn, tenant, &user.id)?
        .is_some_and(|at| m.now - at < chrono::Duration::days(days));
    if recently {
        return Ok(false);
    }
    Ok(passkeys::of_user(conn, tenant, &user.id)?.is_empty())
}

/// A request at [`Step::SecondFactor`] of this browser, with its user and what the first factor
/// proved; `None` when there is none (expired, another browser's, another step).
pub struct HalfLogin {
    /// The pending request's row.
    pub row: AuthRequestRow,
    /// The pending request.
    pub pending: Pending,
    /// The user the first factor proved.
    pub user: UserRow,
    /// What the first factor proved.
    pub proof: Proof,
    /// Whether the session to start is persistent.
    pub remember: bool,
    /// The session a step-up raises.
    pub session_id: Option<String>,
}

/// The half-done login `request_id` of the browser with the binding secret `binding`.
pub fn half_login(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request_id: &str,
    binding: Option<&str>,
) -> Result<Option<HalfLogin>, OAuthError> {
    let at_second = |step: &Step| matches!(step, Step::SecondFactor { .. });
    let Some((row, pending)) = pending_at(m, conn, request_id, binding, at_second)? else {
        return Ok(None);
    };
    let Step::SecondFactor {
        amr,
        remember,
        session_id,
    } = pending.step.clone()
    else {
        return Ok(None);
    };
    let tenant = Tenant::of(m.tenant);
    let user = match row.user_id.as_deref() {
        Some(id) => users::find(conn, tenant, id)?.filter(|u| !u.disabled),
        None => None,
    };
    Ok(user.map(|user| HalfLogin {
        row,
        pending,
        user,
        proof: Proof::parse(&amr),
        remember,
        session_id,
    }))
}

impl HalfLogin {
    /// Whether this is a step-up whose session is no longer the browser's live one of the user
    /// (a logout in another tab, its time over): then the login is gone, and nothing of the
    /// second factor may be spent on it (a recovery code, a passkey's ceremony).
    pub fn raised_session_gone(
        &self,
        m: &Minter<'_>,
        conn: &mut DbConnection,
        session_cookie: Option<&str>,
    ) -> Result<bool, OAuthError> {
        let Some(id) = &self.session_id else {
            return Ok(false);
        };
        let current = session::current(conn, Tenant::of(m.tenant), session_cookie, m.now)?;
        Ok(current.is_none_or(|(s, u)| s.id != *id || u.id != self.user.id))
    }
}

/// The second factor proved `proof` (the first factor's proof with it) for `half`: the session
/// starts ([`start`], in the browser's `session_cookie`), or the session being stepped up is
/// raised (it must be the browser's `session_cookie`), and the login goes on. `None` when the
/// session to raise is no longer this browser's, the half-done login is gone (a recovery ended
/// it), or the account was disabled meanwhile.
pub fn after_second_factor(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    half: HalfLogin,
    proof: Proof,
    session_cookie: Option<&str>,
    binding: &str,
) -> Result<Option<Next>, OAuthError> {
    let tenant = Tenant::of(m.tenant);
    let HalfLogin {
        row,
        pending,
        user,
        remember,
        session_id,
        ..
    } = half;
    if hold(conn, tenant, &user.id)?.is_none() || !auth_requests::delete(conn, tenant, &row.id)? {
        return Ok(None);
    }
    let (session, new_session) = match session_id {
        None => {
            let client = pending.request.client_id.as_str();
            let browser = (client, session_cookie, None);
            let (session, value) = start(m, conn, &user, &proof, remember, browser)?;
            (session, Some(NewSession { value, remember }))
        }
        Some(id) => {
            let current = session::current(conn, tenant, session_cookie, m.now)?;
            let Some((session, _)) = current.filter(|(s, u)| s.id == id && u.id == user.id) else {
                return Ok(None);
            };
            // The raised session gets a new cookie: a copy of the old one (taken before the
            // step-up) stays a password-only login and stops working.
            let acr = proof.acr(&m.tenant.acr);
            let value = secret::random_token();
            let raised = SessionRow {
                token_hash: secret::hash(&value),
                amr: proof.stored(),
                acr: Some(acr.to_string()),
                auth_time: m.now,
                last_seen_at: m.now,
                ..session
            };
            sessions::raise(conn, tenant, &raised)?;
            m.audit("login.stepped_up")
                .user(user.id.as_str())
                .detail(&serde_json::json!({ "amr": proof.stored() }))
                .record(conn)?;
            let remember = raised.remember;
            (raised, Some(NewSession { value, remember }))
        }
    };
    let outcome = proceed(m, conn, pending.request, &session, &user, binding, GoesOn)?;
    Ok(Some(Next {
        session: new_session,
        outcome,
    }))
}

/// The resident answered the offer to add a passkey (added one, or "not now") for the pending
/// request `request_id`: the login goes on, in the caller's write transaction. `None` when the
/// request is not this browser's or the session is not the user's (or ended meanwhile).
pub fn after_offer(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request_id: &str,
    binding: Option<&str>,
    session_cookie: Option<&str>,
) -> Result<Option<Outcome>, OAuthError> {
    let at_offer = |step: &Step| *step == Step::OfferPasskey;
    let Some((row, pending)) = pending_at(m, conn, request_id, binding, at_offer)? else {
        return Ok(None);
    };
    let tenant = Tenant::of(m.tenant);
    // Held and read as at `/authorize` ([`session::held`]): a recovery that ends the session
    // meanwhile leaves no grant behind.
    let Some((session, user)) = session::held(conn, tenant, session_cookie, m.now)? else {
        return Ok(None);
    };
    if row.user_id.as_deref() != Some(user.id.as_str()) {
        return Ok(None);
    }
    if !auth_requests::delete(conn, tenant, &row.id)? {
        return Ok(None);
    }
    let binding = binding.unwrap_or_default();
    Ok(Some(proceed(
        m,
        conn,
        pending.request,
        &session,
        &user,
        binding,
        GoesOn,
    )?))
}

/// What a fresh request met by a live session needs before it goes on ([`step_up`]).
pub enum StepUp {
    /// Nothing: the session is strong enough.
    No,
    /// The second factor's page, or the refusal when the client asked for no pages or its
    /// client address has too many requests waiting already (`pending.rs`).
    Page(Outcome),
    /// A login with the password: the user must enrol a second factor, which a session alone
    /// never does (the session may be an old password-only one of someone else's computer).
    Login,
}

/// A fresh request met by a live `session` of `user`: whether it needs a step-up ([`StepUp`]).
pub fn step_up(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request: &AuthorizationRequest,
    session: &SessionRow,
    user: &UserRow,
    binding: &str,
) -> Result<StepUp, OAuthError> {
    let proof = Proof::parse(&session.amr);
    match second_factor_due(m, conn, user, &proof, request)? {
        None => return Ok(StepUp::No),
        Some(false) => return Ok(StepUp::Login),
        Some(true) => {}
    }
    if request.prompt_none {
        return Ok(StepUp::Page(refuse(
            m,
            request,
            ErrorCode::InteractionRequired,
            "the login needs a second factor",
        )));
    }
    let step = Step::SecondFactor {
        amr: session.amr.clone(),
        remember: session.remember,
        session_id: Some(session.id.clone()),
    };
    let stored = store_pending(m, conn, request, &user.id, binding, step, Fresh)?;
    Ok(StepUp::Page(match stored {
        Some(request_id) => Outcome::SecondFactor { request_id },
        None => refuse(
            m,
            request,
            ErrorCode::TemporarilyUnavailable,
            TOO_MANY_WAITING,
        ),
    }))
}

/// The account page for a live `session` of `user`: `None` when the session may use it — it
/// proved two factors, or the user has no second factor to give — else the id of a step-up to
/// the second factor that returns to the account page, as `pending::account_login` stores it:
/// `Some(None)` when its client address has too many requests waiting already (a fresh request,
/// `Waiting::Fresh`). A password alone never reaches the page where the factors are changed, so
/// it cannot add a passkey (which would then pass as two factors) or replace a one-time code.
pub fn account_step_up(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    session: &SessionRow,
    user: &UserRow,
    binding: &str,
) -> Result<Option<Option<String>>, OAuthError> {
    if Proof::parse(&session.amr).is_mfa() || !Factors::of(m, conn, &user.id)?.any() {
        return Ok(None);
    }
    let step = Step::SecondFactor {
        amr: session.amr.clone(),
        remember: session.remember,
        session_id: Some(session.id.clone()),
    };
    let request = account_request(m);
    let stored = store_pending(m, conn, &request, &user.id, binding, step, Fresh)?;
    Ok(Some(stored))
}
