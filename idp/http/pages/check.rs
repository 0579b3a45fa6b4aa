//! Passwords on the pages: a check of a password the resident knows (throttled and counted,
//! `flows::password_check`) and a new password (its two fields, its rules, its hash), each with
//! the pages of what stops it.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use secrecy::{ExposeSecret, SecretString};

use super::error::PageError;
use super::view::{OrPage, View};
use crate::crypto::hash_pool::Refused;
use crate::crypto::password;
use crate::domain::NewPassword;
use crate::domain::password::normalised;
use crate::flows::error::FlowError;
use crate::flows::password_check::{Attempt, Checked, Stored};
use crate::http::util::retry_after_header;

/// The message of a password check refused because the same login, account or session has its
/// checks running already (`hash_pool::PER_HOLDER`): a form posted again before the first
/// answer. Not "too many failed attempts" (`throttled`, the form's key of that): nothing
/// failed. One key a form, as the account page shows a message at the form its key names.
fn under_way(throttled: &'static str) -> &'static str {
    match throttled {
        "email-password-throttled" => "email-password-check-under-way",
        "login-throttled" => "login-check-under-way",
        "account-other-throttled" => "account-other-check-under-way",
        "passkey-throttled" => "passkey-check-under-way",
        "second-factor-throttled" => "second-factor-check-under-way",
        "second-factor-codes-throttled" => "second-factor-codes-check-under-way",
        _ => "password-check-under-way",
    }
}

impl View {
    /// The client's address, for throttling and the audit trail.
    pub fn client_address(&self) -> Option<String> {
        crate::http::client::client_address(&self.state, &self.req)
    }

    /// Checks `password` against `stored` for `attempt`: what `then` made of it on a match, `None`
    /// when it was wrong. A check that did not run answers with `refused` and Retry-After: 429
    /// with `throttled` (the form's "too many failed attempts") when throttled, or with its
    /// [`under_way`] message when the holder has its checks running already (a form posted
    /// again at once: nothing failed); the busy page (503), or the page of the error.
    pub async fn check_password<T, F>(
        &self,
        attempt: &Attempt,
        stored: Stored,
        password: SecretString,
        then: F,
        (throttled, refused): (
            &'static str,
            impl FnOnce(&'static str, StatusCode) -> HttpResponse,
        ),
    ) -> Result<Option<T>, PageError>
    where
        F: FnOnce(&SecretString) -> T + Send + 'static,
        T: Send + 'static,
    {
        let checked = self
            .state
            .password_check(&self.tenant)
            .run(attempt, stored, password, then)
            .await
            .or_page(self)?;
        let (retry_after, key) = match checked {
            Checked::Matched(value) => return Ok(Some(value)),
            Checked::Wrong => return Ok(None),
            Checked::Throttled { retry_after } => (retry_after, throttled),
            Checked::TooMany => (1, under_way(throttled)),
            Checked::Busy => {
                return Err(self.error(StatusCode::SERVICE_UNAVAILABLE, "busy").into());
            }
        };
        let mut page = refused(key, StatusCode::TOO_MANY_REQUESTS);
        retry_after_header(&mut page, retry_after);
        Err(page.into())
    }

    /// The argon2 hash of a new password, in the hashing pool's share that logins do not keep,
    /// held for the client's address ([`HashPool::run`]). When the address holds its part of that
    /// share already: `refused` with the message key `new-password-too-many` and 429 (the caller's
    /// form again), with `Retry-After: 1`; when the share is full, the busy page (503).
    ///
    /// [`HashPool::run`]: crate::crypto::hash_pool::HashPool::run
    pub async fn hash_new(
        &self,
        password: NewPassword,
        refused: impl FnOnce(&str, StatusCode) -> HttpResponse,
    ) -> Result<String, PageError> {
        let hashed = self
            .state
            .services
            .hashing
            .run(self.client_address(), move || {
                password::hash(password.secret())
            })
            .await;
        match hashed {
            Ok(hashed) => hashed.map_err(FlowError::server).or_page(self),
            Err(Refused::TooMany) => {
                let mut page = refused("new-password-too-many", StatusCode::TOO_MANY_REQUESTS);
                retry_after_header(&mut page, 1);
                Err(page.into())
            }
            Err(Refused::Busy) => Err(self.error(StatusCode::SERVICE_UNAVAILABLE, "busy").into()),
        }
    }
}

/// A new password, `first` repeated as `second`, under the tenant's rules; otherwise the message
/// key of what is wrong with it.
pub fn new_password(
    first: SecretString,
    second: Option<&str>,
    min_chars: usize,
) -> Result<NewPassword, &'static str> {
    // As the password is kept: "ä" composed in one field and decomposed in the other is one.
    if Some(normalised(first.expose_secret())) != second.map(normalised) {
        return Err("password-mismatch");
    }
    NewPassword::parse_with(first, min_chars).map_err(|e| e.message_key())
}
