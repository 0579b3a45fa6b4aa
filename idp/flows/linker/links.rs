//! The linker's links and mails: a set-password link per old account of an address (or, for a
//! claim, per claimed account), one mail listing them, and what a link's row carries.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::Language;
use crate::crypto::secret;
use crate::domain::{Email, lookup_key};
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::mail_limit::{self, Budget};
use crate::flows::mail_link;
use crate::mail::{Mails, Rendered};
use crate::store::legacy::{self, LegacyRow};
use crate::store::links::{self, LinkRow};
use crate::store::{self, DbConnection, StoreError, Tenant};

/// The purpose of the linker's mailed links (and the kind of its mails).
pub const PURPOSE: &str = "legacy_link";

/// One account in the linker's mail.
#[derive(Debug, Serialize)]
pub(super) struct MailedAccount {
    /// The old username.
    pub(super) username: String,
    /// Its link.
    pub(super) link: String,
}

impl MailedAccount {
    /// `account` with a link to `path` carrying `token`.
    pub(super) fn new(
        m: &Minter<'_>,
        account: &LegacyRow,
        path: &str,
        token: &str,
    ) -> Result<MailedAccount, FlowError> {
        Ok(MailedAccount {
            username: account.username.clone(),
            link: mail_link::build(m, &[path], &[("token", token)])?,
        })
    }
}

/// The linker's mail listing `accounts`: `adding` when they join a user's account (the account
/// page), `mode` the claim's step when it is one of the claim's mails.
pub(super) fn render(
    m: &Minter<'_>,
    mails: &Mails,
    language: Language,
    accounts: &[MailedAccount],
    adding: bool,
    mode: Option<&str>,
) -> Result<Rendered, FlowError> {
    let mut context = mail_link::context(m);
    context.insert("accounts", accounts);
    context.insert("adding", &adding);
    if let Some(mode) = mode {
        context.insert("mode", mode);
    }
    mail_link::render(mails, PURPOSE, language, &context)
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
    /// The recipient's budget the mail is counted in: forgot password's for a forgot request,
    /// else the shared one.
    pub budget: Budget,
}

/// The linker's links for the old accounts `at_address` (read by `email`, unbound), mailed to
/// their stored address (not the text as typed), for a mail nobody signed in asked for: a
/// registration of the address, or "forgot password" for it. `None` when there are none: the
/// caller goes on as for an address without old accounts.
pub fn send_to_unbound(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    at_address: &[LegacyRow],
    (email, language, request_id, budget): (&Email, Language, Option<&str>, Budget),
) -> Option<Result<Option<String>, FlowError>> {
    let first = at_address.first()?;
    let mail = LinkMail {
        to: first.email.as_deref().unwrap_or(email.as_entered()),
        language,
        request_id,
        user: None,
        budget,
    };
    Some(send_links(m, conn, mails, at_address, mail))
}

/// Writes a link for each of `accounts` (all of one address) and one mail listing them, in one
/// transaction; returns the mail's id, or `None` when a mail limit is reached (nothing is written
/// then but the `mail.limited` event).
///
/// The accounts are read again inside the transaction, and only those still unbound at the
/// recipient's address get a link: the caller read them in an earlier transaction, and support's
/// correction of an address (`idp legacy set-email`) or a re-import may have voided their links
/// since — a link mailed to the stale address would bind the account with the new one, verified,
/// for whoever reads the old. An authority account gets none either: its old password is its
/// only proof. When none is left nothing is written but the mail's count against the limits,
/// and the answer is `None`, as past a limit (the page reads the same).
pub fn send_links(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    accounts: &[LegacyRow],
    mail: LinkMail<'_>,
) -> Result<Option<String>, FlowError> {
    let LinkMail {
        to,
        language,
        request_id,
        user,
        budget,
    } = mail;
    let recipient = recipient(to);
    let counted = mail_limit::Mail {
        kind: PURPOSE,
        to: &recipient,
        user,
        budget,
    };
    store::write_transaction(conn, |conn| {
        let at_address = legacy::unlinked_by_email(conn, Tenant::of(m.tenant), &recipient)?;
        let crowded = legacy::crowded(&at_address);
        let current: Vec<LegacyRow> = at_address
            .into_iter()
            .filter(|a| !a.is_authority && accounts.iter().any(|read| read.id == a.id))
            .collect();
        if current.is_empty() || crowded {
            // Counted as the mail would be, and nothing written: else a registration of an
            // authority's address would spend no budget, which a client address's last mail
            // would tell. Too many accounts at the address are support's to bind.
            mail_limit::admit(m, conn, counted)?;
            return Ok(None);
        }
        let ids: Vec<&str> = current.iter().map(|a| a.id.as_str()).collect();
        let written = mail_limit::write(m, conn, counted, to, |conn| {
            // Only a pending request of this tenant reaches a link; anything else is left out.
            let request_id = mail_link::pending_request(m, conn, request_id)?;
            let mut mailed = Vec::new();
            for account in &current {
                let token = secret::random_token();
                mailed.push(MailedAccount::new(m, account, "reset", &token)?);
                let row = LinkRow {
                    user_id: user.map(str::to_string),
                    legacy_account_id: Some(account.id.clone()),
                    email: Some(to.to_string()),
                    auth_request_id: request_id.clone(),
                    ..mail_link::row(m, PURPOSE, &token)
                };
                links::insert(conn, &row)?;
            }
            // The old accounts by their ids, never their usernames: the event may have no user,
            // so an erasure would not pseudonymise it (a tombstoned account's id names nobody).
            m.audit("legacy.link_sent")
                .user(user)
                .detail(&json!({ "accounts": ids }))
                .record(conn)?;
            render(m, mails, language, &mailed, user.is_some(), None)
        })?;
        naming(conn, written, &ids)
    })
}

