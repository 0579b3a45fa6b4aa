//! The pages after a flow wrote a mail: whether it left (`Services::send_failed`), "a link was
//! sent" or plainly "it could not be sent" (503, with the support contact); and the pages that
//! ask for an address to mail a link to (forgot password, registration), which answer no sooner
//! than [`ANSWER_AT_LEAST`].

use std::time::{Duration, Instant};

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use super::error::{PageError, PageResult};
use super::extract::Posted;
use super::view::View;
use crate::config::Language;
use crate::domain::Email;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::linker;
use crate::flows::linker::links::LinkMail;
use crate::flows::mail_limit::Budget;
use crate::mail::Mails;
use crate::store::DbConnection;
use crate::store::legacy::LegacyRow;

/// The least time the forgot-password and registration answers take, so that whether a mail was
/// written and sent does not show in the timing.
pub const ANSWER_AT_LEAST: Duration = Duration::from_millis(800);

/// What a "link sent" page (`link_sent.html`) is about.
#[derive(Clone, Copy)]
pub enum SentFor<'a> {
    /// An old account's set-password link.
    Legacy,
    /// A step of a claim (`claim`: the proof; `claim_address`: the own address's link).
    Claim(&'a str),
}

impl View {
    /// Whether the mail `mail_id` could not be sent now; `None` (a mail limit held it back) reads
    /// as sent.
    pub async fn send_failed(&self, mail_id: Option<&str>) -> bool {
        match mail_id {
            Some(id) => self.state.services.send_failed(id).await,
            None => false,
        }
    }

    /// [`View::send_failed`] for a request whose answer must not tell whether it wrote a mail
    /// (forgot password, registration, the change of address): one that wrote none reads as
    /// failed while the relay fails ([`crate::app::Services::unsent_as_failed`]).
    pub async fn send_failed_alike(&self, mail_id: Option<&str>) -> bool {
        match mail_id {
            Some(id) => self.state.services.send_failed(id).await,
            None => self.state.services.unsent_as_failed().await,
        }
    }

    /// A page about a mailed link, `template` with `context`: 503 when it could not be sent.
    pub fn sent_page(
        &self,
        template: &str,
        mut context: tera::Context,
        failed: bool,
    ) -> HttpResponse {
        context.insert("failed", &failed);
        context.insert(
            "minutes",
            &(self.state.config.settings.tokens.link_seconds / 60),
        );
        let status = if failed {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        self.respond(status, template, &context)
    }

    /// Mails the link that binds the old account `account` to `to` (its own address, or the
    /// signed-in `user`'s), in the page's language, for the pending login `request_id` if any;
    /// the mail's id.
    pub async fn mail_legacy_link(
        &self,
        account: LegacyRow,
        to: String,
        request_id: Option<String>,
        user: Option<String>,
    ) -> Result<Option<String>, PageError> {
        self.mail_flow(self.legacy_link(account, to, request_id, user))
            .await
    }

    /// The flow of [`View::mail_legacy_link`], for a runner of its own (the account page's
    /// `SignedIn::change`).
    pub fn legacy_link(
        &self,
        account: LegacyRow,
        to: String,
        request_id: Option<String>,
        user: Option<String>,
    ) -> impl FnOnce(&Minter<'_>, &mut DbConnection) -> Result<Option<String>, FlowError> + Send + 'static
    {
        let mails = self.state.services.mails.clone();
        let language = self.lang;
        move |m, conn| {
            let mail = LinkMail {
                to: &to,
                language,
                request_id: request_id.as_deref(),
                user: user.as_deref(),
                budget: Budget::Shared,
            };
            linker::send_links(m, conn, &mails, std::slice::from_ref(&account), mail)
        }
    }

    /// The "link sent" page of the mail `mail_id`, for the pending login `request_id` if any (the
    /// way back to it, for a resident who opened the link on another device).
    pub async fn link_sent(
        &self,
        mail_id: Option<&str>,
        sent_for: SentFor<'_>,
        request_id: Option<&str>,
    ) -> HttpResponse {
        let failed = self.send_failed(mail_id).await;
        let mut context = self.context();
        context.insert("request_id", &request_id);
        match sent_for {
            SentFor::Legacy => context.insert("legacy", &true),
            SentFor::Claim(step) => context.insert("claim", step),
        }
        self.sent_page("link_sent.html", context, failed)
    }
}

/// What the page that asks for an address (`forgot.html`, `register.html`) shows: the pending
/// login it belongs to (empty when none) and the address typed so far.
fn address_context(view: &View, request_id: &str, email: &str) -> tera::Context {
    let mut context = view.context();
    context.insert("request_id", request_id);
    context.insert("email", email);
    context
}

/// `GET` of an address page: empty, in the language of the pending login `request`.
pub async fn ask_address(mut view: View, template: &str) -> PageResult {
    let request_id = view.query("request");
    view.in_login(&request_id).await;
    let context = address_context(&view, &request_id, "");
    Ok(view.form_page(template, context, None))
}

/// A flow that writes a link and its mail to an address (or a notice, the same to the eye), in
/// the resident's language, for the pending login if any; the mail's id, `None` when a mail limit
/// held it back.
pub type WriteLink = fn(
    &Minter<'_>,
    &mut DbConnection,
    &Mails,
    &Email,
    Language,
    Option<&str>,
) -> Result<Option<String>, FlowError>;

/// What [`mail_link`] did: the view, the address, whether the mail failed, and the pending login
/// the page belongs to (the way back to it, for a resident who opens the link on another device).
pub struct Mailed {
    /// The page's view.
    pub view: View,
    /// The address, as typed (trimmed, NFKC).
    pub address: String,
    /// Whether the mail could not be sent now.
    pub failed: bool,
    /// The pending login the page belongs to, if any.
    pub request_id: Option<String>,
}

impl Mailed {
    /// The "sent" page `template`, its context with the address and the pending login.
    pub fn sent_page(self, template: &str) -> HttpResponse {
        let mut context = self.view.context();
        context.insert("email", &self.address);
        context.insert("request_id", &self.request_id);
        self.view.sent_page(template, context, self.failed)
    }
}

/// The address posted to an address page (`template`) goes to `write`; the page is shown again
/// when it is not an address, or, where the address is `given` to an account (registration), not
/// one that can be ([`Email::can_be_given`]). Answers no sooner than [`ANSWER_AT_LEAST`] after
/// the form came.
pub async fn mail_link(
    posted: Posted,
    (template, given): (&str, bool),
    write: WriteLink,
) -> Result<Mailed, PageError> {
    let started = Instant::now();
    let Posted { mut view, params } = posted;
    let request_id = params.get("request").cloned().filter(|r| !r.is_empty());
    view.in_login(request_id.as_deref().unwrap_or_default())
        .await;
    let typed = params.get("email").cloned().unwrap_or_default();
    let Some(email) = Email::parse(&typed)
        .ok()
        .filter(|email| !given || email.can_be_given())
    else {
        let request_id = request_id.as_deref().unwrap_or("");
        let context = address_context(&view, request_id, &typed);
        return Err(view
            .form_page(template, context, Some("email-invalid"))
            .into());
    };
    let mails = view.state.services.mails.clone();
    let language = view.lang;
    let address = email.to_string();
    let pending = request_id.clone();
    let written = view
        .mail_flow(move |m, conn| write(m, conn, &mails, &email, language, pending.as_deref()))
        .await?;
    let failed = view.send_failed_alike(written.as_deref()).await;
    if let Some(rest) = ANSWER_AT_LEAST.checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    Ok(Mailed {
        view,
        address,
        failed,
        request_id,
    })
}
