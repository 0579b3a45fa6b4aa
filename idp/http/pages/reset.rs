//! Forgot password: `GET|POST /{tenant}/forgot` (the address, and the link mailed to it) and
//! `GET|POST /{tenant}/reset?token=…` (the new password). The same page serves the linker's
//! set-password and confirmation links of old accounts.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use secrecy::SecretString;

use super::check::new_password;
use super::dates::date;
use super::error::{PageError, PageResult};
use super::extract::Posted;
use super::mail::{ask_address, mail_link};
use super::passkeys::account::listed;
use super::view::View;
use crate::flows::linker;
use crate::flows::linker::follow::LinkTarget;
use crate::flows::mail_link::Completed;
use crate::flows::reset::{self, Removable, Usable};

/// `GET /{tenant}/forgot?request=…`
pub async fn forgot(view: View) -> PageResult {
    ask_address(view, "forgot.html").await
}

/// `POST /{tenant}/forgot`: writes the link and its mail, tries to send it at once, and says
/// plainly when it could not be sent.
pub async fn send(posted: Posted) -> PageResult {
    let mailed = mail_link(posted, ("forgot.html", false), reset::request).await?;
    Ok(mailed.sent_page("link_sent.html"))
}

/// What a mailed set-password link is: a reset (with what it may remove of the account: passkeys,
/// an authority user's one-time code), or the linker's.
#[derive(Debug, Clone)]
enum LinkKind {
    Reset(Usable),
    Legacy(LinkTarget),
}

impl LinkKind {
    fn legacy_username(&self) -> Option<&str> {
        match self {
            LinkKind::Reset(_) => None,
            LinkKind::Legacy(
                LinkTarget::SetPassword { username, .. } | LinkTarget::Confirm { username },
            ) => Some(username),
        }
    }

    /// The name the account logs in with once its password is set: the page carries it in a
    /// hidden `username` field, for a password manager to save the new password under.
    fn login(&self) -> Option<&str> {
        match self {
            LinkKind::Reset(usable) => usable.login.as_deref(),
            LinkKind::Legacy(LinkTarget::SetPassword { address, .. }) => address.as_deref(),
            LinkKind::Legacy(LinkTarget::Confirm { .. }) => None,
        }
    }
}

/// What the link `token` is, or the "link expired" page.
async fn link_kind(view: &View, token: &str) -> Result<LinkKind, PageError> {
    view.link_target(token, |m, conn, token| {
        if let Some(usable) = reset::usable(m, conn, token)? {
            return Ok(Some(LinkKind::Reset(usable)));
        }
        linker::link_target(m, conn, token).map(|target| target.map(LinkKind::Legacy))
    })
    .await
}

/// The new-password page; a reset of an account with passkeys lists them, the days each was added
/// and last used first (a resident tells the one they did not add by its days: its name is its
/// adder's words), and the day a removable one-time code was set up, with a box to remove them
/// (`remove_passkeys`: checked, when the form comes back with an error).
fn reset_page(
    view: &View,
    token: &str,
    kind: &LinkKind,
    remove_passkeys: bool,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let mut context = view.context();
    context.insert("token", token);
    context.insert("error", &error);
    context.insert("min", &view.tenant.min_password_chars());
    context.insert("legacy_username", &kind.legacy_username());
    context.insert("login", &kind.login());
    let nothing = Removable::default();
    let removable = match kind {
        LinkKind::Reset(usable) => &usable.removable,
        LinkKind::Legacy(_) => &nothing,
    };
    context.insert("passkeys", &listed(view, &removable.passkeys));
    let code = removable.one_time_code.map(|at| date(view, at));
    context.insert("one_time_code", &code);
    context.insert("remove_passkeys", &remove_passkeys);
    context.insert(
        "confirm_only",
        &matches!(kind, LinkKind::Legacy(LinkTarget::Confirm { .. })),
    );
    view.respond(status, "reset.html", &context)
}

/// `GET /{tenant}/reset?token=…`: the new-password page (the token is in the query, never in a
/// path, so it reaches no log).
pub async fn reset_form(mut view: View) -> PageResult {
    let token = view.query("token");
    view.in_login_of_link(&token).await;
    let kind = link_kind(&view, &token).await?;
    Ok(reset_page(
        &view,
        &token,
        &kind,
        false,
        None,
        StatusCode::OK,
    ))
}

/// `POST /{tenant}/reset`: checks and sets the new password (and removes the account's passkeys
/// when the box `remove_passkeys` is checked). The link is looked up first: one that leads
/// nowhere answers 410 before the password's rules are read or its hash is run.
pub async fn reset_submit(Posted { mut view, params }: Posted) -> PageResult {
    let token = params.get("token").cloned().unwrap_or_default();
    let remove_passkeys = params.get("remove_passkeys").is_some_and(|v| v == "yes");
    view.in_login_of_link(&token).await;
    let kind = link_kind(&view, &token).await?;
    let hash = match kind {
        // Another old account for a resident who has one: the link is the proof.
        LinkKind::Legacy(LinkTarget::Confirm { .. }) => None,
        _ => {
            let first = SecretString::from(params.get("password").cloned().unwrap_or_default());
            let second = params.get("password2").map_or("", String::as_str);
            let min = view.tenant.min_password_chars();
            let refuse = |key: &str, status| {
                reset_page(&view, &token, &kind, remove_passkeys, Some(key), status)
            };
            let password = match new_password(first, Some(second), min) {
                Ok(password) => password,
                Err(key) => return Ok(refuse(key, StatusCode::UNPROCESSABLE_ENTITY)),
            };
            Some(view.hash_new(password, refuse).await?)
        }
    };
    let binding = view.binding.clone();
    let session = view.cookie("session");
    let completed = view
        .flow(move |m, conn| {
            let session = session.as_deref();
            match (kind, hash) {
                (LinkKind::Reset(_), Some(hash)) => {
                    reset::complete(m, conn, &token, &hash, remove_passkeys, &binding, session)
                }
                (_, hash) => linker::complete(m, conn, &token, hash.as_deref(), &binding, session),
            }
        })
        .await?;
    Ok(match completed {
        Completed::Expired => view.link_expired(),
        Completed::Done => view.respond(StatusCode::OK, "password_set.html", &view.context()),
        Completed::Continue(next) => view.go_on(next),
    })
}
