//! A one-time code enrolled inside a half-done login: `GET /{tenant}/login/second-factor/enrol`
//! (the secret), `POST` (its first code; the recovery codes), and
//! `POST /{tenant}/login/second-factor/continue` (the login ends: the session starts here).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use super::login::asked_of;
use super::render::{ENROLLED_NOTICE, Place, codes_page, enrol_page};
use crate::flows::notice::Tell;
use crate::flows::second_factor::enrol::LoginEnrolment;
use crate::flows::second_factor::{confirm_enrolment, finish_enrolment, start_enrolment};
use crate::http::pages::error::PageResult;
use crate::http::pages::login::form::LoginForm;
use crate::http::pages::view::View;

/// A 303 to the code page of the half-done login `request_id`.
fn to_code_page(view: &View, request_id: &str) -> HttpResponse {
    view.attach(view.to_page("login/second-factor", request_id))
}

/// `GET /{tenant}/login/second-factor/enrol?request=…`: a new secret for the user who must enrol
/// one; the code page when the user has a second factor.
pub async fn page(mut view: View) -> PageResult {
    let request_id = view.query("request");
    view.in_login(&request_id).await;
    let (kek, binding, id) = (
        view.state.services.kek.clone(),
        view.binding.clone(),
        request_id.clone(),
    );
    let started = view
        .flow(move |m, conn| start_enrolment(m, conn, &kek, &id, &binding))
        .await?;
    match started {
        Some(enrolment) => enrol_page(&view, &Place::Login(&request_id), &enrolment, None),
        // No enrolment for this login: the code page, or the "expired" page when none.
        None => asked_of(&view, &request_id)
            .await
            .map(|_| to_code_page(&view, &request_id)),
    }
}

/// `POST /{tenant}/login/second-factor/enrol`: the first code of the new secret; right, the
/// factor is stored and the recovery codes are shown once, with "Continue".
pub async fn confirm(login: LoginForm) -> PageResult {
    let view = &login.view;
    let request_id = login.request_id.clone();
    let (ceremony, code) = (login.field("ceremony"), login.field("code"));
    let (kek, binding, id) = (
        view.state.services.kek.clone(),
        view.binding.clone(),
        request_id.clone(),
    );
    let tell = Tell {
        mails: view.state.services.mails.clone(),
        language: view.lang,
    };
    let confirmed = view
        .flow(move |m, conn| {
            let at = (id.as_str(), binding.as_str());
            confirm_enrolment(m, conn, (&kek, &tell), at, &ceremony, &code)
        })
        .await?;
    let place = Place::Login(&request_id);
    match confirmed {
        LoginEnrolment::Enrolled { codes, proceed } => Ok(codes_page(
            view,
            &place,
            (ENROLLED_NOTICE, &codes),
            Some(&proceed),
        )),
        LoginEnrolment::Wrong(enrolment) => {
            let error = if login.field("code").trim().is_empty() {
                "second-factor-missing"
            } else {
                "second-factor-wrong"
            };
            enrol_page(view, &place, &enrolment, Some(error))
        }
        LoginEnrolment::Restarted(enrolment) => enrol_page(
            view,
            &place,
            &enrolment,
            Some("second-factor-enrol-renewed"),
        ),
        LoginEnrolment::HasFactor => Ok(to_code_page(view, &request_id)),
        LoginEnrolment::Expired => Ok(view.error(StatusCode::BAD_REQUEST, "expired")),
    }
}

/// `POST /{tenant}/login/second-factor/continue`: after the recovery codes, the login ends with
/// the enrolled factor; the session cookie is set with this answer.
pub async fn proceed(login: LoginForm) -> PageResult {
    let view = &login.view;
    let proceed = login.field("proceed");
    let (binding, session, id) = (
        view.binding.clone(),
        view.cookie("session"),
        login.request_id.clone(),
    );
    let next = view
        .flow(move |m, conn| {
            finish_enrolment(m, conn, (&id, &binding), &proceed, session.as_deref())
        })
        .await?;
    Ok(match next {
        Some(next) => view.go_on(next),
        None => view.error(StatusCode::BAD_REQUEST, "expired"),
    })
}
