//! The enrolment of a one-time code inside a half-done login: when the tenant requires a second
//! factor of its authority users and the user has none, the login enrols one before it ends.
//!
//! 1. [`start_enrolment`]: a new secret, sealed, kept in a ceremony (`totp_enrol`, ten minutes).
//! 2. [`confirm_enrolment`]: a code from it confirms it; the factor is stored, ten recovery
//!    codes are made and the page shows them once. The login does not end yet: a second ceremony
//!    (`totp_enrolled`, bound to the login and the user) waits for "Continue".
//! 3. [`finish_enrolment`]: "Continue" takes that ceremony, and the login ends with the first
//!    factor's proof and `otp`: the session starts then, with its cookie, once.
//!
//! Only a user with no second factor at all may enrol here: a user who has one must give it
//! (else a password alone would replace it).

use chrono::Duration;

use super::codes::{self, Confirmed, Enrolment, new_ceremony};
use crate::config::SecondFactorPolicy;
use crate::crypto::kek::Kek;
use crate::crypto::secret;
use crate::flows::context::Minter;
use crate::flows::notice::Tell;
use crate::flows::oidc::error::{OAuthError, committed};
use crate::flows::oidc::standing::hold;
use crate::flows::oidc::steps::{Factors, HalfLogin, Next, after_second_factor, half_login};
use crate::store::ceremonies;
use crate::store::{DbConnection, Tenant, second_factors};

/// The ceremony between the recovery codes' page and "Continue": the login's id.
pub const ENROLLED: &str = "totp_enrolled";

/// What a confirmation in a login came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginEnrolment {
    /// Enrolled: the recovery codes to show, and the id of the ceremony that "Continue" ends.
    Enrolled {
        /// The recovery codes.
        codes: Vec<String>,
        /// The ceremony's id.
        proceed: String,
    },
    /// The code is wrong: the same enrolment again.
    Wrong(Enrolment),
    /// The enrolment expired while its login waits: a new one, with a new key to scan (the page
    /// says why).
    Restarted(Enrolment),
    /// The user has a second factor now: the login asks for it.
    HasFactor,
    /// No such half-done login of this browser, or no such enrolment.
    Expired,
}

/// Whether the user of the half-done login `half`, with `factors`, must enrol a second factor in
/// it: the tenant requires one of its authority users, the user has none, and the login is one
/// whose password was just typed — never a step-up of a session (`half.session_id`), which may
/// be an old password-only session held by anyone who used the computer: a factor is enrolled
/// only with the password at hand, as on the account page (`steps::step_up` sends such a
/// session to the login instead).
pub fn may_enrol(m: &Minter<'_>, factors: Factors, half: &HalfLogin) -> bool {
    half.session_id.is_none()
        && half.user.is_authority
        && m.tenant.authority_second_factor == SecondFactorPolicy::Required
        && !factors.any()
}

/// The half-done login `request_id` of this browser, when its user must enrol now.
fn enrolling(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request_id: &str,
    binding: &str,
) -> Result<Option<HalfLogin>, OAuthError> {
    let Some(half) = half_login(m, conn, request_id, Some(binding))? else {
        return Ok(None);
    };
    let factors = Factors::of(m, conn, &half.user.id)?;
    Ok(may_enrol(m, factors, &half).then_some(half))
}

/// Starts the enrolment for the half-done login `request_id` of this browser; `None` when there
/// is no such login or its user may not enrol here.
pub fn start_enrolment(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    kek: &Kek,
    request_id: &str,
    binding: &str,
) -> Result<Option<Enrolment>, OAuthError> {
    committed(conn, |conn| {
        let Some(half) = enrolling(m, conn, request_id, binding)? else {
            return Ok(None);
        };
        Ok(Some(codes::start(m, conn, kek, &half.user)?))
    })
}

/// Confirms the enrolment `ceremony` of the half-done login `request_id` with `code`.
pub fn confirm_enrolment(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    keys: (&Kek, &Tell),
    (request_id, binding): (&str, &str),
    ceremony: &str,
    code: &str,
) -> Result<LoginEnrolment, OAuthError> {
    committed(conn, |conn| {
        let Some(half) = half_login(m, conn, request_id, Some(binding))? else {
            return Ok(LoginEnrolment::Expired);
        };
        // The user's row held before the factor is written, as a recovery holds it first
        // (`oidc/standing.rs`), and the half-done login read again: a recovery under way is
        // waited for, and the login it ended finds nothing to enrol; one that comes after sees
        // the factor.
        let tenant = Tenant::of(m.tenant);
        if hold(conn, tenant, &half.user.id)?.is_none()
            || half_login(m, conn, request_id, Some(binding))?.is_none()
        {
            return Ok(LoginEnrolment::Expired);
        }
        let factors = Factors::of(m, conn, &half.user.id)?;
        if !may_enrol(m, factors, &half) {
            return Ok(if factors.any() {
                LoginEnrolment::HasFactor
            } else {
                LoginEnrolment::Expired
            });
        }
        Ok(
            match codes::confirm(m, conn, keys, &half.user, ceremony, code)? {
                Confirmed::Enrolled(codes) => {
                    let state = (ENROLLED, request_id.to_string());
                    let until = half.row.expires_at.max(m.now + Duration::minutes(1));
                    let proceed = new_ceremony(m, conn, &half.user, state, until)?;
                    LoginEnrolment::Enrolled { codes, proceed }
                }
                Confirmed::Wrong(enrolment) => LoginEnrolment::Wrong(enrolment),
                // The login still waits: a new enrolment rather than the whole login again.
                Confirmed::Gone => {
                    LoginEnrolment::Restarted(codes::start(m, conn, keys.0, &half.user)?)
                }
            },
        )
    })
}

/// "Continue" after the recovery codes: the ceremony `proceed` of the half-done login
/// `request_id` of this browser is taken, and the login ends with `otp` (the enrolment's code).
/// `None` when either is gone or they do not belong together.
pub fn finish_enrolment(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    (request_id, binding): (&str, &str),
    proceed: &str,
    session_cookie: Option<&str>,
) -> Result<Option<Next>, OAuthError> {
    committed(conn, |conn| {
        let tenant = Tenant::of(m.tenant);
        let Some(half) = half_login(m, conn, request_id, Some(binding))? else {
            return Ok(None);
        };
        // The user's row first, before the ceremony is used up: a recovery takes them in this
        // order too (`oidc/standing.rs`).
        if hold(conn, tenant, &half.user.id)?.is_none() {
            return Ok(None);
        }
        let taken = ceremonies::take(conn, tenant, ENROLLED, &secret::hash(proceed), m.now)?;
        let belongs = taken.is_some_and(|row| {
            row.user_id.as_deref() == Some(half.user.id.as_str()) && row.state == request_id
        });
        if !belongs || second_factors::totp(conn, tenant, &half.user.id)?.is_none() {
            return Ok(None);
        }
        let proof = half.proof.clone().with_code();
        after_second_factor(m, conn, half, proof, session_cookie, binding)
    })
}
