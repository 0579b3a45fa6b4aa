//! A family's shared address: another resident claims their own old account of an address in use.
//! They prove it — by its old password (under the keep-password rule) or by a link mailed to the
//! shared address — and get a claim token; with it they give their own address
//! (`claim_address.rs`), and the link mailed there creates their user with the old subject.

use serde_json::json;

use super::links::{self, ClaimPayload, MailedAccount, PURPOSE};
use super::route::{Route, login_key, route_chosen};
use crate::config::Language;
use crate::crypto::secret;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::mail_limit;
use crate::flows::mail_link;
use crate::flows::oidc::pending;
use crate::flows::password_check::{DUMMY_HASH, Stored};
use crate::mail::Mails;
use crate::store::legacy::{self, LegacyRow};
use crate::store::links::LinkRow;
use crate::store::throttle::ThrottleKey;
use crate::store::{self, DbConnection, Tenant};
use crate::telemetry::metrics::LoginOutcome;

/// The purpose of a claim's proof: the link mailed to a shared address, or the token the address
/// page carries after the old password proved the account. It leads to the own-address page.
pub const CLAIM: &str = "legacy_claim";

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
) -> Result<ClaimPrepared, FlowError> {
    let at_login = |step: &pending::Step| *step == pending::Step::Login;
    let Some((row, _)) = pending::pending_at(m, conn, request_id, Some(binding), at_login)? else {
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
        // Nothing to claim: the check counts where a login of the identifier would (its
        // account's counter, an old account's, or the unknown identifier's), so that the two
        // are never blocked apart.
        None => (
            login_key(m, conn, identifier)?,
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
) -> Result<Option<Proven>, FlowError> {
    store::write_transaction(conn, |conn| {
        let account = match check.account {
            Some(account) if matches => account,
            _ => {
                m.audit("login.failed")
                    .client(check.client_id.as_str())
                    .detail(&json!({ "claim": true }))
                    .record(conn)?;
                m.count_login(LoginOutcome::WrongPassword);
                return Ok(None);
            }
        };
        // The claim holds only while the account keeps the hash the password matched.
        let proof = ClaimPayload::by_password(account.password_hash.as_deref());
        let (token, row) = claim_link(m, &account, Some(&check.request_id), None, &proof);
        store::links::insert(conn, &row)?;
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
    proof: &ClaimPayload,
) -> (String, LinkRow) {
    let token = secret::random_token();
    let row = LinkRow {
        legacy_account_id: Some(account.id.clone()),
        email: sent_to.map(str::to_string),
        auth_request_id: request_id.map(str::to_string),
        payload: proof.json(),
        ..mail_link::row(m, CLAIM, &token)
    };
    (token, row)
}

/// Claiming an old account of an address in use that its old password cannot prove: a claim link
/// mailed to the account's (shared) address, in one transaction with its audit event; returns the
/// mail's id, or `None` when a mail limit held it back.
///
/// The account is read again in the transaction: only while it is still unbound at the address
/// it was read with, and not an authority's (proven by its old password only), is anything
/// written; else nothing is, and the answer is `None` too (the page reads the same). Support's
/// correction of the address, committed since the caller read it, voided the links to the old
/// one and must not be followed by a fresh one.
pub fn send_claim_link(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    account: &LegacyRow,
    language: Language,
    request_id: Option<&str>,
) -> Result<Option<String>, FlowError> {
    let to = account.email.clone().unwrap_or_default();
    let proof = ClaimPayload::by_link(&to);
    let (token, row) = claim_link(m, account, request_id, Some(&to), &proof);
    let mailed = [MailedAccount::new(m, account, "claim", &token)?];
    let rendered = links::render(m, mails, language, &mailed, false, Some("claim"))?;
    let counted = mail_limit::Mail {
        kind: PURPOSE,
        to: account.email_normalized.as_deref().unwrap_or_default(),
        user: None,
        budget: mail_limit::Budget::Shared,
    };
    store::write_transaction(conn, |conn| {
        let still = legacy::find(conn, Tenant::of(m.tenant), &account.id)?.is_some_and(|now| {
            now.linked_user_id.is_none()
                && !now.is_authority
                && now.email_normalized.is_some()
                && now.email_normalized == account.email_normalized
        });
        if !still {
            return Ok(None);
        }
        let written = mail_limit::write(m, conn, counted, &to, |conn| {
            store::links::insert(conn, &row)?;
            m.audit("legacy.link_sent")
                .detail(&json!({ "accounts": [&account.id], "claim": true }))
                .record(conn)?;
            Ok(rendered)
        })?;
        links::naming(conn, written, &[account.id.as_str()])
    })
}
