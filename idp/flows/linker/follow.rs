//! Following a linker link: what it shows, then the link used and its account bound — to the user
//! of the address, or to a new user with the password just set — in one transaction, and the
//! pending login continued.

use serde_json::json;

use super::bind::{Claimant, bind_new_user, bind_new_user_at, bind_to_user};
use super::links::{ClaimPayload, PURPOSE, unbound_account};
use crate::crypto::secret;
use crate::domain::Email;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::mail_link::{self, Completed};
use crate::flows::oidc::session;
use crate::store::legacy::LegacyRow;
use crate::store::links::{self, LinkRow};
use crate::store::users::{self, UserRow};
use crate::store::{DbConnection, StoreError, Tenant};

/// What a usable linker link leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkTarget {
    /// The first account of the address: the resident sets a password.
    SetPassword {
        /// The old username.
        username: String,
        /// The address the link was mailed to: the new account's login name.
        address: Option<String>,
    },
    /// Another account for a user who has one: a confirmation.
    Confirm {
        /// The old username.
        username: String,
    },
}

struct OpenLink {
    link: LinkRow,
    account: LegacyRow,
    user: Option<UserRow>,
    /// A claim's address link: how the old account was proven.
    claim: Option<ClaimPayload>,
}

/// The link, its unbound account, and the user it binds to: the one the link names (a link from
/// the account page), else none.
///
/// A link that names no user was mailed while its address had no account (a login's, a
/// registration's, a claimant's own address): an account there now was created after the mail,
/// by someone else as far as the link knows (the resident of another old account of a family's
/// shared address). Such a link leads nowhere: it would merge its old account, subject and
/// history, into that account and log the link's reader in to it. Only a link minted for a user
/// leads to the confirmation that binds to it.
fn open(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<OpenLink>, StoreError> {
    let tenant = Tenant::of(m.tenant);
    let Some(link) = links::find_usable(conn, tenant, PURPOSE, token_hash, m.now)? else {
        return Ok(None);
    };
    let Some(account) = unbound_account(m, conn, &link)? else {
        return Ok(None);
    };
    let claim = ClaimPayload::of(&link);
    let user = match &link.user_id {
        Some(id) => match users::find(conn, tenant, id)? {
            Some(user) => Some(user),
            // The account the link was for is gone.
            None => return Ok(None),
        },
        None => {
            let address = link.email.as_deref().and_then(|e| Email::parse(e).ok());
            if let Some(address) = address
                && users::find_by_email(conn, tenant, address.normalized())?.is_some()
            {
                return Ok(None);
            }
            None
        }
    };
    if user.as_ref().is_some_and(|u| u.disabled) {
        return Ok(None);
    }
    // A claim creates the claimant's own user: never binds to an account.
    if claim.is_some() && user.is_some() {
        return Ok(None);
    }
    Ok(Some(OpenLink {
        link,
        account,
        user,
        claim,
    }))
}

/// What opening `token` shows, or `None` when it is unknown, expired, used or its account bound.
pub fn link_target(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<LinkTarget>, FlowError> {
    Ok(open(m, conn, &secret::hash(token))?.map(|open| {
        let username = open.account.username;
        if open.user.is_some() {
            LinkTarget::Confirm { username }
        } else {
            LinkTarget::SetPassword {
                username,
                address: open.link.email,
            }
        }
    }))
}

/// Follows a linker link: the link used, and the account bound — to the user of the address, or
/// to a new user with `password_hash` — in one transaction; then the pending login continued.
/// [`Completed::Expired`] too when the link's account is the first of its address and no
/// password was given (the link stays usable).
pub fn complete(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
    password_hash: Option<&str>,
    binding: &str,
    session_cookie: Option<&str>,
) -> Result<Completed, FlowError> {
    let token_hash = secret::hash(token);
    mail_link::complete(m, conn, (binding, session_cookie), |conn| {
        let Some(open) = open(m, conn, &token_hash)? else {
            return Ok(None);
        };
        if open.user.is_none() && password_hash.is_none() {
            return Ok(None);
        }
        // A link that binds to a resident's account (the account page's "link by mail") binds
        // only in a browser signed in to that account: the address may have come to the account
        // by a change of address its old owner confirmed without seeing whose account asked, and
        // its mailbox's reader must not hand that account the old account too.
        if let Some(user) = &open.user {
            let current = session::current(conn, Tenant::of(m.tenant), session_cookie, m.now)?;
            if current.is_none_or(|(_, signed_in)| signed_in.id != user.id) {
                return Err(FlowError::SignInFirst);
            }
        }
        // The user it logs in to held before the link is used, as a recovery holds it before it
        // voids the user's links (`oidc/standing.rs`).
        if let Some(user) = &open.user {
            users::lock(conn, Tenant::of(m.tenant), &user.id)?;
        }
        // Used first: binding voids the account's other links.
        if !links::use_once(conn, Tenant::of(m.tenant), &token_hash, m.now)? {
            return Ok(None);
        }
        let link = open.link.clone();
        let user = bind(m, conn, open, password_hash)?;
        Ok(user.map(|user| (link, user)))
    })
}

/// Binds the account of an opened link: to its user, or to a new one with `password_hash` (the
/// claimant's own address for a claim's link); `None` when it was bound meanwhile.
fn bind(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    open: OpenLink,
    password_hash: Option<&str>,
) -> Result<Option<UserRow>, FlowError> {
    let OpenLink {
        link,
        account,
        user,
        claim,
    } = open;
    if let Some(user) = user {
        return Ok(bind_to_user(m, conn, &account, &user, "link")?.then_some(user));
    }
    let Some(hash) = password_hash else {
        return Ok(None);
    };
    let Some(claim) = claim else {
        return bind_new_user(m, conn, &account, hash, true, "link");
    };
    let Some(address) = link.email.as_deref().and_then(|e| Email::parse(e).ok()) else {
        return Ok(None);
    };
    let claimant = Claimant {
        address: &address,
        proven_hash: claim.proven_hash(&account),
    };
    let user = bind_new_user_at(m, conn, &account, Some(claimant), hash, true, "claim")?;
    if let Some(user) = &user {
        m.audit("legacy.claimed")
            .user(user.id.as_str())
            .detail(&json!({ "username": account.username, "proven": claim.proven() }))
            .record(conn)?;
    }
    Ok(user)
}
