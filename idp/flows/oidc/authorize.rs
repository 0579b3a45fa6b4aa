//! The authorization endpoint (RFC 6749 §4.1, OIDC Core §3.1.2): a fresh request — pushed
//! (`par.rs`) or in the query — checked (`request.rs`), then weighed against the browser's
//! session: the login (the request stored, `pending.rs`), or on to consent or a code
//! (`decide.rs`). What it decided is an [`Outcome`] (`outcome.rs`).

use chrono::NaiveDateTime;

use super::decide::proceed;
use super::error::{ErrorCode, OAuthError};
use super::outcome::{Outcome, error_response, refuse};
use super::pending::{NOT_A_PAGE, TOO_MANY_WAITING, Waiting, store_anonymous};
use super::request::{self, AuthorizationRequest, Params, RequestError};
use super::session;
use super::steps::StepUp;
use crate::config::Language;
use crate::flows::context::Minter;
use crate::store::sessions::SessionRow;
use crate::store::users::UserRow;
use crate::store::{DbConnection, Tenant};

/// Handles a fresh authorization request from a browser holding `session_cookie` (if any) and
/// the browser-binding secret `binding` (its flow cookie); `lang` is the language its pages are
/// shown in, which the login keeps. `navigation` says whether the browser opened the request as a
/// page of its own (`http::util::top_level_navigation`): only such a request waits for a login.
pub fn start(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    params: &Params,
    session_cookie: Option<&str>,
    binding: &str,
    navigation: bool,
    lang: Language,
) -> Result<Outcome, OAuthError> {
    // A pushed request (RFC 9126 §4): its stored parameters replace the query's.
    let pushed;
    let params = match params.get("request_uri") {
        None => params,
        Some(uri) => match super::par::take(m, conn, params.get("client_id"), uri)? {
            Some(stored) => {
                pushed = stored;
                &pushed
            }
            None => return Ok(Outcome::Page("invalid_request_uri")),
        },
    };
    let request = match request::parse(m.tenant, params) {
        Ok(request) => AuthorizationRequest {
            lang: Some(lang),
            ..request
        },
        Err(RequestError::Page(reason)) => return Ok(Outcome::Page(reason)),
        Err(RequestError::Redirect {
            redirect_uri,
            response_mode,
            state,
            error,
        }) => {
            return Ok(Outcome::Respond(error_response(
                &m.issuer,
                redirect_uri,
                response_mode,
                state,
                &error,
            )));
        }
    };
    let hinted_subject = match &request.id_token_hint {
        None => None,
        Some(hint) => match m.verify_jwt(hint, None, false) {
            Some(claims) => claims
                .get("sub")
                .and_then(|s| s.as_str())
                .map(str::to_string),
            None => {
                return Ok(refuse(
                    m,
                    &request,
                    ErrorCode::InvalidRequest,
                    request::NOT_OUR_ID_TOKEN,
                ));
            }
        },
    };
    // Its subject is kept with the request: a login as anyone else does not answer it
    // (`decide::proceed`). The verified token itself is needed no more, and not stored.
    let request = AuthorizationRequest {
        hinted_subject,
        id_token_hint: None,
        ..request
    };
    let Some(cookie) = session_cookie.filter(|c| !c.is_empty()) else {
        return to_login(m, conn, &request, binding, navigation);
    };
    // The session, read with its user's row held (`session::held`), and what is written in it —
    // its use, the step-up, or the grant and its code (or the pending consent) — in one commit:
    // a recovery that ends the session meanwhile either sees the grant and revokes it, or
    // commits first and the session is not there any more.
    super::error::committed(conn, |conn| {
        let current = session::held(conn, Tenant::of(m.tenant), Some(cookie), m.now)?;
        let answers =
            |(session, user): &(SessionRow, UserRow)| !needs_login(&request, session, user, m.now);
        let Some((session, user)) = current.filter(answers) else {
            return to_login(m, conn, &request, binding, navigation);
        };
        session::note_use(conn, Tenant::of(m.tenant), &session, m.now)?;
        match super::steps::step_up(m, conn, &request, &session, &user, binding)? {
            StepUp::No => proceed(m, conn, request, &session, &user, binding, Waiting::Fresh),
            StepUp::Page(outcome) => Ok(outcome),
            StepUp::Login => to_login(m, conn, &request, binding, navigation),
        }
    })
}

