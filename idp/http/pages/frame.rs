//! What every page shows of its tenant around its own content (the frame): the language
//! selector, the support contact, the privacy notice, the tenant's notice and help link, and what
//! the tenant's settings say on the login pages; and the language a page is in.

use actix_web::HttpRequest;
use serde::Serialize;

use crate::config::{Language, Policy, SecondFactorPolicy, TenantConfig};
use crate::http::state::AppState;
use crate::i18n;

#[derive(Serialize)]
/// A language of the selector: its tag and its own name.
struct LanguageOption {
    tag: &'static str,
    name: String,
}

/// Inserts into `context` what a page of `tenant` in `lang` shows of its tenant.
pub(super) fn insert(context: &mut tera::Context, tenant: &TenantConfig, lang: Language) {
    let languages: Vec<LanguageOption> = tenant
        .languages
        .iter()
        .map(|l| LanguageOption {
            tag: l.tag(),
            name: i18n::text(*l, "language-name"),
        })
        .collect();
    context.insert("languages", &languages);
    context.insert("support_email", &tenant.support.email);
    context.insert("support_phone", &tenant.support.phone);
    context.insert(
        "privacy_url",
        &tenant.privacy_url.as_ref().map(|u| u.to_string()),
    );
    let notice = match lang {
        Language::Fi => &tenant.notice.fi,
        Language::Sv => &tenant.notice.sv,
        Language::En => &tenant.notice.en,
    };
    context.insert("notice", notice);
    context.insert("help_url", &tenant.help_url.as_ref().map(|u| u.to_string()));
    // The login page's note to authority users: a first login enrols a second factor.
    let enrols = tenant.authority_second_factor == SecondFactorPolicy::Required;
    context.insert("authority_enrols", &enrols);
    // The password page under keep-password says the seed's "the same as before" (true of
    // every account there: an old one's password is kept, a new one's is its own).
    context.insert("passwords_kept", &(tenant.policy == Policy::KeepPassword));
    context.insert("has_logo", &tenant.branding.logo_file.is_some());
}

/// The language of a page (`i18n::negotiate`): `ui_locales`, the language cookie, the browser's
/// Accept-Language, the tenant's first.
pub(super) fn negotiate(
    state: &AppState,
    req: &HttpRequest,
    tenant: &TenantConfig,
    ui_locales: Option<&str>,
) -> Language {
    let cookie = state.cookie_value(req, "lang", &tenant.id);
    let accept = req
        .headers()
        .get("accept-language")
        .and_then(|v| v.to_str().ok());
    i18n::negotiate(&tenant.languages, ui_locales, cookie.as_deref(), accept)
}
