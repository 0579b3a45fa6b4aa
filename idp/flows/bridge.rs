//! The bridge for `idp/http`, which still takes `OAuthError` from every flow: the entries it calls
//! of the self-service flows, each the function of the same name in the flow's files with its
//! `FlowError` turned into the `OAuthError` it returned before (`error.rs`). Each flow's `mod.rs`
//! re-exports its entries from here. Temporary: once http takes `FlowError`, delete this file and
//! re-export the flows' own functions instead.

use crate::config::Language;
use crate::domain::Email;
use crate::flows::context::Minter;
use crate::flows::oidc::OAuthError;
use crate::mail::Mails;
use crate::store::DbConnection;
use crate::store::legacy::LegacyRow;
use crate::store::sessions::SessionRow;
use crate::store::users::UserRow;

/// The entries of `flows::account`.
pub mod account {
    use super::*;
    /// [`crate::flows::account::changes::current`].
    pub fn current(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        cookie: Option<&str>,
    ) -> Result<Option<(SessionRow, UserRow)>, OAuthError> {
        Ok(crate::flows::account::changes::current(m, conn, cookie)?)
    }

    /// [`crate::flows::account::changes::check_failed`].
    pub fn check_failed(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        user: &UserRow,
        check: &str,
    ) -> Result<(), OAuthError> {
        Ok(crate::flows::account::changes::check_failed(
            m, conn, user, check,
        )?)
    }

    /// [`crate::flows::account::changes::set_name`].
    pub fn set_name(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        user: &UserRow,
        name: Option<&str>,
    ) -> Result<(), OAuthError> {
        Ok(crate::flows::account::changes::set_name(
            m, conn, user, name,
        )?)
    }

    /// [`crate::flows::account::changes::set_password`].
    pub fn set_password(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        user: &UserRow,
        keep_session: &str,
        password_hash: &str,
    ) -> Result<(), OAuthError> {
        Ok(crate::flows::account::changes::set_password(
            m,
            conn,
            user,
            keep_session,
            password_hash,
        )?)
    }

    /// [`crate::flows::account::changes::sign_out_everywhere`].
    pub fn sign_out_everywhere(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        user: &UserRow,
    ) -> Result<(), OAuthError> {
        Ok(crate::flows::account::changes::sign_out_everywhere(
            m, conn, user,
        )?)
    }
}

/// The entries of `flows::email_change`.
pub mod email_change {
    use super::*;
    use crate::flows::email_change::follow::Followed;
    use crate::flows::email_change::request::{CONFIRM, UNDO};
    /// [`crate::flows::email_change::request::request`].
    pub fn request(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        mails: &Mails,
        user: &UserRow,
        new: &Email,
        language: Language,
    ) -> Result<Option<String>, OAuthError> {
        Ok(crate::flows::email_change::request::request(
            m, conn, mails, user, new, language,
        )?)
    }

    /// The new address a confirmation link switches to, if it is usable ([`crate::flows::email_change::follow::target`]).
    pub fn confirm_target(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        token: &str,
    ) -> Result<Option<String>, OAuthError> {
        Ok(crate::flows::email_change::follow::target(
            m, conn, CONFIRM, token,
        )?)
    }

    /// [`crate::flows::email_change::follow::confirm`].
    pub fn confirm(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        mails: &Mails,
        language: Language,
        token: &str,
    ) -> Result<Followed, OAuthError> {
        Ok(crate::flows::email_change::follow::confirm(
            m, conn, mails, language, token,
        )?)
    }

    /// The old address an undo link restores, if it is usable ([`crate::flows::email_change::follow::target`]).
    pub fn undo_target(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        token: &str,
    ) -> Result<Option<String>, OAuthError> {
        Ok(crate::flows::email_change::follow::target(
            m, conn, UNDO, token,
        )?)
    }

    /// [`crate::flows::email_change::follow::undo`].
    pub fn undo(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        token: &str,
    ) -> Result<Followed, OAuthError> {
        Ok(crate::flows::email_change::follow::undo(m, conn, token)?)
    }
}

/// The entries of `flows::linker`.
pub mod linker {
    use super::*;
    use crate::flows::linker::claim_address::Claimed;
    use crate::flows::linker::claims::{ClaimCheck, ClaimPrepared, Proven};
    use crate::flows::linker::follow::{Completed, LinkTarget};
    use crate::flows::linker::links::LinkMail;
    use crate::flows::linker::route::Route;
    /// [`crate::flows::linker::route::route`].
    pub fn route(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        identifier: &str,
    ) -> Result<Route, OAuthError> {
        Ok(crate::flows::linker::route::route(m, conn, identifier)?)
    }

    /// [`crate::flows::linker::route::route_chosen`].
    pub fn route_chosen(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        identifier: &str,
        account: &str,
    ) -> Result<Route, OAuthError> {
        Ok(crate::flows::linker::route::route_chosen(
            m, conn, identifier, account,
        )?)
    }

