//! A change of address, step one: a confirmation link mailed to the new address.

use serde_json::json;

use crate::config::Language;
use crate::crypto::secret;
use crate::domain::Email;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::{mail_limit, mail_link};
use crate::mail::Mails;
use crate::store::links::{self, LinkRow};
use crate::store::users::UserRow;
use crate::store::{self, DbConnection, Tenant, users};

/// The purpose of links to a new address.
pub const CONFIRM: &str = "change_email";
/// The purpose of undo links to the old address.
pub const UNDO: &str = links::UNDO_EMAIL_CHANGE;
/// How long the undo link works.
pub const UNDO_DAYS: i64 = 14;

/// The row of a link of `purpose` for `user`, sent to `email`, usable as long as every mailed
/// link.
pub(super) fn link_row(
    m: &Minter<'_>,
    purpose: &str,
    token: &str,
    user: &UserRow,
    email: &str,
) -> LinkRow {
    LinkRow {
        user_id: Some(user.id.clone()),
        email: Some(email.to_string()),
        ..mail_link::row(m, purpose, token)
    }
}

/// Mails a confirmation link to `new`, in one transaction with the `email.change_requested`
/// event; returns the mail's id, or `None` when the address is another account's or a mail limit
/// is reached (the page says the same either way). An address of another account counts against
/// the mail limits as a mail would, so that trying addresses is limited as mailing them is, and
/// past a limit both read the same in the resident's export (`mail.limited`).
pub fn request(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    user: &UserRow,
    new: &Email,
    language: Language,
) -> Result<Option<String>, FlowError> {
    store::write_transaction(conn, |conn| {
        let taken = users::find_by_email(conn, Tenant::of(m.tenant), new.normalized())?.is_some();
        m.audit("email.change_requested")
            .user(user.id.as_str())
            .detail(&json!({ "taken": taken }))
            .record(conn)?;
        let counted = mail_limit::Mail {
            kind: "verify_email",
            to: new.normalized(),
            user: Some(&user.id),
            budget: mail_limit::Budget::AddressChange,
        };
        if taken {
            mail_limit::admit(m, conn, counted)?;
            return Ok(None);
        }
        let to = new.as_entered();
        mail_limit::write(m, conn, counted, to, |conn| {
            let token = secret::random_token();
            let context = mail_link::link_context(m, &["email", "confirm"], &token)?;
            links::insert(conn, &link_row(m, CONFIRM, &token, user, to))?;
            mail_link::render(mails, "verify_email", language, &context)
        })
    })
}
