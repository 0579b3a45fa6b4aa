//! The second factor of a half-done login: `GET /{tenant}/login/second-factor?request=…` (the
//! code, or a recovery code) and `POST /{tenant}/login/second-factor`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use super::render::{code_page, throttled};
use crate::flows::notice::Tell;
use crate::flows::second_factor::verify::{Answer, Asked, Verified};
use crate::flows::second_factor::{asked, verify};
use crate::http::pages::error::{PageError, PageResult};
use crate::http::pages::login::form::LoginForm;
use crate::http::pages::view::View;

/// What the page of the half-done login `request_id` of this browser offers; the "expired" page
/// when there is no such login.
pub async fn asked_of(view: &View, request_id: &str) -> Result<Asked, PageError> {
    let (id, binding) = (request_id.to_string(), view.binding.clone());
    let found = view
        .flow(move |m, conn| asked(m, conn, &id, Some(&binding)))
        .await?;
    found.ok_or_else(|| view.error(StatusCode::BAD_REQUEST, "expired").into())
}

/// A 303 to the enrolment of the half-done login `request_id`.
fn to_enrolment(view: &View, request_id: &str) -> HttpResponse {
    view.attach(view.to_page("login/second-factor/enrol", request_id))
}

/// `GET /{tenant}/login/second-factor?request=…`: the code page, in the login's language; the
/// enrolment when the user has no second factor yet.
pub async fn page(mut view: View) -> PageResult {
    let request_id = view.query("request");
    view.in_login(&request_id).await;
    let asked = asked_of(&view, &request_id).await?;
    if asked.enrol {
        return Ok(to_enrolment(&view, &request_id));
    }
    Ok(code_page(&view, &request_id, &asked, None, StatusCode::OK))
}

/// `POST /{tenant}/login/second-factor`: a code (field `code`) or a recovery code (`recovery`),
/// throttled per user; right, the login goes on with its session.
pub async fn submit(login: LoginForm) -> PageResult {
    let view = &login.view;
    let request_id = login.request_id.clone();
    let recovery = login.field("recovery");
    let answer = if login.params.contains_key("recovery") {
        Answer::Recovery(recovery)
    } else {
        Answer::Code(login.field("code"))
    };
    let missing = match &answer {
        Answer::Code(code) if code.trim().is_empty() => Some("second-factor-missing"),
        Answer::Recovery(code) if code.trim().is_empty() => Some("recovery-code-missing"),
        _ => None,
    };
    if let Some(missing) = missing {
        let asked = asked_of(view, &request_id).await?;
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(code_page(view, &request_id, &asked, Some(missing), status));
    }
    let (kek, binding, session) = (
        view.state.services.kek.clone(),
        view.binding.clone(),
        view.cookie("session"),
    );
    let tell = Tell {
        mails: view.state.services.mails.clone(),
        language: view.lang,
    };
    let id = request_id.clone();
    let checked = view
        .flow(move |m, conn| {
            let at = (id.as_str(), binding.as_str());
            verify(m, conn, (&kek, &tell), at, session.as_deref(), &answer)
        })
        .await?;
    let refused = match checked {
        Verified::Done(next) => return Ok(view.go_on(next)),
        Verified::Expired => return Ok(view.error(StatusCode::BAD_REQUEST, "expired")),
        Verified::Throttled { retry_after } => {
            let asked = asked_of(view, &request_id).await?;
            return Err(throttled(view, &request_id, &asked, retry_after));
        }
        Verified::Wrong if login.params.contains_key("recovery") => "recovery-code-wrong",
        Verified::Wrong => "second-factor-wrong",
        Verified::Used => "second-factor-used",
    };
    let asked = asked_of(view, &request_id).await?;
    Ok(code_page(
        view,
        &request_id,
        &asked,
        Some(refused),
        StatusCode::UNAUTHORIZED,
    ))
}
