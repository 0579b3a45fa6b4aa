//! Registration: `GET|POST /{tenant}/register` (the address, and the link mailed to it) and
//! `GET|POST /{tenant}/register/complete?token=…` (name and password).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use secrecy::SecretString;

use super::check::new_password;
use super::error::PageResult;
use super::extract::Posted;
use super::mail::{ask_address, mail_link};
use super::view::View;
use crate::flows::mail_link::Completed;
use crate::flows::register;
use crate::flows::register::finish::Account;

/// `GET /{tenant}/register?request=…`
pub async fn page(view: View) -> PageResult {
    ask_address(view, "register.html").await
}

/// `POST /{tenant}/register`: mails the link (or "you have an account"), the same page either way.
pub async fn start(posted: Posted) -> PageResult {
    let mailed = mail_link(posted, ("register.html", true), register::start).await?;
    Ok(mailed.sent_page("register_sent.html"))
}

/// What the last page shows again: the link's token, the address, the name typed.
struct Completing<'a> {
    view: &'a View,
    token: &'a str,
    email: &'a str,
    name: &'a str,
}

impl Completing<'_> {
    fn page(&self, error: Option<&str>, status: StatusCode) -> HttpResponse {
        let mut context = self.view.context();
        context.insert("token", self.token);
        context.insert("email", self.email);
        context.insert("name", self.name);
        // The name's error stands at the name's field; the others at the password's.
        let (name_error, error) = match error {
            Some(key) if key.starts_with("name-") => (Some(key), None),
            other => (None, other),
        };
        context.insert("name_error", &name_error);
        context.insert("error", &error);
        context.insert("min", &self.view.tenant.min_password_chars());
        self.view
            .respond(status, "register_complete.html", &context)
    }
}

/// `GET /{tenant}/register/complete?token=…`: name and password.
pub async fn complete_form(mut view: View) -> PageResult {
    let token = view.query("token");
    view.in_login_of_link(&token).await;
    let email = view.link_target(&token, register::link_email).await?;
    let completing = Completing {
        view: &view,
        token: &token,
        email: &email,
        name: "",
    };
    Ok(completing.page(None, StatusCode::OK))
}

/// `POST /{tenant}/register/complete`: creates the account. The link is looked up first, as the
/// form's page does: a link that leads nowhere answers 410 before the password's rules are read
/// or its hash is run, so that no one fills the hashing pool with made-up tokens.
pub async fn complete(Posted { mut view, params }: Posted) -> PageResult {
    let field = |name: &str| params.get(name).cloned().unwrap_or_default();
    let token = field("token");
    view.in_login_of_link(&token).await;
    let email = view.link_target(&token, register::link_email).await?;
    let name = field("name").trim().to_string();
    let completing = Completing {
        view: &view,
        token: &token,
        email: &email,
        name: &name,
    };
    let refuse = |key: &str, status| completing.page(Some(key), status);
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    if let Err(error) = crate::domain::parse_name(&name) {
        return Ok(refuse(error.message_key(), unprocessable));
    }
    let first = SecretString::from(field("password"));
    let min = view.tenant.min_password_chars();
    let password = match new_password(first, Some(&field("password2")), min) {
        Ok(password) => password,
        Err(key) => return Ok(refuse(key, unprocessable)),
    };
    let hash = view.hash_new(password, refuse).await?;
    let mails = view.state.services.mails.clone();
    let binding = view.binding.clone();
    let session = view.cookie("session");
    let language = view.lang;
    let (token_owned, name_owned) = (token.clone(), name.clone());
    let finished = view
        .flow(move |m, conn| {
            let account = Account {
                token: &token_owned,
                name: Some(name_owned.as_str()).filter(|n| !n.is_empty()),
                password_hash: &hash,
                language,
            };
            register::finish(m, conn, &mails, &account, &binding, session.as_deref())
        })
        .await?;
    // The welcome mail leaves with the next round of the worker.
    Ok(match finished {
        Completed::Expired => view.link_expired(),
        Completed::Done => view.respond(StatusCode::OK, "account_created.html", &view.context()),
        Completed::Continue(next) => view.go_on(next),
    })
}
