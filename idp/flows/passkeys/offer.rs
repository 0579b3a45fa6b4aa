//! The offer after a password login (`Step::OfferPasskey`, the session started): its user is the
//! pending login's and the browser's session's; a passkey added there, and the login goes on
//! (`steps::after_offer`), as after "not now".

use super::ceremony::{InLogin, Refusal, Started};
use super::register::{finish_registration, start_registration};
use crate::config::Language;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::oidc::outcome::Outcome;
use crate::flows::oidc::pending::{Step, pending_at};
use crate::flows::oidc::session;
use crate::flows::oidc::steps::after_offer;
use crate::mail::Mails;
use crate::store::sessions::SessionRow;
use crate::store::users::UserRow;
use crate::store::{self, DbConnection, StoreError, Tenant};
use chrono::NaiveDateTime;

/// How the browser's session is read: [`session::current`] to show a page,
/// [`session::held`] before a write.
type SessionOf = fn(
    &mut DbConnection,
    Tenant<'_>,
    Option<&str>,
    NaiveDateTime,
) -> Result<Option<(SessionRow, UserRow)>, StoreError>;

/// The user offered a passkey in the pending login `offer`: `None` unless the request waits at
/// the offer for this browser and the browser's session is that user's.
pub fn offer_user(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    offer: InLogin<'_>,
) -> Result<Option<UserRow>, FlowError> {
    user_at(m, conn, offer, session::current)
}

/// The user of the offer `offer` whose session `session_of` reads: before a write
/// [`session::held`], the user's row held for the rest of the caller's write transaction and the
/// session read after it, so that a recovery that ended the session meanwhile is seen.
fn user_at(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    offer: InLogin<'_>,
    session_of: SessionOf,
) -> Result<Option<UserRow>, FlowError> {
    let at_offer = |step: &Step| *step == Step::OfferPasskey;
    let Some((row, _)) = pending_at(m, conn, offer.request, Some(offer.binding), at_offer)? else {
        return Ok(None);
    };
    let current = session_of(conn, Tenant::of(m.tenant), offer.session, m.now)?;
    Ok(current
        .map(|(_, user)| user)
        .filter(|user| row.user_id.as_deref() == Some(user.id.as_str())))
}

/// The options of a passkey added at the offer; `None` when the offer is not this browser's.
pub fn start_offer(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    offer: InLogin<'_>,
) -> Result<Option<Started>, FlowError> {
    store::write_transaction(conn, |conn| {
        let Some(user) = user_at(m, conn, offer, session::held)? else {
            return Ok(None);
        };
        start_registration(m, conn, &user, Some(offer.request))
    })
}

/// What adding a passkey at the offer led to.
#[derive(Debug)]
pub enum Offered {
    /// The offer is gone (expired, another browser's, another session).
    Expired,
    /// The passkey was not added; the offer page says why.
    Refused(Refusal),
    /// Added; the login goes on.
    Done(Outcome),
}

/// Adds the passkey answered at the offer and goes on with the login, in one transaction.
pub fn add_from_offer(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    offer: InLogin<'_>,
    answer: (&str, &str),
    name: (&str, Language),
) -> Result<Offered, FlowError> {
    store::write_transaction(conn, |conn| {
        let Some(user) = user_at(m, conn, offer, session::held)? else {
            return Ok(Offered::Expired);
        };
        let added =
            finish_registration(m, conn, (&user, mails), Some(offer.request), answer, name)?;
        if let Err(refusal) = added {
            return Ok(Offered::Refused(refusal));
        }
        Ok(match go_on(m, conn, offer)? {
            Some(outcome) => Offered::Done(outcome),
            None => Offered::Expired,
        })
    })
}

/// "Not now" (or after adding one): the login goes on; `None` when the offer is not this
/// browser's.
pub fn go_on(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    offer: InLogin<'_>,
) -> Result<Option<Outcome>, FlowError> {
    let outcome = store::write_transaction(conn, |conn| {
        after_offer(m, conn, offer.request, Some(offer.binding), offer.session)
    })?;
    Ok(outcome)
}
