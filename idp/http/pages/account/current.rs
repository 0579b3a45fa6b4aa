//! The account page's checks of a password the resident knows (the current one, or an old
//! account's): throttled and counted like a login (`flows::password_check`), from the share of
//! the hashing pool that logins do not keep; a wrong one audited as `login.failed`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use secrecy::SecretString;

use crate::crypto::hash_pool::Share;
use crate::flows::account;
use crate::flows::password_check::{Attempt, DUMMY_HASH, Stored};
use crate::http::pages::error::PageError;
use crate::http::pages::extract::{SignedIn, Typed};
use crate::http::pages::view::View;
use crate::store::throttle::ThrottleKey;

/// A check of the signed-in resident's current password.
pub struct CurrentPassword {
    /// What `login.failed` names as the check (`account.password`, `account.email`).
    pub check: &'static str,
    /// The message key of a refused check.
    pub throttled: &'static str,
    /// The message key of a wrong password.
    pub wrong: &'static str,
}

impl<T: AsRef<View> + Typed> SignedIn<T> {
    /// A password check of the account page for `account`, from this session.
    pub fn attempt(&self, account: ThrottleKey) -> Attempt {
        Attempt {
            account,
            address: self.view().client_address(),
            session: Some(self.session_id.clone()),
            share: Share::Other,
            client: None,
            also: None,
        }
    }

    /// Checks `password` as `stored` for `attempt` (an [`Self::attempt`]); `Some` of what `then`
    /// made of it on a match, `None` when wrong. A refused check answers with the page of
    /// `throttled` (429).
    pub async fn check<R, F>(
        &self,
        attempt: Attempt,
        stored: Stored,
        password: SecretString,
        then: F,
        throttled: &'static str,
    ) -> Result<Option<R>, PageError>
    where
        F: FnOnce(&SecretString) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.view()
            .check_password(
                &attempt,
                stored,
                password,
                then,
                (throttled, |key, status| self.show_refused(key, status)),
            )
            .await
    }

    /// [`Self::current_password`] on a page of its own: a refusal is `page` with the message
    /// key and status (the account page's `show_refused` for its own forms).
    pub async fn current_password_on<R, F>(
        &self,
        current: &CurrentPassword,
        password: SecretString,
        then: F,
        page: impl Fn(&str, StatusCode) -> HttpResponse,
    ) -> Result<R, PageError>
    where
        F: FnOnce(&SecretString) -> R + Send + 'static,
        R: Send + 'static,
    {
        let hash = self.user.password_hash.clone();
        let stored = Stored::Argon2(hash.unwrap_or_else(|| DUMMY_HASH.to_string()));
        let attempt = self.attempt(ThrottleKey::User(self.user.id.clone()));
        if let Some(value) = self
            .view()
            .check_password(
                &attempt,
                stored,
                password,
                then,
                (current.throttled, |key, status| page(key, status)),
            )
            .await?
        {
            return Ok(value);
        }
        let (failed, check) = (self.user.clone(), current.check);
        self.view()
            .flow(move |m, conn| account::check_failed(m, conn, &failed, check))
            .await?;
        Err(page(current.wrong, StatusCode::UNPROCESSABLE_ENTITY).into())
    }

    /// On a match of the current password, what `then` made of it; otherwise the page to answer
    /// (429 when throttled, 422 when wrong — audited as `login.failed` —, 503 when the pool is
    /// full).
    pub async fn current_password<R, F>(
        &self,
        current: &CurrentPassword,
        password: SecretString,
        then: F,
    ) -> Result<R, PageError>
    where
        F: FnOnce(&SecretString) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.current_password_on(current, password, then, |error, status| {
            self.show_refused(error, status)
        })
        .await
    }
}
