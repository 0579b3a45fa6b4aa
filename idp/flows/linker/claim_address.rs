//! The last step of a claim (`claims.rs`): the claimant's own address, given with the claim
//! token, and the one mail it leads to.

use serde_json::json;

use super::claims::CLAIM;
use super::links::{self, ClaimPayload, MailedAccount, PURPOSE, unbound_account};
use crate::config::Language;
use crate::crypto::secret;
use crate::domain::Email;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::{mail_limit, mail_link};
use crate::mail::{self, Mails};
use crate::store::legacy::LegacyRow;
use crate::store::links::LinkRow;
use crate::store::{self, DbConnection, StoreError, Tenant, users};

/// The usable claim token `token` and its unbound account.
fn open_claim(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<(LinkRow, LegacyRow)>, StoreError> {
    let tenant = Tenant::of(m.tenant);
    let Some(link) = store::links::find_usable(conn, tenant, CLAIM, token_hash, m.now)? else {
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
) -> Result<Option<String>, FlowError> {
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
) -> Result<Claimed, FlowError> {
    let token_hash = secret::hash(token);
    let address_token = secret::random_token();
    let tenant = Tenant::of(m.tenant);
    store::write_transaction(conn, |conn| {
        let Some((claim, account)) = open_claim(m, conn, &token_hash)? else {
            return Ok(Claimed::Expired);
        };
        let owner = users::find_by_email(conn, tenant, address.normalized())?;
        // The mail goes to the address given (or, when it has an account, to its stored one):
        // counted against that recipient before anything is written.
        let counted = mail_limit::Mail {
            kind: PURPOSE,
            to: address.normalized(),
            user: owner.as_ref().map(|u| u.id.as_str()),
            budget: mail_limit::Budget::Shared,
        };
        if !mail_limit::admit(m, conn, counted)? {
            return Ok(Claimed::Mailed(None));
        }
        if !store::links::use_once(conn, tenant, &token_hash, m.now)? {
            return Ok(Claimed::Expired);
        }
        // The proof travels on to the address link (a password's with the hash it matched).
        let mailed_to = claim.email.clone().unwrap_or_default();
        let proof = ClaimPayload::of(&claim).unwrap_or_else(|| ClaimPayload::by_link(&mailed_to));
        let proven = proof.proven();
        let recipient = owner.as_ref().map(|owner| owner.id.clone());
        let (to, rendered, lists) = match owner {
            Some(owner) => {
                m.audit("legacy.claim_refused")
                    .detail(&json!({
                        "account": account.id,
                        "proven": proven,
                        "reason": "address_in_use",
                    }))
                    .record(conn)?;
                // Only to the stored address, never to the text as typed; in its owner's
                // language.
                let language = crate::flows::notice::owner_language(m, &owner, language);
                let to = owner.email.unwrap_or_default();
                let rendered = links::render(m, mails, language, &[], false, Some("claim_taken"))?;
                (to, rendered, None)
            }
            None => {
                let row = LinkRow {
                    legacy_account_id: Some(account.id.clone()),
                    email: Some(address.as_entered().to_string()),
                    auth_request_id: claim.auth_request_id.clone(),
                    payload: proof.json(),
                    ..mail_link::row(m, PURPOSE, &address_token)
                };
                store::links::insert(conn, &row)?;
                m.audit("legacy.link_sent")
                    .detail(&json!({
                        "accounts": [&account.id],
                        "claim": true,
                        "proven": proven,
                    }))
                    .record(conn)?;
                let mailed = [MailedAccount::new(m, &account, "reset", &address_token)?];
                let mode = Some("claim_address");
                let to = address.as_entered().to_string();
                let rendered = links::render(m, mails, language, &mailed, false, mode)?;
                (to, rendered, Some(account.id.as_str()))
            }
        };
        let about = (m.tenant.id.as_str(), recipient.as_deref());
        let id = mail::enqueue(conn, about, PURPOSE, &to, &rendered, m.now)?;
        let written = links::naming(conn, Some(id), lists.as_slice())?;
        Ok(Claimed::Mailed(written))
    })
}
