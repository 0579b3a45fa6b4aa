//! The legacy-account linker (DESIGN.md §1, §5): binds an account of a city's old login system to
//! the resident's email on the first login, keeping its subject so every e-service keeps the
//! resident's history.
//!
//! - **keep-password**: the old password, checked against the legacy hash, proves the account; the
//!   user is created with the legacy subject and the password re-hashed with argon2id, in one
//!   transaction with the legacy row's link and an audit event.
//! - **email-link** (and accounts without a usable hash): a set-password link is mailed; opening it
//!   and setting the password binds the account in one transaction and continues the pending login.
//! - One address, several old accounts: the resident chooses; the first bound subject is `sub`,
//!   the others, bound later from the account page, appear in the `former_subjects` claim.
//! - A family's shared address: once one of its old accounts is bound, the login at the address
//!   offers that account and the old accounts still unbound. Another resident **claims** theirs:
//!   proves it (old password under keep-password, else a link mailed to the shared address), gives
//!   their own address, and the link mailed there creates their user with the old subject.
//! - Authority accounts keep logging in with their old username and password.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::config::{Language, Policy};
use crate::crypto::secret;
use crate::domain::Email;
use crate::flows::oidc::authorize::Outcome;
use crate::flows::oidc::tokens::Minter;
use crate::flows::oidc::{OAuthError, committed};
use crate::flows::password_check::{DUMMY_HASH, Stored};
use crate::flows::{mail_limit, mail_link};
use crate::mail::{self, Mails};
use crate::store::legacy::{self, LegacyRow};
use crate::store::links::{self, LinkRow};
use crate::store::throttle::ThrottleKey;
use crate::store::users::{self, UserRow};
use crate::store::{self, DbConnection, StoreError, Tenant, audit};

/// The purpose of the linker's mailed links.
pub const PURPOSE: &str = "legacy_link";

/// The purpose of a claim's proof: the link mailed to a shared address, or the token the address
/// page carries after the old password proved the account. It leads to the own-address page.
pub const CLAIM: &str = "legacy_claim";

/// The chooser's value for the account already in use at the address (its password page).
pub const IN_USE: &str = "in-use";

/// Where an identifier leads on the first step of a login.
#[derive(Debug)]
pub enum Route {
    /// An account of the new system (or nothing legacy): the password page, as always.
    Account,
    /// Nothing known by this identifier.
    Unknown,
    /// One old account, proven by its old password on the password page.
    Password {
        /// The legacy account's id, carried by the password page.
        account: String,
    },
    /// One old account, proven by a mailed link.
    SendLink(Box<LegacyRow>),
    /// Several old accounts share the address: the resident chooses.
    Choose(Vec<LegacyRow>),
    /// A user of the new system has the address, and old accounts of it are still unbound: the
    /// resident chooses between the account in use (its password) and claiming one of these.
    Shared(Vec<LegacyRow>),
    /// Claim an old account of an address in use, proven by its old password.
    ClaimPassword(Box<LegacyRow>),
    /// Claim an old account of an address in use, proven by a link mailed to the address.
    ClaimLink(Box<LegacyRow>),
}

/// Where `identifier` leads: a user of the new system first (with the old accounts still unbound
/// at its address, when there are any), else the unlinked legacy accounts of the address
/// (residents), else an unlinked authority account of the old username.
pub fn route(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    identifier: &str,
) -> Result<Route, OAuthError> {
    let identifier = identifier.trim();
    if let Some(user) =
        crate::flows::oidc::login::find_account(conn, Tenant::of(m.tenant), identifier)?
    {
        if let Ok(email) = Email::parse(identifier)
            && user.email_normalized.as_deref() == Some(email.normalized())
        {
            let unbound =
                legacy::unlinked_by_email(conn, Tenant::of(m.tenant), email.normalized())?;
            if !unbound.is_empty() {
                return Ok(Route::Shared(unbound));
            }
        }
        return Ok(Route::Account);
    }
    if let Ok(email) = Email::parse(identifier) {
        let mut candidates =
            legacy::unlinked_by_email(conn, Tenant::of(m.tenant), email.normalized())?;
        return Ok(match candidates.len() {
            0 => Route::Unknown,
            1 => candidates
                .pop()
                .map_or(Route::Unknown, |one| route_one(m, one)),
            _ => Route::Choose(candidates),
        });
    }
    Ok(
        match unlinked_authority(conn, Tenant::of(m.tenant), identifier)? {
            Some(account) if account.has_usable_hash() => Route::Password {
                account: account.id,
            },
            _ => Route::Unknown,
        },
    )
}

