//! The second factor of a half-done login: what its page offers, and a one-time code or a
//! recovery code checked for it.
//!
//! A check is counted before it runs (`store::throttle::reserve`, with the password checks'
//! allowance) against a counter of the user's second factor of its own
//! ([`ThrottleKey::SecondFactor`]) and the client address: after five wrong answers the codes are
//! blocked for 30 seconds, doubling with each further one up to 15 minutes. Not the password's
//! counter: a correct password clears that one, and the password is what an attacker guessing
//! codes already has. Only a second factor that succeeds (a right code here, or a passkey as the
//! second factor, [`proved`]) clears the counter. A code is accepted once: the step it matched
//! must be later than the last step accepted for the user (`second_factors::accept_step`), which
//! refuses a replay and a code older than one already used: such a code is "used already" on the
//! page (the resident's other tab took it, or it was typed twice), not counted as a wrong answer. A recovery code is used once; it is
//! looked up by its HMAC under a key from the key-encryption key, then by the plain SHA-256 that
//! rows stored before the HMAC hold (until they are used, or replaced by new codes).

use crate::crypto::kek::Kek;
use crate::crypto::totp::{TotpSecret, recovery_code_mac, unkeyed_recovery_code_hash};
use crate::flows::context::Minter;
use crate::flows::notice::{self, Change, Tell};
use crate::flows::oidc::error::{OAuthError, committed};
use crate::flows::oidc::standing::hold;
use crate::flows::oidc::steps::{Factors, HalfLogin, Next, after_second_factor, half_login};
use crate::flows::password_check::ALLOWANCE;
use crate::store::throttle::{self, ThrottleKey};
use crate::store::users::UserRow;
use crate::store::{self, DbConnection, StoreError, Tenant, second_factors};
use crate::telemetry::metrics::LoginOutcome;

use super::enrol::may_enrol;

/// What the second factor's page of a half-done login offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    /// The user has a one-time code.
    pub totp: bool,
    /// How many passkeys the user has.
    pub passkeys: usize,
    /// How many unused recovery codes the user has.
    pub recovery_codes: i64,
    /// The user has no second factor and must enrol one now.
    pub enrol: bool,
    /// The tenant's users can use passkeys here (`Minter::passkeys_on`).
    pub passkeys_on: bool,
}

/// The answer typed on the page.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A code of the authenticator app.
    Code(String),
    /// A recovery code.
    Recovery(String),
}

/// What a check came to.
#[derive(Debug)]
pub enum Verified {
    /// Right: the login goes on (the session started, or the stepped-up session raised).
    Done(Next),
    /// Wrong (counted).
    Wrong,
    /// A right code of the authenticator app, of a time step accepted before: used already,
    /// often in another tab of the same login, or typed twice. Not counted as a wrong answer
    /// (it proves the app), but not accepted either (a replay); audited as a failure.
    Used,
    /// Too many wrong answers: not checked.
    Throttled {
        /// Seconds until the block ends.
        retry_after: i64,
    },
    /// No such half-done login of this browser.
    Expired,
}

/// What the second factor's page of the half-done login `request_id` of this browser offers;
/// `None` when there is no such login.
pub fn asked(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request_id: &str,
    binding: Option<&str>,
) -> Result<Option<Asked>, OAuthError> {
    let Some(half) = half_login(m, conn, request_id, binding)? else {
        return Ok(None);
    };
    let tenant = Tenant::of(m.tenant);
    let factors = Factors::of(m, conn, &half.user.id)?;
    Ok(Some(Asked {
        totp: factors.totp,
        passkeys: factors.passkeys,
        recovery_codes: second_factors::unused_recovery_codes(conn, tenant, &half.user.id)?,
        enrol: may_enrol(m, factors, &half),
        passkeys_on: m.passkeys_on(),
    }))
}

/// The throttle's counters of a check of `user`'s second factor from this request's address.
fn keys(m: &Minter<'_>, user: &UserRow) -> Vec<ThrottleKey> {
    let mut keys = vec![ThrottleKey::SecondFactor(user.id.clone())];
    if let Some(address) = &m.remote_addr {
        keys.push(ThrottleKey::Address(address.clone()));
    }
    keys
}

