//! The change of address: `POST /{tenant}/account/email` (the current password, then a link to
//! the new address), `GET|POST /{tenant}/email/confirm?token=…` (the new address proven) and
//! `GET|POST /{tenant}/email/undo?token=…` (the old address restored, from the link mailed
//! there). A link's GET only asks: mail scanners follow links.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use secrecy::SecretString;

use super::current::CurrentPassword;
use crate::domain::Email;
use crate::flows::email_change;
use crate::flows::email_change::follow::Followed;
use crate::flows::email_change::request::{CONFIRM, UNDO};
use crate::http::pages::error::PageResult;
use crate::http::pages::extract::{Posted, SignedIn};
use crate::http::pages::view::View;

/// `POST /{tenant}/account/email`: mails a confirmation link to the new address.
pub async fn change_email(signed: SignedIn<Posted>) -> PageResult {
    let typed = Email::parse(&signed.page.field("email")).ok();
    let Some(new) = typed.filter(Email::can_be_given) else {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(signed.show_refused("email-invalid", status));
    };
    // A change of address hands the account to whoever reads the new mailbox: the current
    // password first, checked (and throttled) like every other password.
    let current = CurrentPassword {
        check: "account.email",
        throttled: "email-password-throttled",
        wrong: "email-current-password-wrong",
    };
    let password_text = SecretString::from(signed.page.field("password"));
    signed
        .current_password(&current, password_text, |_| ())
        .await?;
    let view = signed.view();
    let mails = view.state.services.mails.clone();
    let language = view.lang;
    let requester = signed.user.clone();
    let mail_id = signed
        .counted_change(move |m, conn| {
            email_change::request(m, conn, &mails, &requester, &new, language)
        })
        .await?;
    let failed = view.send_failed_alike(mail_id.as_deref()).await;
    Ok(signed.after_mail(("email-link-sent", "message-failed"), failed))
}

/// The page a mailed link of `purpose` opens: the address it is about, the account it is for
/// (masked), and a button; nothing changes until the form is posted.
async fn link_form(view: View, template: &str, purpose: &'static str) -> PageResult {
    let token = view.query("token");
    let probe = token.clone();
    let target = view
        .flow(move |m, conn| email_change::target(m, conn, purpose, &probe))
        .await?;
    Ok(match target {
        Some(target) => {
            let mut context = view.context();
            context.insert("email", &target.email);
            context.insert("account", &target.account);
            context.insert("token", &token);
            view.respond(StatusCode::OK, template, &context)
        }
        None => message(
            &view,
            StatusCode::GONE,
            "error-title-link",
            "link-expired",
            "",
        ),
    })
}

/// `GET /{tenant}/email/confirm?token=…`: asks before switching.
pub async fn confirm_form(view: View) -> PageResult {
    link_form(view, "email_confirm.html", CONFIRM).await
}

/// `POST /{tenant}/email/confirm`: the new address is proven; switch to it.
pub async fn confirm_email(posted: Posted) -> PageResult {
    let view = &posted.view;
    let token = posted.field("token");
    let mails = view.state.services.mails.clone();
    let language = view.lang;
    let session = view.cookie("session");
    let done = view
        .flow(move |m, conn| {
            let confirming = (token.as_str(), session.as_deref());
            email_change::confirm(m, conn, &mails, language, confirming)
        })
        .await?;
    Ok(followed(view, done, "email-changed-title", "email-changed"))
}

/// `GET /{tenant}/email/undo?token=…`: asks before undoing.
pub async fn undo_form(view: View) -> PageResult {
    link_form(view, "email_undo.html", UNDO).await
}

/// `POST /{tenant}/email/undo`: restores the old address, ends every session.
pub async fn undo(posted: Posted) -> PageResult {
    let token = posted.field("token");
    let done = posted
        .view
        .flow(move |m, conn| email_change::undo(m, conn, &token))
        .await?;
    let (title, text) = ("email-restored-title", "email-restored");
    Ok(followed(&posted.view, done, title, text))
}

/// The page after a link was followed: done (`title`, `text`), the address taken meanwhile, or
/// the link expired.
fn followed(view: &View, done: Followed, title: &str, text: &str) -> HttpResponse {
    match done {
        Followed::Done(email) => message(view, StatusCode::OK, title, text, &email),
        Followed::Taken => message(
            view,
            StatusCode::CONFLICT,
            "error-title-email",
            "email-taken",
            "",
        ),
        Followed::Refused => message(
            view,
            StatusCode::CONFLICT,
            "error-title-email",
            "email-undo-taken",
            "",
        ),
        Followed::Expired => message(
            view,
            StatusCode::GONE,
            "error-title-link",
            "link-expired",
            "",
        ),
    }
}

fn message(
    view: &View,
    status: StatusCode,
    title: &str,
    message: &str,
    email: &str,
) -> HttpResponse {
    let mut context = view.context();
    context.insert("title_key", title);
    context.insert("message_key", message);
    context.insert("email", email);
    // The way on: a restored address's owner sets a new password (the change was not his own);
    // a confirmed change logs in with the new address.
    let next = match message {
        "email-restored" => Some(("forgot", "set-new-password-link")),
        // A link used already (the change done by a first click) or expired: the login shows
        // the account as it is.
        "email-changed" | "link-expired" => Some(("account", "back-to-login")),
        _ => None,
    };
    if let Some((path, key)) = next {
        context.insert("next_path", path);
        context.insert("next_key", key);
    }
    view.respond(status, "message.html", &context)
}
