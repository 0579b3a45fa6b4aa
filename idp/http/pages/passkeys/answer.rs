//! What the passkey pages share: the JSON answer of a ceremony begun (the options the script
//! hands `navigator.credentials`), the status of a refusal, the page of a refusal that has no
//! form of its own to show it at, and the fields of a posted answer.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::json;

use crate::flows::oidc::request::Params;
use crate::flows::passkeys::ceremony::{InLogin, Refusal, Started};
use crate::http::pages::view::View;
use crate::http::util::{no_store_json, retry_after_header};

/// `{"ceremony": …, "options": {"publicKey": …}}`, or a 404 `{"error": "unavailable"}` when no
/// ceremony could begin (passkeys off, the login gone, no passkey to ask for).
pub fn options(started: Option<Started>) -> HttpResponse {
    match started {
        Some(started) => no_store_json(&started),
        None => HttpResponse::NotFound()
            .insert_header(("Cache-Control", "no-store"))
            .json(json!({ "error": "unavailable" })),
    }
}

/// The status of a page that shows `refusal`.
pub fn status(refusal: Refusal) -> StatusCode {
    match refusal {
        Refusal::Off => StatusCode::NOT_FOUND,
        Refusal::Expired => StatusCode::BAD_REQUEST,
        Refusal::Failed | Refusal::Unknown => StatusCode::UNAUTHORIZED,
        Refusal::Duplicate | Refusal::TooMany => StatusCode::CONFLICT,
        Refusal::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
    }
}

/// `page` with the status of `refusal` (and `Retry-After` when throttled).
pub fn refused(mut page: HttpResponse, refusal: Refusal) -> HttpResponse {
    *page.status_mut() = status(refusal);
    if let Refusal::Throttled { retry_after } = refusal {
        retry_after_header(&mut page, retry_after);
    }
    page
}

/// The page that says why a passkey was refused, with the way back to `back` (a path of the
/// tenant, with its query): for the steps whose pages are not the passkey pages' own.
pub fn problem(view: &View, refusal: Refusal, back: &str) -> HttpResponse {
    let mut context = view.context();
    context.insert("passkey_error", refusal.key());
    context.insert("back", back);
    refused(
        view.respond(StatusCode::OK, "passkey_problem.html", &context),
        refusal,
    )
}

/// A browser's pending login, owned (for a flow's closure): see [`InLogin`].
pub struct Held {
    request: String,
    binding: String,
    session: Option<String>,
}

impl Held {
    /// The pending login `request` of the browser of `view`.
    pub fn of(view: &View, request: String) -> Held {
        Held {
            request,
            binding: view.binding.clone(),
            session: view.cookie("session"),
        }
    }

    /// It, borrowed.
    pub fn at(&self) -> InLogin<'_> {
        InLogin {
            request: &self.request,
            binding: &self.binding,
            session: self.session.as_deref(),
        }
    }
}

/// The answer a posted form carries: the ceremony's id and the browser's credential (JSON),
/// both filled in by the script.
pub fn answer(params: &Params) -> (String, String) {
    let field = |name: &str| params.get(name).cloned().unwrap_or_default();
    (field("ceremony"), field("credential"))
}
