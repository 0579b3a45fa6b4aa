//! The second factor's pages as the handlers show them: the code page of a half-done login, the
//! enrolment (the secret as text and as a QR code), and the recovery codes shown once.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use crate::crypto::totp::qr_svg;
use crate::flows::error::FlowError;
use crate::flows::second_factor::codes::Enrolment;
use crate::flows::second_factor::verify::Asked;
use crate::http::pages::error::PageError;
use crate::http::pages::view::View;
use crate::http::util::retry_after_header;

/// The notice of the recovery codes' page after an enrolment.
pub const ENROLLED_NOTICE: &str = "recovery-codes-saved";

/// Where a form of these pages posts, and what it carries besides its fields.
pub enum Place<'a> {
    /// A half-done login: its pending request.
    Login(&'a str),
    /// The account page.
    Account,
}

impl Place<'_> {
    /// Puts the place into `context`, and the page the language selector returns to: the code
    /// page of the login (a posted form's path has no `request`), or the account page.
    fn insert(&self, view: &View, context: &mut tera::Context) {
        let tenant = &view.tenant.id;
        match self {
            Place::Login(request_id) => {
                context.insert("request_id", request_id);
                context.insert("in_login", &true);
                let back = format!("/{tenant}/login/second-factor?request={request_id}");
                context.insert("return_to", &back);
            }
            Place::Account => {
                context.insert("in_login", &false);
                context.insert("return_to", &format!("/{tenant}/account"));
            }
        }
    }
}

/// The message keys of a refused answer, and the field each belongs to.
fn field_of(error: &str) -> &'static str {
    match error {
        "recovery-code-wrong" | "recovery-code-missing" => "recovery",
        _ => "code",
    }
}

/// The second factor's page of the half-done login `request_id`: the code (when the user has a
/// one-time code), a recovery code instead, and the passkey option; `error` (a message key) at
/// its field.
pub fn code_page(
    view: &View,
    request_id: &str,
    asked: &Asked,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let mut context = view.context();
    Place::Login(request_id).insert(view, &mut context);
    context.insert("totp", &asked.totp);
    context.insert("has_passkeys", &(asked.passkeys > 0));
    context.insert("passkeys_on", &asked.passkeys_on);
    context.insert("recovery", &(asked.totp || asked.recovery_codes > 0));
    context.insert("code_error", &error.filter(|e| field_of(e) == "code"));
    context.insert(
        "recovery_error",
        &error.filter(|e| field_of(e) == "recovery"),
    );
    view.respond(status, "second_factor.html", &context)
}

/// [`code_page`] refused with 429 and Retry-After: too many wrong answers or passwords.
pub fn throttled(view: &View, request_id: &str, asked: &Asked, retry_after: i64) -> PageError {
    let status = StatusCode::TOO_MANY_REQUESTS;
    let mut page = code_page(view, request_id, asked, Some("login-throttled"), status);
    retry_after_header(&mut page, retry_after);
    page.into()
}

/// The enrolment's page: the steps, the secret as text in groups of four and as an inline QR
/// code, and the field of the first code; `error` (a message key) at that field.
pub fn enrol_page(
    view: &View,
    place: &Place<'_>,
    enrolment: &Enrolment,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let qr = qr_svg(&enrolment.uri).map_err(|e| view.failure(FlowError::server(e)))?;
    let mut context = view.context();
    place.insert(view, &mut context);
    // As `Minter::passkeys_on`: the tenant allows passkeys and the public URL's host is a name.
    let server = &view.state.config.settings.server;
    let passkeys_on = view.tenant.passkeys.enabled && server.webauthn_host().is_some();
    context.insert("passkeys_on", &passkeys_on);
    context.insert("ceremony", &enrolment.ceremony);
    context.insert("secret", &enrolment.grouped);
    context.insert("qr", &qr);
    context.insert(
        "minutes",
        &crate::flows::second_factor::codes::ENROL_MINUTES,
    );
    Ok(view.form_page("second_factor_enrol.html", context, error))
}

/// The recovery codes, shown once, under `notice` (a message key: what was done); "Continue"
/// ends the login (its ceremony `proceed`) or leads back to the account page.
pub fn codes_page(
    view: &View,
    place: &Place<'_>,
    (notice, codes): (&str, &[String]),
    proceed: Option<&str>,
) -> HttpResponse {
    let mut context = view.context();
    place.insert(view, &mut context);
    context.insert("notice_key", notice);
    // No language selector here: leaving the page would lose the codes, shown only now.
    context.insert("languages", &Vec::<String>::new());
    context.insert("codes", codes);
    context.insert("proceed", &proceed);
    view.respond(StatusCode::OK, "recovery_codes.html", &context)
}
