//! Deleting the account: `GET|POST /{tenant}/account/delete` (what happens, then the current
//! password; the session cookie cleared and the date of the erasure shown) and
//! `GET|POST /{tenant}/account/undo-deletion?token=…` (the mailed undo link: its GET only asks,
//! as mail scanners follow links); and the page a login of an account being deleted ends at.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use chrono::NaiveDateTime;
use secrecy::SecretString;

use super::current::CurrentPassword;
use crate::flows::deletion::{self, Requested, Undone};
use crate::http::pages::dates::moment;
use crate::http::pages::error::PageResult;
use crate::http::pages::extract::{Posted, SignedIn, Typed};
use crate::http::pages::view::View;

impl<T: AsRef<View> + Typed> SignedIn<T> {
    /// The deletion's page: what happens and the password field, with `error` (a message key).
    fn deletion_page(&self, error: Option<&str>, status: StatusCode) -> HttpResponse {
        let view = self.view();
        let mut context = view.context();
        context.insert("days", &view.tenant.deletion.undo_days);
        context.insert("error", &error);
        let who = self.user.email.as_ref().or(self.user.username.as_ref());
        context.insert("who", &who);
        view.respond(status, "account_delete.html", &context)
    }
}

/// `GET /{tenant}/account/delete`: what a deletion does, and the form.
pub async fn confirm_page(signed: SignedIn) -> PageResult {
    Ok(signed.deletion_page(None, StatusCode::OK))
}

/// `POST /{tenant}/account/delete`: the current password, then the request.
pub async fn delete(signed: SignedIn<Posted>) -> PageResult {
    let current = CurrentPassword {
        check: "account.delete",
        throttled: "account-password-throttled",
        wrong: "current-password-wrong",
    };
    let password_text = SecretString::from(signed.page.field("password"));
    signed
        .current_password_on(
            &current,
            password_text,
            |_| (),
            |error, status| signed.deletion_page(Some(error), status),
        )
        .await?;
    let view = signed.view();
    let mails = view.state.services.mails.clone();
    let language = view.lang;
    let user = signed.user.clone();
    let requested = signed
        .change(move |m, conn| deletion::request(m, conn, &mails, &user, language, "resident"))
        .await?;
    let (erase_at, mail) = match requested {
        Requested::Done { erase_at, mail } => (erase_at, mail),
        Requested::Already(erase_at) => (erase_at, None),
    };
    // Sent now when it can be; else the mail worker retries it (the link is in the outbox).
    view.send_failed(mail.as_deref()).await;
    let mut context = view.context();
    context.insert("date", &moment(view, erase_at));
    let key = if signed.user.email.is_some() {
        "deletion-requested"
    } else {
        "deletion-requested-no-mail"
    };
    context.insert("message_key", key);
    let page = view.respond(StatusCode::OK, "account_deleted.html", &context);
    Ok(view.signed_out(page))
}

/// `GET /{tenant}/account/undo-deletion?token=…`: asks before undoing.
pub async fn undo_form(view: View) -> PageResult {
    let token = view.query("token");
    let probe = token.clone();
    let pending = view
        .flow(move |m, conn| deletion::pending(m, conn, &probe))
        .await?;
    Ok(match pending {
        Some(erase_at) => {
            let mut context = view.context();
            context.insert("date", &moment(&view, erase_at));
            context.insert("token", &token);
            view.respond(StatusCode::OK, "deletion_undo.html", &context)
        }
        None => expired(&view),
    })
}

/// `POST /{tenant}/account/undo-deletion`: brings the account back.
pub async fn undo(posted: Posted) -> PageResult {
    let view = &posted.view;
    let token = posted.field("token");
    let undone = view
        .flow(move |m, conn| deletion::undo(m, conn, &token))
        .await?;
    Ok(match undone {
        Undone::Done => {
            let mut context = view.context();
            context.insert("title_key", "deletion-undone-title");
            context.insert("message_key", "deletion-undone");
            context.insert("date", "");
            context.insert("login_link", &true);
            view.respond(StatusCode::OK, "deletion_done.html", &context)
        }
        Undone::Expired => expired(view),
    })
}

/// The answer to a login of an account being deleted (403): until `erase_at` the link mailed to
/// its address undoes the deletion.
pub fn pending_page(view: &View, erase_at: NaiveDateTime) -> HttpResponse {
    let mut context = view.context();
    context.insert("title_key", "deletion-pending-title");
    context.insert("message_key", "deletion-pending");
    context.insert("date", &moment(view, erase_at));
    context.insert("login_link", &false);
    view.respond(StatusCode::FORBIDDEN, "deletion_done.html", &context)
}

/// The page of an unknown, expired or used link.
fn expired(view: &View) -> HttpResponse {
    let mut context = view.context();
    context.insert("title_key", "error-title-link");
    context.insert("message_key", "link-expired");
    context.insert("email", "");
    // Used already (the account came back at a first click) or expired: the login tells which.
    context.insert("next_path", "account");
    context.insert("next_key", "back-to-login");
    view.respond(StatusCode::GONE, "message.html", &context)
}