/// Where the resident's choice among several old accounts of `identifier` leads; `Unknown` when
/// `account` is not one of them (nor [`IN_USE`] at an address in use). At an address in use, an
/// old account is claimed ([`Route::ClaimPassword`], [`Route::ClaimLink`]).
pub fn route_chosen(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    identifier: &str,
    account: &str,
) -> Result<Route, OAuthError> {
    let identifier = identifier.trim();
    let Ok(email) = Email::parse(identifier) else {
        return Ok(Route::Unknown);
    };
    if account == IN_USE {
        let in_use =
            crate::flows::oidc::login::find_account(conn, Tenant::of(m.tenant), identifier)?
                .is_some_and(|u| u.email_normalized.as_deref() == Some(email.normalized()));
        return Ok(if in_use {
            Route::Account
        } else {
            Route::Unknown
        });
    }
    let Some(chosen) = legacy::unlinked_by_email(conn, Tenant::of(m.tenant), email.normalized())?
        .into_iter()
        .find(|a| a.id == account)
    else {
        return Ok(Route::Unknown);
    };
    if users::find_by_email(conn, Tenant::of(m.tenant), email.normalized())?.is_none() {
        return Ok(route_one(m, chosen));
    }
    Ok(if provable_by_password(m, &chosen) {
        Route::ClaimPassword(Box::new(chosen))
    } else {
        Route::ClaimLink(Box::new(chosen))
    })
}

fn route_one(m: &Minter<'_>, account: LegacyRow) -> Route {
    if m.tenant.policy == Policy::KeepPassword && account.has_usable_hash() {
        Route::Password {
            account: account.id,
        }
    } else {
        Route::SendLink(Box::new(account))
    }
}

fn unlinked_authority(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    username: &str,
) -> Result<Option<LegacyRow>, StoreError> {
    Ok(
        legacy::find_by_username(conn, tenant, &username.to_lowercase())?
            .filter(|a| a.is_authority && a.linked_user_id.is_none()),
    )
}

/// The old account a password login proves, when the identifier names no user: the chosen (or
/// only) unlinked account of the address under keep-password, or an authority account by its old
/// username; only accounts with a usable hash.
pub fn password_target(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    identifier: &str,
    chosen: Option<&str>,
) -> Result<Option<LegacyRow>, OAuthError> {
    let identifier = identifier.trim();
    let target = if let Ok(email) = Email::parse(identifier) {
        if m.tenant.policy != Policy::KeepPassword {
            return Ok(None);
        }
        let candidates = legacy::unlinked_by_email(conn, Tenant::of(m.tenant), email.normalized())?;
        match chosen.filter(|c| !c.is_empty()) {
            Some(id) => candidates.into_iter().find(|a| a.id == id),
            None if candidates.len() == 1 => candidates.into_iter().next(),
            None => None,
        }
    } else {
        unlinked_authority(conn, Tenant::of(m.tenant), identifier)?
    };
    Ok(target.filter(LegacyRow::has_usable_hash))
}

fn record(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    kind: &str,
    user: Option<&str>,
    detail: &serde_json::Value,
) -> Result<(), StoreError> {
    audit::record(
        conn,
        &audit::NewEvent {
            tenant_id: Some(&m.tenant.id),
            occurred_at: m.now,
            kind,
            user_id: user,
            client_id: None,
            remote_addr: m.remote_addr.as_deref(),
            detail: Some(&detail.to_string()),
        },
    )
}

/// Creates the user of a legacy account and binds the account, in one transaction: the user's
/// `sub` is the legacy subject, its username the old one. `None` when the account was bound
/// meanwhile, or its address or username now belongs to another user.
pub fn bind_new_user(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    account: &LegacyRow,
    password_hash: &str,
    email_verified: bool,
    by: &str,
) -> Result<Option<UserRow>, OAuthError> {
    bind_new_user_at(m, conn, account, None, password_hash, email_verified, by)
}

