//! A passkey as the second factor of a half-done login (`Step::SecondFactor`: the password
//! proved, a second factor due): the user's own passkeys asked for, the answer verified
//! (throttled like a password), and the login finished by `steps::after_second_factor` with the
//! passkey added to the proof. And the enrolment of a passkey in a half-done login of a user who
//! has no second factor yet (an authority user whose tenant requires one): the passkey added,
//! then the login finished the same way.

use super::ceremony::{InLogin, Purpose, Refusal, Started};
use super::register::{finish_registration, start_registration};
use super::verify::{finish_with_own, start_with_own};
use crate::config::Language;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::oidc::standing::hold;
use crate::flows::oidc::steps::{Factors, HalfLogin, Next, after_second_factor, half_login};
use crate::flows::second_factor::verify::proved;
use crate::mail::Mails;
use crate::store::{self, DbConnection, Tenant};

/// What a second factor by passkey (or its enrolment) led to.
#[derive(Debug)]
pub enum Seconded {
    /// The half-done login is gone (expired, another browser's, the session to raise gone).
    Expired,
    /// The passkey was refused.
    Refused(Refusal),
    /// The login goes on.
    Done(Next),
}

fn half(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    at: InLogin<'_>,
) -> Result<Option<HalfLogin>, FlowError> {
    Ok(half_login(m, conn, at.request, Some(at.binding))?)
}

/// Whether the user of `half` must enrol a second factor in this login (the tenant requires one
/// of its authority users and it has none): the only case it may enrol one here.
fn without_factor(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    half: &HalfLogin,
) -> Result<bool, FlowError> {
    let factors = Factors::of(m, conn, &half.user.id)?;
    Ok(crate::flows::second_factor::enrol::may_enrol(
        m, factors, half,
    ))
}

/// The options of a passkey in the half-done login `at`: one of the user's passkeys as the second
/// factor, or (`enrol`) a new passkey of a user without a second factor. `None` when there is no
/// such login, nothing to ask for (no passkey; a factor already, to enrol), or passkeys are off.
pub fn start_in_half(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    at: InLogin<'_>,
    enrol: bool,
) -> Result<Option<Started>, FlowError> {
    let Some(half) = half(m, conn, at)? else {
        return Ok(None);
    };
    if !enrol {
        return start_with_own(m, conn, &half.user, Purpose::Second, Some(at.request));
    }
    if !without_factor(m, conn, &half)? {
        return Ok(None);
    }
    start_registration(m, conn, &half.user, Some(at.request))
}

/// Finishes the second factor of the half-done login `at` with the answer `credential` (JSON) to
/// the ceremony `ceremony_id`, in one transaction.
pub fn finish_second(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    at: InLogin<'_>,
    answer: (&str, &str),
) -> Result<Seconded, FlowError> {
    store::write_transaction(conn, |conn| {
        let Some(half) = half(m, conn, at)? else {
            return Ok(Seconded::Expired);
        };
        // Held before the passkey is used, as a recovery holds it before it removes passkeys
        // (`oidc/standing.rs`).
        if hold(conn, Tenant::of(m.tenant), &half.user.id)?.is_none() {
            return Ok(Seconded::Expired);
        }
        // A step-up whose session ended meanwhile: gone before the passkey's ceremony is used.
        if half.raised_session_gone(m, conn, at.session)? {
            return Ok(Seconded::Expired);
        }
        let purpose = (Purpose::Second, Some(at.request));
        let backup_eligible = match finish_with_own(m, conn, &half.user, purpose, answer)? {
            Ok(backup_eligible) => backup_eligible,
            Err(refusal) => return Ok(Seconded::Refused(refusal)),
        };
        // A second factor succeeded: the count of wrong one-time codes goes.
        proved(m, conn, &half.user)?;
        let proof = half.proof.clone().with_passkey(backup_eligible);
        finished(m, conn, half, proof, at)
    })
}

fn finished(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    half: HalfLogin,
    proof: crate::flows::oidc::proof::Proof,
    at: InLogin<'_>,
) -> Result<Seconded, FlowError> {
    Ok(
        match after_second_factor(m, conn, half, proof, at.session, at.binding)? {
            Some(next) => Seconded::Done(next),
            None => Seconded::Expired,
        },
    )
}

/// Finishes the enrolment in the half-done login `at`: the passkey added (named `name`, or the
/// default in `language`), then the login goes on with it as the second factor; one
/// transaction.
pub fn finish_enrol(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    at: InLogin<'_>,
    answer: (&str, &str),
    name: (&str, Language),
) -> Result<Seconded, FlowError> {
    store::write_transaction(conn, |conn| {
        let Some(half) = half(m, conn, at)? else {
            return Ok(Seconded::Expired);
        };
        // The user's row first, before the ceremony is used up: a recovery takes them in this
        // order too (`oidc/standing.rs`).
        if hold(conn, Tenant::of(m.tenant), &half.user.id)?.is_none()
            || !without_factor(m, conn, &half)?
        {
            return Ok(Seconded::Expired);
        }
        let user = (&half.user, mails);
        let added = finish_registration(m, conn, user, Some(at.request), answer, name)?;
        let row = match added {
            Ok(row) => row,
            Err(refusal) => return Ok(Seconded::Refused(refusal)),
        };
        let proof = half.proof.clone().with_passkey(row.backup_eligible);
        finished(m, conn, half, proof, at)
    })
}
