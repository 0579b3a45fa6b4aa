//! Registration, step one: the address given, and one mail to it — the registration link, the
//! "you have an account" notice, or the linker's links when old accounts have the address.

use serde_json::json;

use crate::config::Language;
use crate::crypto::secret;
use crate::domain::Email;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::linker::links::send_to_unbound;
use crate::flows::mail_limit::Budget;
use crate::flows::{mail_limit, mail_link};
use crate::mail::Mails;
use crate::store::links::{self, LinkRow};
use crate::store::users::UserRow;
use crate::store::{self, DbConnection, Tenant, legacy, users};

/// The purpose of registration links.
pub const PURPOSE: &str = "register";

/// Writes the registration link (or the "you have an account" mail, or the linker's links) for
/// `email`, in one transaction with the audit event of the request (only when a mail is written);
/// returns the mail's id, or `None` when a mail limit is reached (the page says the same either
/// way).
pub fn start(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    email: &Email,
    language: Language,
    request_id: Option<&str>,
) -> Result<Option<String>, FlowError> {
    let tenant = Tenant::of(m.tenant);
    store::write_transaction(conn, |conn| {
        // Only a pending request of this tenant reaches a link; anything else is left out.
        let request_id = mail_link::pending_request(m, conn, request_id)?;
        let request_id = request_id.as_deref();
        let existing = users::find_by_email(conn, tenant, email.normalized())?;
        // An old account's address goes through the linker: a fresh subject would split the
        // resident's history.
        let legacy = match existing {
            Some(_) => Vec::new(),
            None => legacy::unlinked_by_email(conn, tenant, email.normalized())?,
        };
        let outcome = match (&existing, legacy.is_empty()) {
            (Some(_), _) => "account_exists",
            (None, false) => "legacy",
            (None, true) => "new",
        };
        let asked = (email, language, request_id, Budget::Shared);
        let written = if let Some(user) = &existing {
            account_exists(m, conn, mails, user, email, language, request_id)?
        } else if let Some(sent) = send_to_unbound(m, conn, mails, &legacy, asked) {
            sent?
        } else {
            let counted = mail_limit::Mail {
                kind: PURPOSE,
                to: email.normalized(),
                user: None,
                budget: Budget::Shared,
            };
            mail_limit::write(m, conn, counted, email.as_entered(), |conn| {
                let token = secret::random_token();
                let context = mail_link::link_context(m, &["register", "complete"], &token)?;
                let row = LinkRow {
                    email: Some(email.as_entered().to_string()),
                    auth_request_id: request_id.map(str::to_string),
                    ..mail_link::row(m, PURPOSE, &token)
                };
                links::insert(conn, &row)?;
                mail_link::render(mails, PURPOSE, language, &context)
            })?
        };
        // Audited only with its mail: a request the limits refused is the window's one
        // `mail.limited`, not an event each (anyone can post the form in a loop).
        if written.is_some() {
            m.audit("user.registration_requested")
                .user(existing.as_ref().map(|u| u.id.as_str()))
                .detail(&json!({ "outcome": outcome }))
                .record(conn)?;
        }
        Ok(written)
    })
}

/// The "you have an account" mail, to the account's stored address, with a link to forgot
/// password (continuing `request_id`, a validated pending request, when there is one).
fn account_exists(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    user: &UserRow,
    email: &Email,
    language: Language,
    request_id: Option<&str>,
) -> Result<Option<String>, FlowError> {
    const KIND: &str = "account_exists";
    let counted = mail_limit::Mail {
        kind: KIND,
        to: email.normalized(),
        user: Some(&user.id),
        budget: Budget::Shared,
    };
    let to = user.email.as_deref().unwrap_or(email.as_entered());
    mail_limit::write(m, conn, counted, to, |_| {
        let query: Vec<(&str, &str)> = request_id.map(|id| ("request", id)).into_iter().collect();
        let mut context = mail_link::context(m);
        context.insert("forgot_link", &mail_link::build(m, &["forgot"], &query)?);
        let language = crate::flows::notice::owner_language(m, user, language);
        mail_link::render(mails, KIND, language, &context)
    })
}