/// [`bind_new_user`], the user's address `address` (a claimant's own, proven by a link) instead of
/// the legacy account's.
fn bind_new_user_at(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    account: &LegacyRow,
    address: Option<&Email>,
    password_hash: &str,
    email_verified: bool,
    by: &str,
) -> Result<Option<UserRow>, OAuthError> {
    let id = store::new_id(m.now);
    let result = crate::store::write_transaction(conn, |conn| {
        let Some(current) = legacy::find(conn, Tenant::of(m.tenant), &account.id)? else {
            return Ok(None);
        };
        if current.linked_user_id.is_some() || current.tenant_id != m.tenant.id {
            return Ok(None);
        }
        let (email, email_normalized) = match address {
            Some(address) => (Some(address.as_entered()), Some(address.normalized())),
            None => (
                current.email.as_deref(),
                current.email_normalized.as_deref(),
            ),
        };
        if let Some(email) = email_normalized
            && users::find_by_email(conn, Tenant::of(m.tenant), email)?.is_some()
        {
            return Ok(None);
        }
        users::insert(
            conn,
            &users::NewUser {
                id: &id,
                tenant_id: &m.tenant.id,
                subject: &current.subject,
                email,
                email_normalized,
                email_verified: email.is_some() && email_verified,
                username: Some(&current.username),
                username_normalized: Some(&current.username_normalized),
                is_authority: current.is_authority,
                name: current.name.as_deref(),
                password_hash: Some(password_hash),
                password_changed_at: Some(m.now),
                created_at: m.now,
                updated_at: m.now,
            },
        )?;
        if !legacy::link(conn, Tenant::of(m.tenant), &current.id, &id, m.now)? {
            return Err(StoreError::Conflict(
                "the legacy account was bound meanwhile".into(),
            ));
        }
        links::void_for_legacy(conn, Tenant::of(m.tenant), &current.id, m.now)?;
        record(
            m,
            conn,
            "legacy.linked",
            Some(&id),
            &serde_json::json!({ "username": current.username, "by": by, "first": true }),
        )?;
        users::find(conn, Tenant::of(m.tenant), &id)
    });
    match result {
        Ok(user) => Ok(user),
        // A concurrent first login won: this one fails like a wrong password, and the
        // resident's next attempt logs in to the account it created.
        Err(StoreError::UniqueViolation(_) | StoreError::Conflict(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Binds another legacy account to an existing user (its subject joins `former_subjects`), in one
/// transaction with its audit event; false when it was bound meanwhile.
pub fn bind_to_user(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    account: &LegacyRow,
    user: &UserRow,
    by: &str,
) -> Result<bool, OAuthError> {
    Ok(crate::store::write_transaction(conn, |conn| {
        if !legacy::link(conn, Tenant::of(m.tenant), &account.id, &user.id, m.now)? {
            return Ok(false);
        }
        links::void_for_legacy(conn, Tenant::of(m.tenant), &account.id, m.now)?;
        record(
            m,
            conn,
            "legacy.linked",
            Some(&user.id),
            &serde_json::json!({ "username": account.username, "by": by, "first": false }),
        )?;
        Ok::<_, StoreError>(true)
    })?)
}

/// One account in the linker's mail.
#[derive(Debug, Serialize)]
struct MailedAccount {
    username: String,
    link: String,
}

/// Where the linker's mail goes, and what its links lead to.
#[derive(Debug, Clone, Copy)]
pub struct LinkMail<'a> {
    /// The address (the accounts').
    pub to: &'a str,
    /// The mail's language.
    pub language: Language,
    /// The pending login to continue after the link.
    pub request_id: Option<&'a str>,
    /// The user the accounts will be bound to (the account page); `None`: the first link opened
    /// creates it.
    pub user: Option<&'a str>,
}

/// Writes a link for each of `accounts` (all of one address) and one mail listing them, in one
/// transaction; returns the mail's id, or `None` when a mail limit is reached (nothing is written
/// then but the `mail.limited` event).
pub fn send_links(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    accounts: &[LegacyRow],
    mail: LinkMail<'_>,
) -> Result<Option<String>, OAuthError> {
    let LinkMail {
        to,
        language,
        request_id,
        user,
    } = mail;
    let recipient =
        Email::parse(to).map_or_else(|_| to.trim().to_lowercase(), |e| e.normalized().to_string());
    let link_seconds = i64::try_from(m.config.settings.tokens.link_seconds).unwrap_or(3600);
    crate::store::write_transaction(conn, |conn| {
        if !mail_limit::admit(
            m,
            conn,
            mail_limit::Mail {
                kind: PURPOSE,
                to: &recipient,
                user,
            },
        )? {
            return Ok(None);
        }
        // Only a pending request of this tenant reaches a link; anything else is left out.
        let request_id = mail_link::pending_request(m, conn, request_id)?;
        let mut mailed = Vec::new();
        for account in accounts {
            let token = secret::random_token();
            mailed.push(MailedAccount {
                username: account.username.clone(),
                link: mail_link::build(m, &["reset"], &[("token", &token)])?,
            });
            links::insert(
                conn,
                &LinkRow {
                    token_hash: secret::hash(&token),
                    tenant_id: m.tenant.id.clone(),
                    purpose: PURPOSE.into(),
                    user_id: user.map(str::to_string),
                    legacy_account_id: Some(account.id.clone()),
                    email: Some(to.to_string()),
                    auth_request_id: request_id.clone(),
                    payload: None,
                    created_at: m.now,
                    expires_at: m.now + Duration::seconds(link_seconds),
                    used_at: None,
                },
            )?;
        }
        let mut context = tera::Context::new();
        context.insert("tenant_name", &m.tenant.name);
        context.insert("accounts", &mailed);
        context.insert("adding", &user.is_some());
        context.insert("minutes", &(m.config.settings.tokens.link_seconds / 60));
        context.insert("support_email", &m.tenant.support.email);
        context.insert("support_phone", &m.tenant.support.phone);
        let rendered = mails
            .render(PURPOSE, language, &context)
            .map_err(OAuthError::server)?;
        let usernames: Vec<&str> = accounts.iter().map(|a| a.username.as_str()).collect();
        record(
            m,
            conn,
            "legacy.link_sent",
            user,
            &serde_json::json!({ "usernames": usernames }),
        )?;
        Ok(Some(mail::enqueue(
            conn,
            &m.tenant.id,
            PURPOSE,
            to,
            &rendered,
            m.now,
        )?))
    })
}

/// What a usable linker link leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkTarget {
    /// The first account of the address: the resident sets a password.
    SetPassword {
        /// The old username.
        username: String,
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
    /// A claim's address link: how the old account was proven (`password`, `link`).
    claim: Option<String>,
}

/// What a link of the claim carries in its payload.
#[derive(Debug, Serialize, Deserialize)]
struct ClaimPayload {
    /// How the old account was proven: `password` or `link`.
    claim: String,
}

impl ClaimPayload {
    fn json(proven: &str) -> Option<String> {
        serde_json::to_string(&ClaimPayload {
            claim: proven.to_string(),
        })
        .ok()
    }

    /// How the claim of `link` was proven, when `link` belongs to a claim.
    fn of(link: &LinkRow) -> Option<String> {
        link.payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<ClaimPayload>(p).ok())
            .map(|p| p.claim)
    }
}

/// The unbound old account of this tenant a link is for.
fn unbound_account(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    link: &LinkRow,
) -> Result<Option<LegacyRow>, StoreError> {
    Ok(link
        .legacy_account_id
        .as_deref()
        .map(|id| legacy::find(conn, Tenant::of(m.tenant), id))
        .transpose()?
        .flatten()
        .filter(|a| a.linked_user_id.is_none() && a.tenant_id == m.tenant.id))
}

/// The link, its unbound account, and the user it binds to (when there is one already).
fn open(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<OpenLink>, StoreError> {
    let Some(link) = links::find_usable(conn, Tenant::of(m.tenant), PURPOSE, token_hash, m.now)?
    else {
        return Ok(None);
    };
    let Some(account) = unbound_account(m, conn, &link)? else {
        return Ok(None);
    };
    let claim = ClaimPayload::of(&link);
    let user = match (&link.user_id, &link.email) {
        (Some(id), _) => match users::find(conn, Tenant::of(m.tenant), id)? {
            Some(user) => Some(user),
            // The account the link was for is gone.
            None => return Ok(None),
        },
        (None, Some(email)) => match Email::parse(email) {
            Ok(email) => users::find_by_email(conn, Tenant::of(m.tenant), email.normalized())?,
            Err(_) => None,
        },
        (None, None) => None,
    };
    if user.as_ref().is_some_and(|u| u.disabled) {
        return Ok(None);
    }
    // A claim creates the claimant's own user: never binds to an account of the address (it got
    // one meanwhile).
    if claim.is_some() && (user.is_some() || link.user_id.is_some()) {
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
) -> Result<Option<LinkTarget>, OAuthError> {
    Ok(open(m, conn, &secret::hash(token))?.map(|open| {
        let username = open.account.username;
        if open.user.is_some() {
            LinkTarget::Confirm { username }
        } else {
            LinkTarget::SetPassword { username }
        }
    }))
}

/// What following a linker link led to.
#[derive(Debug)]
pub enum Completed {
    /// The link is unknown, expired or used, or its account bound meanwhile.
    Expired,
    /// The first account of the address needs a password, and none was given.
    PasswordNeeded,
    /// Bound; the browser that started the pending login is logged in and goes on.
    Continue {
        /// The new session cookie.
        cookie: String,
        /// Consent or the answer to the client.
        outcome: Outcome,
    },
    /// Bound; nothing to continue here.
    Done,
}

/// Follows a linker link: the link used, and the account bound — to the user of the address, or
/// to a new user with `password_hash` — in one transaction; then the pending login continued.
pub fn complete(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
    password_hash: Option<&str>,
    binding: &str,
) -> Result<Completed, OAuthError> {
    let token_hash = secret::hash(token);
    let result = crate::store::write_transaction(conn, |conn| {
        let Some(open) = open(m, conn, &token_hash)? else {
            return Ok(Err(Completed::Expired));
        };
        let OpenLink {
            link,
            account,
            user,
            claim,
        } = open;
        if user.is_none() && password_hash.is_none() {
            return Ok(Err(Completed::PasswordNeeded));
        }
        // Used first: binding voids the account's other links.
        if !links::use_once(conn, Tenant::of(m.tenant), &token_hash, m.now)? {
            return Ok(Err(Completed::Expired));
        }
        let user = match user {
            Some(user) => {
                if !bind_to_user(m, conn, &account, &user, "link")? {
                    return Ok(Err(Completed::Expired));
                }
                user
            }
            None => {
                let Some(hash) = password_hash else {
                    return Ok(Err(Completed::PasswordNeeded));
                };
                let bound = match &claim {
                    Some(proven) => {
                        let Some(address) =
                            link.email.as_deref().and_then(|e| Email::parse(e).ok())
                        else {
                            return Ok(Err(Completed::Expired));
                        };
                        let user = bind_new_user_at(
                            m,
                            conn,
                            &account,
                            Some(&address),
                            hash,
                            true,
                            "claim",
                        )?;
                        if let Some(user) = &user {
                            record(
                                m,
                                conn,
                                "legacy.claimed",
                                Some(&user.id),
                                &serde_json::json!({
                                    "username": account.username,
                                    "proven": proven,
                                }),
                            )?;
                        }
                        user
                    }
                    None => bind_new_user(m, conn, &account, hash, true, "link")?,
                };
                match bound {
                    Some(user) => user,
                    None => return Ok(Err(Completed::Expired)),
                }
            }
        };
        Ok::<_, OAuthError>(Ok((link, user)))
    });
    let (link, user) = match result {
        Ok(Ok(done)) => done,
        Ok(Err(completed)) => return Ok(completed),
        Err(error) => return Err(error),
    };
    Ok(
        match crate::flows::reset::continue_pending(
            m,
            conn,
            link.auth_request_id.as_deref(),
            &user,
            binding,
        )? {
            Some((cookie, outcome)) => Completed::Continue { cookie, outcome },
            None => Completed::Done,
        },
    )
}

/// The first step of claiming an old account by its old password.
#[derive(Debug)]
pub enum ClaimPrepared {
    /// The pending login is unknown, expired or not this browser's.
    Expired,
    /// Check the old password (through [`crate::flows::password_check`]).
    Check(Box<ClaimCheck>),
}

/// What checking a claim's old password needs.
#[derive(Debug)]
pub struct ClaimCheck {
    request_id: String,
    /// The e-service the pending login is for.
    pub client_id: String,
    account: Option<LegacyRow>,
    /// The counter the check counts against: the claimed old account, or the identifier when
    /// the form named no account that can be claimed here.
    pub key: ThrottleKey,
    /// What the old password is checked against (a dummy argon2id hash when the form named no
    /// account that can be claimed, so that the answer takes as long).
    pub stored: Stored,
}

impl ClaimCheck {
    /// The claimed account's old username, when the form named one that can be claimed here.
    pub fn username(&self) -> Option<&str> {
        self.account.as_ref().map(|a| a.username.as_str())
    }
}

/// Step one of a claim by the old password: the pending login and the chosen old account of the
/// address in use. The check itself is throttled and counted by the caller's
/// [`crate::flows::password_check::PasswordCheck::run`].
pub fn prepare_claim(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request_id: &str,
    binding: &str,
    identifier: &str,
    account: &str,
) -> Result<ClaimPrepared, OAuthError> {
    let Some((row, _)) =
        crate::flows::oidc::authorize::pending(m, conn, request_id, Some(binding))?
    else {
        return Ok(ClaimPrepared::Expired);
    };
    let account = match route_chosen(m, conn, identifier, account)? {
        Route::ClaimPassword(account) => Some(*account),
        _ => None,
    };
    let (key, stored) = match account
        .as_ref()
        .and_then(|a| a.password_hash.clone().map(|hash| (a, hash)))
    {
        Some((account, hash)) => (
            ThrottleKey::Legacy(account.id.clone()),
            Stored::Legacy {
                hash,
                salted: m.tenant.legacy.salted_sha.clone(),
            },
        ),
        None => (
            ThrottleKey::Unknown(identifier.trim().to_lowercase()),
            Stored::Argon2(DUMMY_HASH.to_string()),
        ),
    };
    Ok(ClaimPrepared::Check(Box::new(ClaimCheck {
        request_id: row.id,
        client_id: row.client_id,
        account,
        key,
        stored,
    })))
}

/// A claim's proof: the token the own-address page carries, and the old username.
#[derive(Debug)]
pub struct Proven {
    /// The claim token (secret), for the own-address form.
    pub token: String,
    /// The old username.
    pub username: String,
}

/// Step three of a claim by the old password: a failure counts in the throttle like a wrong
/// password at login (and a success clears nothing: the counters are the address's); a match
/// gives the claim token of the own-address page.
pub fn finish_claim(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    check: ClaimCheck,
    matches: bool,
) -> Result<Option<Proven>, OAuthError> {
    committed(conn, |conn| {
        let account = match check.account {
            Some(account) if matches => account,
            _ => {
                audit::record(
                    conn,
                    &audit::NewEvent {
                        tenant_id: Some(&m.tenant.id),
                        occurred_at: m.now,
                        kind: "login.failed",
                        user_id: None,
                        client_id: Some(&check.client_id),
                        remote_addr: m.remote_addr.as_deref(),
                        detail: Some(&serde_json::json!({ "claim": true }).to_string()),
                    },
                )?;
                return Ok(None);
            }
        };
        let (token, row) = claim_link(m, &account, Some(&check.request_id), None, "password");
        links::insert(conn, &row)?;
        Ok(Some(Proven {
            token,
            username: account.username,
        }))
    })
}

/// A new claim token for `account` and its row.
fn claim_link(
    m: &Minter<'_>,
    account: &LegacyRow,
    request_id: Option<&str>,
    sent_to: Option<&str>,
    proven: &str,
) -> (String, LinkRow) {
    let link_seconds = i64::try_from(m.config.settings.tokens.link_seconds).unwrap_or(3600);
    let token = secret::random_token();
    let row = LinkRow {
        token_hash: secret::hash(&token),
        tenant_id: m.tenant.id.clone(),
        purpose: CLAIM.into(),
        user_id: None,
        legacy_account_id: Some(account.id.clone()),
        email: sent_to.map(str::to_string),
        auth_request_id: request_id.map(str::to_string),
        payload: ClaimPayload::json(proven),
        created_at: m.now,
        expires_at: m.now + Duration::seconds(link_seconds),
        used_at: None,
    };
    (token, row)
}

fn claim_mail(
    m: &Minter<'_>,
    mails: &Mails,
    language: Language,
    mode: &str,
    accounts: &[MailedAccount],
) -> Result<mail::Rendered, OAuthError> {
    let mut context = tera::Context::new();
    context.insert("tenant_name", &m.tenant.name);
    context.insert("accounts", accounts);
    context.insert("adding", &false);
    context.insert("mode", mode);
    context.insert("minutes", &(m.config.settings.tokens.link_seconds / 60));
    context.insert("support_email", &m.tenant.support.email);
    context.insert("support_phone", &m.tenant.support.phone);
    mails
        .render(PURPOSE, language, &context)
        .map_err(OAuthError::server)
}

/// Claiming an old account of an address in use that its old password cannot prove: a claim link
/// mailed to the account's (shared) address, in one transaction with its audit event; returns the
/// mail's id, or `None` when a mail limit held it back.
pub fn send_claim_link(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    account: &LegacyRow,
    language: Language,
    request_id: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    let to = account.email.clone().unwrap_or_default();
    let (token, row) = claim_link(m, account, request_id, Some(&to), "link");
    let mailed = [MailedAccount {
        username: account.username.clone(),
        link: mail_link::build(m, &["claim"], &[("token", &token)])?,
    }];
    let rendered = claim_mail(m, mails, language, "claim", &mailed)?;
    crate::store::write_transaction(conn, |conn| {
        let limited = !mail_limit::admit(
            m,
            conn,
            mail_limit::Mail {
                kind: PURPOSE,
                to: account.email_normalized.as_deref().unwrap_or_default(),
                user: None,
            },
        )?;
        if limited {
            return Ok(None);
        }
        links::insert(conn, &row)?;
        record(
            m,
            conn,
            "legacy.link_sent",
            None,
            &serde_json::json!({ "usernames": [&account.username], "claim": true }),
        )?;
        Ok(Some(mail::enqueue(
            conn,
            &m.tenant.id,
            PURPOSE,
            &to,
            &rendered,
            m.now,
        )?))
    })
}

/// The usable claim token `token` and its unbound account.
fn open_claim(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<(LinkRow, LegacyRow)>, StoreError> {
    let Some(link) = links::find_usable(conn, Tenant::of(m.tenant), CLAIM, token_hash, m.now)?
    else {
        return Ok(None);
    };
    Ok(unbound_account(m, conn, &link)?.map(|account| (link, account)))
}

/// The old username a claim token is for, or `None` when it is unknown, expired, used or its
/// account bound.
pub fn claim_target(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<String>, OAuthError> {
    Ok(open_claim(m, conn, &secret::hash(token))?.map(|(_, account)| account.username))
}

/// What giving one's own address led to.
#[derive(Debug)]
pub enum Claimed {
    /// The claim token is unknown, expired, used, or its account bound.
    Expired,
    /// A mail was written (the link to the address, or the notice to an address in use: the page
    /// reads the same); its id, or `None` when a mail limit held it back (the page reads the
    /// same again, and the claim token stays usable).
    Mailed(Option<String>),
}

/// The claimant's own address: the claim token used, and one mail written, in one transaction —
/// to an address without a user, the link that sets the password and creates the user with the
/// old subject; to an address of a user, a notice that nothing was changed (no takeover, and the
/// page does not tell which).
pub fn submit_claim(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    token: &str,
    address: &Email,
    language: Language,
) -> Result<Claimed, OAuthError> {
    let token_hash = secret::hash(token);
    let link_seconds = i64::try_from(m.config.settings.tokens.link_seconds).unwrap_or(3600);
    let address_token = secret::random_token();
    crate::store::write_transaction(conn, |conn| {
        let Some((claim, account)) = open_claim(m, conn, &token_hash)? else {
            return Ok(Claimed::Expired);
        };
        let owner = users::find_by_email(conn, Tenant::of(m.tenant), address.normalized())?;
        // The mail goes to the address given (or, when it has an account, to its stored one):
        // counted against that recipient before anything is written.
        let admitted = mail_limit::admit(
            m,
            conn,
            mail_limit::Mail {
                kind: PURPOSE,
                to: address.normalized(),
                user: owner.as_ref().map(|u| u.id.as_str()),
            },
        )?;
        if !admitted {
            return Ok(Claimed::Mailed(None));
        }
        if !links::use_once(conn, Tenant::of(m.tenant), &token_hash, m.now)? {
            return Ok(Claimed::Expired);
        }
        let proven = ClaimPayload::of(&claim).unwrap_or_else(|| "link".into());
        if let Some(owner) = owner {
            // Only to the stored address, never to the text as typed.
            let to = owner.email.clone().unwrap_or_default();
            let rendered = claim_mail(m, mails, language, "claim_taken", &[])?;
            record(
                m,
                conn,
                "legacy.claim_refused",
                None,
                &serde_json::json!({
                    "username": account.username,
                    "proven": proven,
                    "reason": "address_in_use",
                }),
            )?;
            return Ok(Claimed::Mailed(Some(mail::enqueue(
                conn,
                &m.tenant.id,
                PURPOSE,
                &to,
                &rendered,
                m.now,
            )?)));
        }
        links::insert(
            conn,
            &LinkRow {
                token_hash: secret::hash(&address_token),
                tenant_id: m.tenant.id.clone(),
                purpose: PURPOSE.into(),
                user_id: None,
                legacy_account_id: Some(account.id.clone()),
                email: Some(address.as_entered().to_string()),
                auth_request_id: claim.auth_request_id.clone(),
                payload: ClaimPayload::json(&proven),
                created_at: m.now,
                expires_at: m.now + Duration::seconds(link_seconds),
                used_at: None,
            },
        )?;
        let mailed = [MailedAccount {
            username: account.username.clone(),
            link: mail_link::build(m, &["reset"], &[("token", &address_token)])?,
        }];
        let rendered = claim_mail(m, mails, language, "claim_address", &mailed)?;
        record(
            m,
            conn,
            "legacy.link_sent",
            None,
            &serde_json::json!({
                "usernames": [&account.username],
                "claim": true,
                "proven": proven,
            }),
        )?;
        Ok(Claimed::Mailed(Some(mail::enqueue(
            conn,
            &m.tenant.id,
            PURPOSE,
            address.as_entered(),
            &rendered,
            m.now,
        )?)))
    })
}

/// The old usernames and subjects bound to a user, for the `former_usernames` and
/// `former_subjects` claims.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Former {
    /// Every old username bound to the account, the first bound first.
    pub usernames: Vec<String>,
    /// The subjects of the old accounts bound after the first (the first is `sub`).
    pub subjects: Vec<String>,
}

/// What the claims say of a user's old accounts.
pub fn former(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user: &UserRow,
) -> Result<Former, StoreError> {
    let linked = legacy::linked_to(conn, tenant, &user.id)?;
    Ok(Former {
        usernames: linked.iter().map(|a| a.username.clone()).collect(),
        subjects: linked
            .into_iter()
            .map(|a| a.subject)
            .filter(|s| *s != user.subject)
            .collect(),
    })
}

/// What the account page shows of a user's old accounts.
#[derive(Debug, Clone, Default)]
pub struct Olds {
    /// The old usernames bound to the account.
    pub bound: Vec<String>,
    /// The unbound old accounts of the user's address, which the resident can bind.
    pub linkable: Vec<LegacyRow>,
}

/// The old accounts bound to `user`, and those of its address still unbound.
pub fn olds(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user: &UserRow,
) -> Result<Olds, StoreError> {
    let bound = legacy::linked_to(conn, tenant, &user.id)?
        .into_iter()
        .map(|a| a.username)
        .collect();
    let linkable = match &user.email_normalized {
        Some(email) => legacy::unlinked_by_email(conn, tenant, email)?,
        None => Vec::new(),
    };
    Ok(Olds { bound, linkable })
}

/// An unbound old account of `user`'s address, by id.
pub fn linkable(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user: &UserRow,
    account: &str,
) -> Result<Option<LegacyRow>, StoreError> {
    Ok(olds(conn, tenant, user)?
        .linkable
        .into_iter()
        .find(|a| a.id == account))
}

/// Whether an old account may be proven by its old password here (else by a mailed link).
pub fn provable_by_password(m: &Minter<'_>, account: &LegacyRow) -> bool {
    m.tenant.policy == Policy::KeepPassword && account.has_usable_hash()
}

/// A username as the choice page shows it when the tenant masks them: the first and last
/// character, the rest as `*` ("m*****a").
pub fn mask(username: &str) -> String {
    let chars: Vec<char> = username.chars().collect();
    match chars.as_slice() {
        [] => String::new(),
        [only] => format!("{only}*"),
        [first, middle @ .., last] => {
            format!("{first}{}{last}", "*".repeat(middle.len().max(1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn masking_keeps_the_ends_and_hides_the_length_of_short_names() {
        assert_eq!(mask("matti.meikalainen"), "m***************n");
        assert_eq!(mask("ab"), "a*b");
        assert_eq!(mask("a"), "a*");
        assert_eq!(mask("äiti"), "ä**i");
        assert_eq!(mask(""), "");
    }
}
