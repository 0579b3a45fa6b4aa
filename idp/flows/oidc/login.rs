//! Password login for a pending authorization request, and consent.
//!
//! A login is three steps so that hashing never holds a database connection and runs in the
//! bounded pool: [`prepare`] (the request, the account and the hash to check), the throttled
//! check ([`crate::flows::password_check`]), then [`finish`] (on success start the session and
//! go on). A recovery or a change of password may commit between the first step and the last:
//! `finish` then starts nothing ([`LoginResult::Interrupted`], `standing.rs`).

use super::decide::issue_code;
use super::error::{ErrorCode, OAuthError, committed};
use super::outcome::{Outcome, error_response, unregistered};
use super::pending::{Pending, Step, pending_at};
use super::proof::Proof;
use super::session;
use super::standing::Standing;
use super::steps::{Next, after_first_factor};
use crate::flows::context::Minter;
use chrono::NaiveDateTime;
use secrecy::SecretString;

use crate::crypto::password;
use crate::flows::linker;
use crate::flows::password_check::{DUMMY_HASH, Stored};
use crate::store::auth_requests::AuthRequestRow;
use crate::store::legacy::{self, LegacyRow};
use crate::store::throttle::ThrottleKey;
use crate::store::users::UserRow;
use crate::store::{DbConnection, Tenant, auth_requests, grants};
use crate::telemetry::metrics::LoginOutcome;

use crate::flows::lookup::{find_account, find_deleting, throttle_key};

/// The first step of a login.
#[derive(Debug)]
pub enum Prepared {
    /// The request is unknown, expired or not this browser's.
    Expired,
    /// Check the password against `stored`.
    Check(Box<Check>),
}

/// What the second and third steps need.
#[derive(Debug)]
pub struct Check {
    row: AuthRequestRow,
    pending: Pending,
    user: Option<UserRow>,
    /// What the first step read of `user`: the session starts only while it holds.
    standing: Option<Standing>,
    legacy: Option<LegacyRow>,
    /// The account being deleted that the identifier names, and the end of its grace period.
    deleting: Option<(String, NaiveDateTime)>,
    /// The counter the check is throttled by: the account, or the identifier when it names none.
    pub account: ThrottleKey,
    /// What to check the password against.
    pub stored: Stored,
}

impl Check {
    /// Whether a match must be re-hashed with argon2id (an old account's first login).
    pub fn rehash(&self) -> bool {
        self.legacy.is_some()
    }

    /// The e-service the login is for.
    pub fn client_id(&self) -> &str {
        &self.row.client_id
    }
}

/// What checking the password found.
#[derive(Debug)]
pub struct Verified {
    /// Whether the password matched.
    pub matches: bool,
    /// The argon2id hash of a password that matched an old account's hash.
    pub rehashed: Option<String>,
}

impl Verified {
    /// The work after a match, on the hashing thread: re-hash an old account's password.
    pub fn after_match(
        rehash: bool,
    ) -> impl FnOnce(&SecretString) -> Result<Verified, password::HashError> + Send + 'static {
        move |password| {
            Ok(Verified {
                matches: true,
                rehashed: rehash.then(|| password::hash(password)).transpose()?,
            })
        }
    }

    /// A password that did not match.
    pub fn wrong() -> Verified {
        Verified {
            matches: false,
            rehashed: None,
        }
    }
}

/// What a login attempt led to.
#[derive(Debug)]
pub enum LoginResult {
    /// The password matched: on to the second factor, or logged in and on with the request.
    Done(Next),
    /// Wrong identifier or password (one message for both).
    Failed,
    /// The password matched, but the account changed after it was read, before the session
    /// could start: its password was changed, everything it held was ended (a recovery), or it
    /// was disabled. Nothing started; the page asks the resident to log in again.
    Interrupted,
    /// The password matched an account being deleted: the page says until when its mailed link
    /// undoes that.
    Deleting(NaiveDateTime),
}