    /// [`crate::flows::linker::bind::bind_to_user`].
    pub fn bind_to_user(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        account: &LegacyRow,
        user: &UserRow,
        by: &str,
    ) -> Result<bool, OAuthError> {
        Ok(crate::flows::linker::bind::bind_to_user(
            m, conn, account, user, by,
        )?)
    }

    /// [`crate::flows::linker::links::send_links`].
    pub fn send_links(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        mails: &Mails,
        accounts: &[LegacyRow],
        mail: LinkMail<'_>,
    ) -> Result<Option<String>, OAuthError> {
        Ok(crate::flows::linker::links::send_links(
            m, conn, mails, accounts, mail,
        )?)
    }

    /// [`crate::flows::linker::follow::link_target`].
    pub fn link_target(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        token: &str,
    ) -> Result<Option<LinkTarget>, OAuthError> {
        Ok(crate::flows::linker::follow::link_target(m, conn, token)?)
    }

    /// [`crate::flows::linker::follow::complete`].
    pub fn complete(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        token: &str,
        password_hash: Option<&str>,
        binding: &str,
    ) -> Result<Completed, OAuthError> {
        Ok(crate::flows::linker::follow::complete(
            m,
            conn,
            token,
            password_hash,
            binding,
        )?)
    }

    /// [`crate::flows::linker::claims::prepare_claim`].
    pub fn prepare_claim(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        request_id: &str,
        binding: &str,
        identifier: &str,
        account: &str,
    ) -> Result<ClaimPrepared, OAuthError> {
        Ok(crate::flows::linker::claims::prepare_claim(
            m, conn, request_id, binding, identifier, account,
        )?)
    }

    /// [`crate::flows::linker::claims::finish_claim`].
    pub fn finish_claim(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        check: ClaimCheck,
        matches: bool,
    ) -> Result<Option<Proven>, OAuthError> {
        Ok(crate::flows::linker::claims::finish_claim(
            m, conn, check, matches,
        )?)
    }

    /// [`crate::flows::linker::claims::send_claim_link`].
    pub fn send_claim_link(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        mails: &Mails,
        account: &LegacyRow,
        language: Language,
        request_id: Option<&str>,
    ) -> Result<Option<String>, OAuthError> {
        Ok(crate::flows::linker::claims::send_claim_link(
            m, conn, mails, account, language, request_id,
        )?)
    }

    /// [`crate::flows::linker::claim_address::claim_target`].
    pub fn claim_target(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        token: &str,
    ) -> Result<Option<String>, OAuthError> {
        Ok(crate::flows::linker::claim_address::claim_target(
            m, conn, token,
        )?)
    }

    /// [`crate::flows::linker::claim_address::submit_claim`].
    pub fn submit_claim(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        mails: &Mails,
        token: &str,
        address: &Email,
        language: Language,
    ) -> Result<Claimed, OAuthError> {
        Ok(crate::flows::linker::claim_address::submit_claim(
            m, conn, mails, token, address, language,
        )?)
    }
}

/// The entries of `flows::register`.
pub mod register {
    use super::*;
    use crate::flows::register::finish::{Account, Finished};
    /// [`crate::flows::register::start::start`].
    pub fn start(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        mails: &Mails,
        email: &Email,
        language: Language,
        request_id: Option<&str>,
    ) -> Result<Option<String>, OAuthError> {
        Ok(crate::flows::register::start::start(
            m, conn, mails, email, language, request_id,
        )?)
    }

    /// [`crate::flows::register::finish::link_email`].
    pub fn link_email(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        token: &str,
    ) -> Result<Option<String>, OAuthError> {
        Ok(crate::flows::register::finish::link_email(m, conn, token)?)
    }

    /// [`crate::flows::register::finish::finish`].
    pub fn finish(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        mails: &Mails,
        account: &Account<'_>,
        binding: &str,
    ) -> Result<Finished, OAuthError> {
        Ok(crate::flows::register::finish::finish(
            m, conn, mails, account, binding,
        )?)
    }
}

/// The entries of `flows::reset`.
pub mod reset {
    use super::*;
    use crate::flows::reset::complete::Completed;
    /// [`crate::flows::reset::request::request`].
    pub fn request(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        mails: &Mails,
        email: &Email,
        language: Language,
        request_id: Option<&str>,
    ) -> Result<Option<String>, OAuthError> {
        Ok(crate::flows::reset::request::request(
            m, conn, mails, email, language, request_id,
        )?)
    }

    /// [`crate::flows::reset::complete::usable`].
    pub fn usable(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        token: &str,
    ) -> Result<bool, OAuthError> {
        Ok(crate::flows::reset::complete::usable(m, conn, token)?)
    }

    /// [`crate::flows::reset::complete::complete`].
    pub fn complete(
        m: &Minter<'_>,
        conn: &mut DbConnection,
        token: &str,
        password_hash: &str,
        binding: &str,
    ) -> Result<Completed, OAuthError> {
        Ok(crate::flows::reset::complete::complete(
            m,
            conn,
            token,
            password_hash,
            binding,
        )?)
    }
}