/// The mail `written` (when one was) named by the old accounts `ids` it lists
/// (`outbox::name_old_accounts`): an erasure or support's deletion of one takes it along.
pub(super) fn naming(
    conn: &mut DbConnection,
    written: Option<String>,
    ids: &[&str],
) -> Result<Option<String>, FlowError> {
    if let Some(id) = &written
        && !ids.is_empty()
    {
        crate::store::outbox::name_old_accounts(conn, id, ids)?;
    }
    Ok(written)
}

/// What a link of the claim carries in its payload.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ClaimPayload {
    /// How the old account was proven: `password` or `link`.
    claim: String,
    /// Proven by the old password: the SHA-256 of the old hash it was checked against. The claim
    /// holds only while the account still has that hash (a re-import may replace it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
    /// Proven by a link: the address (normalised) it was mailed to. The claim holds only while
    /// that is still the account's address ([`still_proves`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sent_to: Option<String>,
}

impl ClaimPayload {
    /// A claim proven by the old password, checked against the old hash `checked`.
    pub(super) fn by_password(checked: Option<&str>) -> ClaimPayload {
        ClaimPayload {
            claim: "password".into(),
            hash: checked.map(secret::hash),
            sent_to: None,
        }
    }

    /// A claim proven by a link mailed to the account's (shared) address `to`.
    pub(super) fn by_link(to: &str) -> ClaimPayload {
        ClaimPayload {
            claim: "link".into(),
            hash: None,
            sent_to: Some(recipient(to)),
        }
    }

    /// How the claim was proven: `password` or `link`.
    pub(super) fn proven(&self) -> &str {
        &self.claim
    }

    /// The payload as stored.
    pub(super) fn json(&self) -> Option<String> {
        serde_json::to_string(self).ok()
    }

    /// The claim of `link`, when `link` belongs to a claim.
    pub(super) fn of(link: &LinkRow) -> Option<ClaimPayload> {
        link.payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<ClaimPayload>(p).ok())
    }

    /// The old hash that proved the claim, as `account` holds it now, for a binding that must find
    /// it unchanged; `None` when a link proved it.
    pub(super) fn proven_hash<'a>(&self, account: &'a LegacyRow) -> Option<&'a str> {
        account
            .password_hash
            .as_deref()
            .filter(|_| self.claim == "password")
    }
}

/// Whether `link` still proves `account` as it is now. An authority account is proven by its old
/// password only: no mailed link binds it but the own-address link of a claim its old password
/// proved. A claim proven by the old password holds only while the account's hash is the one
/// the password was checked against: a re-import that replaced it (a password changed in the old
/// system) ends the claim, as it ends a login by the old password.
///
/// The linker's own link (no claim) proves the mailbox it was sent to: only while that is still
/// the account's address. Support's correction of the address (`idp legacy set-email`) and a
/// re-import that changes it void such links, and [`send_links`] reads the account again before
/// it writes one; on PostgreSQL a link written while a correction commits could still escape the
/// void, and would bind the account with the corrected address, verified, for whoever reads the
/// stale one.
fn still_proves(link: &LinkRow, account: &LegacyRow) -> bool {
    match ClaimPayload::of(link) {
        Some(claim) if claim.claim == "password" => {
            claim.hash.is_some() && claim.hash == account.password_hash.as_deref().map(secret::hash)
        }
        // A link's proof: the mailbox it was mailed to, while that is still the account's
        // address (as for the linker's own link below). A proof written before it named its
        // mailbox: the claim link's own address (the claim link is the one not of [`PURPOSE`]);
        // an own-address link of such a proof, as before (it lives a link's lifetime at most).
        Some(claim) => {
            let proved = match (claim.sent_to, link.purpose != PURPOSE) {
                (Some(sent_to), _) => Some(sent_to) == account.email_normalized,
                (None, true) => link.email.as_deref().map(recipient) == account.email_normalized,
                (None, false) => true,
            };
            !account.is_authority && proved
        }
        None => {
            let sent_to = link.email.as_deref().map(recipient);
            !account.is_authority && sent_to.is_some() && sent_to == account.email_normalized
        }
    }
}

/// The key of an address a link is mailed to: normalised as the accounts' addresses are (a stored
/// address no longer valid too).
fn recipient(to: &str) -> String {
    lookup_key(to)
}

/// The unbound old account of this tenant a link is for, while the link still proves it
/// ([`still_proves`]).
pub(super) fn unbound_account(
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
        .filter(|a| a.linked_user_id.is_none() && a.tenant_id == m.tenant.id)
        .filter(|a| still_proves(link, a)))
}