/// Checks `answer` for the half-done login `request_id` of the browser with the binding secret
/// `binding` (and the session cookie `session_cookie`, for a step-up): throttled, audited, and on
/// success the login goes on with the first factor's proof and `otp`.
pub fn verify(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    (kek, tell): (&Kek, &Tell),
    (request_id, binding): (&str, &str),
    session_cookie: Option<&str>,
    answer: &Answer,
) -> Result<Verified, OAuthError> {
    let tenant = Tenant::of(m.tenant);
    let Some(half) = half_login(m, conn, request_id, Some(binding))? else {
        return Ok(Verified::Expired);
    };
    let keys = keys(m, &half.user);
    // Counted, and a refusal that is the first of its block audited, in one transaction: a block
    // marked as audited without its event would leave every refusal of it unaudited.
    let reserved = store::write_transaction(conn, |conn| {
        let reserved = throttle::reserve(conn, tenant, &keys, ALLOWANCE, m.now)?;
        if let Err(blocked) = &reserved {
            let client = half.pending.request.client_id.as_str();
            let event = m.audit("login.throttled").user(half.user.id.as_str());
            if let Some(event) = blocked.audit(event.client(client)) {
                event.record(conn)?;
            }
        }
        Ok::<_, StoreError>(reserved)
    })?;
    if let Err(blocked) = reserved {
        m.count_login(LoginOutcome::Throttled);
        return Ok(Verified::Throttled {
            retry_after: (blocked.until - m.now).num_seconds().max(1),
        });
    }
    committed(conn, |conn| {
        // Held before the code is used, as a recovery holds it before it removes the codes
        // (`oidc/standing.rs`); gone or disabled meanwhile: the login is gone.
        // Read again with the row held: a second post of this login (a double click, on
        // PostgreSQL waiting for the row) finds it gone, spends no code and counts no failure
        // (the check it reserved is given back: it never ran).
        let half = match hold(conn, tenant, &half.user.id)? {
            Some(_) => half_login(m, conn, request_id, Some(binding))?,
            None => None,
        };
        // A step-up raises a session: ended meanwhile (a logout in another tab, its time over),
        // the login is gone before a code is spent (nor a recovery code told to the owner).
        let half = match half {
            Some(half) if !half.raised_session_gone(m, conn, session_cookie)? => Some(half),
            _ => None,
        };
        let Some(half) = half else {
            throttle::give_back(conn, tenant, &keys, ALLOWANCE, m.now, false)?;
            return Ok(Verified::Expired);
        };
        let outcome = answered(m, conn, (kek, tell), &half, answer)?;
        if outcome != Outcome::Right {
            let method = match answer {
                Answer::Code(_) => "otp",
                Answer::Recovery(_) => "recovery_code",
            };
            let used = outcome == Outcome::Used;
            let detail = if used {
                serde_json::json!({ "method": method, "used": true })
            } else {
                serde_json::json!({ "method": method })
            };
            m.audit("login.second_factor_failed")
                .user(half.user.id.as_str())
                .client(half.pending.request.client_id.as_str())
                .detail(&detail)
                .record(conn)?;
            m.count_login(LoginOutcome::SecondFactorFailed);
            if used {
                throttle::give_back(conn, tenant, &keys, ALLOWANCE, m.now, false)?;
                return Ok(Verified::Used);
            }
            return Ok(Verified::Wrong);
        }
        throttle::give_back(conn, tenant, &keys, ALLOWANCE, m.now, true)?;
        let proof = half.proof.clone().with_code();
        match after_second_factor(m, conn, half, proof, session_cookie, binding)? {
            Some(next) => Ok(Verified::Done(next)),
            None => Ok(Verified::Expired),
        }
    })
}

/// A second factor of `user` succeeded (a code, a recovery code, a passkey as the second factor):
/// the count of wrong codes is cleared.
pub fn proved(m: &Minter<'_>, conn: &mut DbConnection, user: &UserRow) -> Result<(), StoreError> {
    let key = [ThrottleKey::SecondFactor(user.id.clone())];
    throttle::give_back(conn, Tenant::of(m.tenant), &key, ALLOWANCE, m.now, true)
}

/// What an answer came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Right, and now used up.
    Right,
    /// Not a code of the user's now.
    Wrong,
    /// A code of the app, of a time step accepted before.
    Used,
}

/// Whether `answer` is right for `half`'s user, and then used up: a code's step accepted, a
/// recovery code spent (audited with how many are left, and the owner told: a recovery code is
/// used when the phone is lost, or by someone else).
fn answered(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    (kek, tell): (&Kek, &Tell),
    half: &HalfLogin,
    answer: &Answer,
) -> Result<Outcome, OAuthError> {
    let tenant = Tenant::of(m.tenant);
    let user = &half.user;
    match answer {
        Answer::Code(code) => {
            let Some(row) = second_factors::totp(conn, tenant, &user.id)? else {
                return Ok(Outcome::Wrong);
            };
            let secret = TotpSecret::open(kek, &m.tenant.id, &user.id, &row.secret)
                .map_err(OAuthError::server)?;
            Ok(match secret.check(code, m.now) {
                Some(step) if second_factors::accept_step(conn, tenant, &user.id, step)? => {
                    Outcome::Right
                }
                Some(_) => Outcome::Used,
                None => Outcome::Wrong,
            })
        }
        Answer::Recovery(code) => {
            let mac =
                recovery_code_mac(kek, &m.tenant.id, &user.id, code).map_err(OAuthError::server)?;
            let used = second_factors::use_recovery_code(conn, tenant, &user.id, &mac, m.now)?
                || second_factors::use_recovery_code(
                    conn,
                    tenant,
                    &user.id,
                    &unkeyed_recovery_code_hash(&user.id, code),
                    m.now,
                )?;
            if !used {
                return Ok(Outcome::Wrong);
            }
            let left = second_factors::unused_recovery_codes(conn, tenant, &user.id)?;
            m.audit("second_factor.recovery_code_used")
                .user(user.id.as_str())
                .detail(&serde_json::json!({ "left": left }))
                .record(conn)?;
            let change = (&half.user, Change::RecoveryCodeUsed);
            notice::account_changed(m, conn, &tell.mails, change, tell.language)?;
            Ok(Outcome::Right)
        }
    }
}