/// Step one: the pending request, the account.
pub fn prepare(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request_id: &str,
    binding: Option<&str>,
    identifier: &str,
    chosen: Option<&str>,
) -> Result<Prepared, OAuthError> {
    // An answered one too: the same form posted again before the answer arrived (`steps::take`).
    let at_login = |step: &Step| matches!(step, Step::Login | Step::Answered);
    let Some((row, pending)) = pending_at(m, conn, request_id, binding, at_login)? else {
        return Ok(Prepared::Expired);
    };
    let user = find_account(conn, Tenant::of(m.tenant), identifier)?;
    let standing = match &user {
        Some(user) => Some(Standing::of(conn, Tenant::of(m.tenant), user)?),
        None => None,
    };
    let deleting = match user {
        Some(_) => None,
        None => find_deleting(conn, Tenant::of(m.tenant), identifier)?,
    };
    let legacy = match (&user, &deleting) {
        (None, None) => linker::password_target(m, conn, identifier, chosen)?,
        _ => None,
    };
    let named = user.as_ref().or(deleting.as_ref().map(|d| &d.0));
    let account = throttle_key(named, legacy.as_ref(), identifier);
    let stored = match (named, &legacy) {
        (_, Some(account)) => Stored::Legacy {
            hash: account.password_hash.clone().unwrap_or_default(),
            salted: m.tenant.legacy.salted_sha.clone(),
        },
        (Some(user), None) => Stored::Argon2(
            user.password_hash
                .clone()
                .unwrap_or_else(|| DUMMY_HASH.to_string()),
        ),
        (None, None) => Stored::Argon2(DUMMY_HASH.to_string()),
    };
    Ok(Prepared::Check(Box::new(Check {
        row,
        pending,
        user,
        standing,
        legacy,
        deleting: deleting.map(|(u, at)| (u.id, at)),
        account,
        stored,
    })))
}

/// Step three, after the throttled check: on success the login's next step (one transaction),
/// unless the account changed since step one read it ([`LoginResult::Interrupted`]).
pub fn finish(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    check: Check,
    verified: Verified,
    remember: bool,
    binding: &str,
    session_cookie: Option<&str>,
) -> Result<LoginResult, OAuthError> {
    committed(conn, |conn| {
        let Check {
            row,
            pending,
            user,
            standing,
            legacy,
            deleting,
            account: _,
            stored: _,
        } = check;
        if let Some((id, erase_at)) = deleting {
            let kind = if verified.matches {
                "login.refused"
            } else {
                "login.failed"
            };
            m.audit(kind)
                .user(id.as_str())
                .client(row.client_id.as_str())
                .detail(&serde_json::json!({ "reason": "deletion_pending" }))
                .record(conn)?;
            if !verified.matches {
                m.count_login(LoginOutcome::WrongPassword);
            }
            return Ok(if verified.matches {
                LoginResult::Deleting(erase_at)
            } else {
                LoginResult::Failed
            });
        }
        // The account a failure names in the audit trail, when there is one.
        let named = user.as_ref().map(|u| u.id.clone());
        let known = user.is_some() || legacy.is_some();
        let user = match (legacy, verified.rehashed) {
            // The first login of an old account: bind it, keeping its subject. Bound meanwhile
            // (the same login posted twice, a double click): the password was right, the account
            // changed; never a wrong password (nor its strike). Its hash replaced by a re-import
            // meanwhile: the old system's new password is the one, and this one is wrong.
            (Some(account), Some(rehashed)) if verified.matches => {
                let email_verified = m.tenant.legacy.email_verified;
                let bound = linker::bind_new_user(
                    m,
                    conn,
                    &account,
                    &rehashed,
                    email_verified,
                    "password",
                )?;
                let linked = match bound {
                    Some(_) => None,
                    None => legacy::find(conn, Tenant::of(m.tenant), &account.id)?
                        .and_then(|now| now.linked_user_id),
                };
                match linked {
                    // Bound by this login posted twice: the first post's user goes on.
                    Some(linked) => match answered_for(m, conn, &row, binding, &linked)? {
                        Some(user) => Some(user),
                        None => return interrupted(m, conn, None, &row.client_id),
                    },
                    None => bound,
                }
            }
            _ => match (user, standing) {
                (Some(user), Some(standing))
                    if verified.matches && user.password_hash.is_some() =>
                {
                    // The password matched the account as the first step read it; the session
                    // starts only if it is still so, with the account's row held from here on.
                    let tenant = Tenant::of(m.tenant);
                    let Some(now) = standing.still(conn, tenant, &user.id)? else {
                        return interrupted(m, conn, Some(&user.id), &row.client_id);
                    };
                    Some(now)
                }
                _ => None,
            },
        };
        let Some(user) = user else {
            m.audit("login.failed")
                .user(named.as_deref())
                .client(row.client_id.as_str())
                .record(conn)?;
            m.count_login(if known {
                LoginOutcome::WrongPassword
            } else {
                LoginOutcome::UnknownIdentifier
            });
            return Ok(LoginResult::Failed);
        };
        let proof = Proof::password();
        let next = after_first_factor(
            m,
            conn,
            &row,
            pending,
            &user,
            proof,
            remember,
            binding,
            session_cookie,
        )?;
        Ok(LoginResult::Done(next))
    })
}

