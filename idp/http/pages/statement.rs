//! `GET /{tenant}/accessibility`: the tenant's accessibility statement (Act 306/2019), in the
//! page's language, linked from every page's footer.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use super::view::View;
use crate::config::Language;

/// `GET /{tenant}/accessibility`.
pub async fn accessibility(view: View) -> HttpResponse {
    let statement = &view.tenant.accessibility;
    let mut context = view.context();
    context.insert("compliance_key", statement.compliance.key());
    context.insert("assessed_by_key", statement.assessed_by.key());
    context.insert(
        "assessed_on",
        &crate::i18n::day(view.lang, statement.assessed_on),
    );
    let feedback = statement
        .feedback_email
        .as_ref()
        .or(view.tenant.support.email.as_ref());
    context.insert("feedback_email", &feedback);
    context.insert("answer_days", &statement.answer_days);
    let not_accessible = match view.lang {
        Language::Fi => &statement.not_accessible.fi,
        Language::Sv => &statement.not_accessible.sv,
        Language::En => &statement.not_accessible.en,
    };
    context.insert("not_accessible", not_accessible);
    view.respond(StatusCode::OK, "accessibility.html", &context)
}
