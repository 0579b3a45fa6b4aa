//! [`PageError`]: the page a handler answers with instead of the one it set out to show.
//!
//! A page handler returns [`PageResult`] and uses `?`. What stops it early is already a finished
//! page: a refused form (`View::form`, 400), a flow's error (`or_page`, 500 or the busy page),
//! the way to the login (`SignedIn`), a password check that did not run (429, 503). Each is built
//! by the view, which knows the tenant and the language; this type only carries it to actix,
//! through `InternalError::from_response`, which sends it as it is. `errors::reshape` leaves
//! these answers unchanged (it knows them by [`Shown`]).

use std::fmt;

use actix_web::HttpResponse;
use actix_web::error::InternalError;

/// What a page handler returns.
pub type PageResult = Result<HttpResponse, PageError>;

/// A finished page that answers the request in place of the handler's own (boxed: a response is
/// large).
#[derive(Debug)]
pub struct PageError(Box<HttpResponse>);

impl From<HttpResponse> for PageError {
    fn from(page: HttpResponse) -> PageError {
        PageError(Box::new(page))
    }
}

impl From<PageError> for actix_web::Error {
    fn from(page: PageError) -> actix_web::Error {
        InternalError::from_response(Shown, *page.0).into()
    }
}

/// The cause of a [`PageError`] as actix sees it: the answer is a page shown already.
#[derive(Debug, Clone, Copy)]
pub struct Shown;

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("answered with a page")
    }
}

/// The translation key of an error reason.
pub(super) fn error_key(reason: &str) -> &'static str {
    match reason {
        "missing_client" => "error-missing-client",
        "unknown_client" => "error-unknown-client",
        "missing_redirect_uri" | "unregistered_redirect_uri" => "error-redirect-uri",
        "expired" => "error-expired",
        "invalid_request_uri" => "error-request-uri",
        "invalid_id_token_hint" | "client_not_audience" => "error-logout",
        "bad_request" | "csrf" => "error-bad-request",
        "busy" => "busy",
        "too_many_waiting" => "error-too-many-waiting",
        "too_many_changes" => "error-too-many-changes",
        "not_a_page" => "error-not-a-page",
        "crowded_address" => "error-crowded-address",
        "other_account" => "error-other-account",
        "sign_in_first" => "error-sign-in-first",
        _ => "error-other",
    }
}

/// The title (and heading) of the error page of `reason`: what could not be done — a login, a
/// link, a change of the account page — or that the service is busy (WCAG 2.4.2: a tab's title
/// tells its page apart).
pub(super) fn error_title(reason: &str) -> &'static str {
    match reason {
        "link_expired" | "sign_in_first" => "error-title-link",
        "other_account" | "too_many_changes" => "error-title-account",
        "busy" => "error-title-busy",
        _ => "error-title",
    }
}