/// The user `user_id`, when a login of theirs has answered the request `row` of this browser
/// (`binding`) meanwhile: the same form posted twice.
fn answered_for(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    row: &AuthRequestRow,
    binding: &str,
    user_id: &str,
) -> Result<Option<UserRow>, OAuthError> {
    let answered = |step: &Step| *step == Step::Answered;
    let Some((now, _)) = pending_at(m, conn, &row.id, Some(binding), answered)? else {
        return Ok(None);
    };
    if now.user_id.as_deref() != Some(user_id) {
        return Ok(None);
    }
    let user = crate::store::users::find(conn, Tenant::of(m.tenant), user_id)?;
    Ok(user.filter(|u| !u.disabled))
}

/// A login whose password matched the account (`user_id`; none for an old account a concurrent
/// login bound) as it was before a change that committed meanwhile: audited as `login.refused`
/// (`{"reason":"account_changed"}`), nothing started.
fn interrupted(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user_id: Option<&str>,
    client_id: &str,
) -> Result<LoginResult, OAuthError> {
    m.audit("login.refused")
        .user(user_id)
        .client(client_id)
        .detail(&serde_json::json!({ "reason": "account_changed" }))
        .record(conn)?;
    m.count_login(LoginOutcome::Interrupted);
    Ok(LoginResult::Interrupted)
}

/// The resident's answer on the consent page (one transaction).
pub fn consent(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request_id: &str,
    binding: Option<&str>,
    session_cookie: Option<&str>,
    approve: bool,
) -> Result<Option<Outcome>, OAuthError> {
    committed(conn, |conn| {
        let at_consent = |step: &Step| *step == Step::Consent;
        let Some((row, pending)) = pending_at(m, conn, request_id, binding, at_consent)? else {
            return Ok(None);
        };
        // The user's row held before anything is written, the session read after it (as at
        // `/authorize`): a recovery under way is waited for, and its end of the session seen.
        let Some((session, user)) =
            session::held(conn, Tenant::of(m.tenant), session_cookie, m.now)?
        else {
            return Ok(None);
        };
        if row.user_id.as_deref() != Some(user.id.as_str()) {
            return Ok(None);
        }
        if !auth_requests::delete(conn, Tenant::of(m.tenant), &row.id)? {
            return Ok(None);
        }
        let request = pending.request;
        if let Some(reason) = unregistered(m, &request) {
            return Ok(Some(Outcome::Page(reason)));
        }
        if !approve {
            return Ok(Some(Outcome::Respond(error_response(
                &m.issuer,
                request.redirect_uri.clone(),
                request.response_mode,
                request.state.clone(),
                &OAuthError::new(ErrorCode::AccessDenied, "the resident declined"),
            ))));
        }
        let scope = request.scope_string();
        grants::save_consent(
            conn,
            Tenant::of(m.tenant),
            &user.id,
            &request.client_id,
            &scope,
            m.now,
        )?;
        // When, and to what, the resident agreed (GDPR Art. 7(1)): the consent row itself goes
        // when it is withdrawn or a recovery ends it.
        m.audit("consent.given")
            .user(user.id.as_str())
            .client(request.client_id.as_str())
            .detail(&serde_json::json!({ "scope": scope }))
            .record(conn)?;
        let response = issue_code(m, conn, &request, &session, &user)?;
        Ok(Some(Outcome::Respond(response)))
    })
}