/// Whether `request`, met by the live `session` of `user`, asks for a login all the same: it
/// said `prompt=login`, its `max_age` is over, or its `id_token_hint` named another resident.
fn needs_login(
    request: &AuthorizationRequest,
    session: &SessionRow,
    user: &UserRow,
    now: NaiveDateTime,
) -> bool {
    request.prompt_login
        || request
            .max_age
            .is_some_and(|max| too_old(session.auth_time, now, max))
        || request
            .hinted_subject
            .as_ref()
            .is_some_and(|sub| sub != &user.subject)
}

/// A request without a session to answer it (or that asks for a login all the same): the login
/// (the request stored, `pending.rs`), or `login_required` when the client asked for no pages;
/// the page [`NOT_A_PAGE`] when the browser did not open the request as a page (`navigation`).
fn to_login(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request: &AuthorizationRequest,
    binding: &str,
    navigation: bool,
) -> Result<Outcome, OAuthError> {
    // A session check in a hidden frame (`prompt=none`) stores nothing: it is answered as ever.
    if request.prompt_none {
        return Ok(refuse(
            m,
            request,
            ErrorCode::LoginRequired,
            "the resident must log in",
        ));
    }
    // An image, a frame or a script's fetch of `/authorize` stores nothing and counts nothing:
    // none of them can show a login, and any web page could make its visitors' browsers send
    // a hundred of them, filling their address's places (`pending.rs`). Nor is the client told:
    // a subresource could not follow the redirect.
    if !navigation {
        return Ok(Outcome::Page(NOT_A_PAGE));
    }
    // Stored only while its client address has fewer than so many waiting (`pending.rs`); else
    // the client hears `temporarily_unavailable`, and nothing is stored.
    Ok(match store_anonymous(m, conn, request, binding)? {
        Some(request_id) => Outcome::Login { request_id },
        None => refuse(
            m,
            request,
            ErrorCode::TemporarilyUnavailable,
            TOO_MANY_WAITING,
        ),
    })
}

/// Whether a login at `auth_time` is too old for `max_age` at `now`: more than `max_age` seconds
/// have passed since the `auth_time` the ID token will carry (whole seconds, rounded down), to the
/// millisecond, so that a relying party checking `auth_time + max_age` against its own clock never
/// gets a login older than it asked for. `max_age=0` always asks again, as `prompt=login` does
/// (OpenID Connect Core 1.0 errata set 2, §3.1.2.1).
fn too_old(auth_time: NaiveDateTime, now: NaiveDateTime, max_age: i64) -> bool {
    let claimed = auth_time.and_utc().timestamp().saturating_mul(1000);
    let elapsed = now.and_utc().timestamp_millis().saturating_sub(claimed);
    max_age == 0 || elapsed > max_age.saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::too_old;

    fn at(second: u32, milli: u32) -> chrono::NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, 5)
            .and_then(|d| d.and_hms_milli_opt(12, 0, second, milli))
            .unwrap_or_default()
    }

    #[test]
    fn max_age_counts_from_the_claimed_auth_time_and_zero_always_asks() {
        // max_age=0 within the same second, even the same instant.
        assert!(too_old(at(10, 100), at(10, 100), 0));
        assert!(too_old(at(10, 100), at(10, 900), 0));
        // The claim says 10: at 11.999 a relying party sees 1.999 s, over a max_age of 1.
        assert!(too_old(at(10, 900), at(11, 999), 1));
        assert!(too_old(at(10, 900), at(12, 100), 1));
        // Exactly max_age seconds after the claimed time is not over it.
        assert!(!too_old(at(10, 900), at(11, 0), 1));
        assert!(!too_old(at(10, 0), at(15, 0), 5));
        assert!(too_old(at(10, 0), at(15, 1), 5));
        assert!(!too_old(at(10, 500), at(14, 999), 5));
    }
}
