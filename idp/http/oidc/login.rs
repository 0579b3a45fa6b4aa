//! The resident's login pages for a pending authorization request: identifier first, then the
//! password; consent; the language selector.

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;

use super::authorize::{render, see_other};
use super::{cookie_value, retry_after_header};
use crate::crypto::hash_pool::Share;
use crate::flows::linker::{self, Route};
use crate::flows::oidc::OAuthError;
use crate::flows::oidc::authorize;
use crate::flows::oidc::login::{self, LoginResult, Prepared, Verified};
use crate::flows::password_check::{Attempt, Checked};
use crate::http::pages::View;
use crate::http::{AppState, HttpError};
use crate::store::legacy::LegacyRow;

use super::query_param;

/// The client's address, for throttling.
pub(super) fn client_address(state: &AppState, req: &HttpRequest) -> Option<String> {
    crate::http::client::client_address(state, req)
}

/// The identifier page.
fn identifier_page(
    view: &View<'_>,
    request_id: &str,
    identifier: &str,
    error: Option<(&str, Option<&str>)>,
) -> HttpResponse {
    let mut context = view.context();
    context.insert("request_id", request_id);
    context.insert("identifier", identifier);
    context.insert("error", &error.map(|e| e.0));
    context.insert("hint", &error.and_then(|e| e.1));
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    view.respond(status, "login.html", &context)
}

/// The password page; `account` is the old account chosen among several of one address.
fn password_page(
    view: &View<'_>,
    request_id: &str,
    identifier: &str,
    account: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let mut context = view.context();
    context.insert("request_id", request_id);
    context.insert("identifier", identifier);
    context.insert("account", &account.unwrap_or_default());
    context.insert("error", &error);
    view.respond(status, "password.html", &context)
}

/// An old username as the login pages show it (masked when the tenant says so).
fn shown(view: &View<'_>, username: &str) -> String {
    if view.tenant.legacy.mask_usernames {
        linker::mask(username)
    } else {
        username.to_string()
    }
}

/// The choice between the old accounts of one address; `in_use`: the address has an account
/// already, offered first (its password page), and the old accounts are claimed.
fn choose_page(
    view: &View<'_>,
    request_id: &str,
    identifier: &str,
    accounts: &[LegacyRow],
    in_use: bool,
    error: Option<&str>,
) -> HttpResponse {
    #[derive(serde::Serialize)]
    struct Choice {
        id: String,
        shown: String,
    }
    let choices: Vec<Choice> = accounts
        .iter()
        .map(|a| Choice {
            id: a.id.clone(),
            shown: shown(view, &a.username),
        })
        .collect();
    let mut context = view.context();
    context.insert("request_id", request_id);
    context.insert("identifier", identifier);
    context.insert("choices", &choices);
    context.insert("in_use", &in_use.then_some(linker::IN_USE));
    context.insert("error", &error);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    view.respond(status, "choose_account.html", &context)
}

/// Mails the set-password link of an old account and says so (or says plainly that the mail
/// could not be sent, with the support contact).
async fn send_legacy_link(
    state: &AppState,
    view: &View<'_>,
    tenant: &str,
    account: LegacyRow,
    request_id: &str,
) -> HttpResponse {
    let mails = state.services.mails.clone();
    let language = view.lang;
    let request = Some(request_id.to_string()).filter(|r| !r.is_empty());
    let written = state
        .oidc(tenant, move |m, conn| {
            let to = account.email.clone().unwrap_or_default();
            linker::send_links(
                m,
                conn,
                &mails,
                std::slice::from_ref(&account),
                linker::LinkMail {
                    to: &to,
                    language,
                    request_id: request.as_deref(),
                    user: None,
                },
            )
        })
        .await;
    match written {
        Ok(mail_id) => link_sent(state, view, mail_id.as_deref(), SentFor::Legacy).await,
        Err(error) => render(view, Err(error)),
    }
}

/// The page a linker route leads to.
async fn follow(
    state: &AppState,
    view: &View<'_>,
    tenant: &str,
    request_id: &str,
    identifier: &str,
    route: Route,
) -> HttpResponse {
    match route {
        Route::Account => password_page(view, request_id, identifier, None, None, StatusCode::OK),
        Route::Unknown if view.tenant.reveal_unknown_identifier => identifier_page(
            view,
            request_id,
            identifier,
            Some(("identifier-unknown", Some("identifier-unknown-hint"))),
        ),
        Route::Unknown => password_page(view, request_id, identifier, None, None, StatusCode::OK),
        Route::Password { account } => password_page(
            view,
            request_id,
            identifier,
            Some(&account),
            None,
            StatusCode::OK,
        ),
        Route::SendLink(account) => {
            send_legacy_link(state, view, tenant, *account, request_id).await
        }
        Route::Choose(accounts) => {
            choose_page(view, request_id, identifier, &accounts, false, None)
        }
        Route::Shared(accounts) => choose_page(view, request_id, identifier, &accounts, true, None),
        Route::ClaimPassword(account) => claim_password_page(
            view,
            request_id,
            identifier,
            &account.id,
            Some(&account.username),
            None,
            StatusCode::OK,
        ),
        Route::ClaimLink(account) => {
            send_claim_link(state, view, tenant, *account, request_id).await
        }
    }
}

/// The claim's first step under keep-password: the old password of the chosen account.
fn claim_password_page(
    view: &View<'_>,
    request_id: &str,
    identifier: &str,
    account: &str,
    username: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let mut context = view.context();
    context.insert("step", "password");
    context.insert("request_id", request_id);
    context.insert("identifier", identifier);
    context.insert("account", account);
    context.insert("username", &username.map(|u| shown(view, u)));
    context.insert("error", &error);
    view.respond(status, "claim.html", &context)
}

/// The claim's own-address page, after the old account was proven.
fn claim_address_page(
    view: &View<'_>,
    token: &str,
    username: &str,
    email: &str,
    error: Option<&str>,
) -> HttpResponse {
    let mut context = view.context();
    context.insert("step", "address");
    context.insert("token", token);
    context.insert("username", &shown(view, username));
    context.insert("email", email);
    context.insert("error", &error);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    view.respond(status, "claim.html", &context)
}

/// "A link was sent" for a claim: `step` is `claim` (to the shared address) or `claim_address`
/// (to the own address); or plainly that the mail could not be sent.
/// The "link sent" page of a claim's step; `mail_id` is `None` when a mail limit held the mail
/// What a "link sent" page is about.
#[derive(Clone, Copy)]
enum SentFor<'a> {
    /// An old account's set-password link.
    Legacy,
    /// A step of a claim (`claim`: the proof; `claim_address`: the own address's link).
    Claim(&'a str),
}

/// The "link sent" page; `mail_id` is `None` when a mail limit held the mail back (the page reads
/// the same). A mail that cannot be sent is said plainly (503, with the support contact).
async fn link_sent(
    state: &AppState,
    view: &View<'_>,
    mail_id: Option<&str>,
    sent_for: SentFor<'_>,
) -> HttpResponse {
    let failed = match mail_id {
        Some(id) => state.services.send_failed(id).await,
        None => false,
    };
    let mut context = view.context();
    context.insert("failed", &failed);
    match sent_for {
        SentFor::Legacy => context.insert("legacy", &true),
        SentFor::Claim(step) => context.insert("claim", step),
    }
    context.insert("minutes", &(state.config.settings.tokens.link_seconds / 60));
    let status = if failed {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    view.respond(status, "link_sent.html", &context)
}

/// Mails the claim link of an old account to its (shared) address.
async fn send_claim_link(
    state: &AppState,
    view: &View<'_>,
    tenant: &str,
    account: LegacyRow,
    request_id: &str,
) -> HttpResponse {
    let mails = state.services.mails.clone();
    let language = view.lang;
    let request = Some(request_id.to_string()).filter(|r| !r.is_empty());
    let written = state
        .oidc(tenant, move |m, conn| {
            linker::send_claim_link(m, conn, &mails, &account, language, request.as_deref())
        })
        .await;
    match written {
        Ok(mail_id) => link_sent(state, view, mail_id.as_deref(), SentFor::Claim("claim")).await,
        Err(error) => render(view, Err(error)),
    }
}

/// `GET /{tenant}/login?request=…`: the identifier page.
pub async fn page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let request_id = query_param(&req, "request").unwrap_or_default();
    let binding = cookie_value(&state, &req, "flow", &path);
    let id = request_id.clone();
    let pending = state
        .oidc(&path, move |m, conn| {
            authorize::pending(m, conn, &id, binding.as_deref())
        })
        .await;
    let request = pending
        .as_ref()
        .ok()
        .and_then(|p| p.as_ref())
        .map(|(_, p)| &p.request);
    let ui_locales = request.and_then(|r| r.ui_locales.clone());
    let mut view = View::new(&state, &req, tenant, ui_locales.as_deref());
    // The login's language, kept from its start (or chosen since with the selector).
    if let Some(lang) = request.and_then(|r| r.lang)
        && tenant.languages.contains(&lang)
    {
        view.lang = lang;
    }
    Ok(match pending {
        Ok(Some((_, pending))) => {
            let hint = pending.request.login_hint.unwrap_or_default();
            identifier_page(&view, &request_id, &hint, None)
        }
        Ok(None) => view.error(StatusCode::BAD_REQUEST, "expired"),
        Err(error) => render(&view, Err(error)),
    })
}

/// The login forms' pending request and identifier (trimmed), empty when missing.
fn request_and_identifier(params: &crate::flows::oidc::request::Params) -> (String, String) {
    let request_id = params.get("request").cloned().unwrap_or_default();
    let identifier = params
        .get("identifier")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    (request_id, identifier)
}

/// `POST /{tenant}/login/identifier`: on to the password page — or, for the first login of an
/// old account, to the linker: the choice between several accounts of the address, or the mailed
/// set-password link (email-link policy, or no usable old hash).
///
/// A known or unknown address of the new system leads to the same password page, with the same
/// wording, unless the tenant reveals unknown identifiers. The linker's pages do show that the
/// address had an old account: the resident must be told to read their mail (the seeds do so).
pub async fn identifier(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let mut view = View::new(&state, &req, tenant, None);
    let params = match view.form(&req, &body) {
        Ok(params) => params,
        Err(page) => return Ok(*page),
    };
    let (request_id, identifier) = request_and_identifier(&params);
    view.in_login(&request_id).await;
    if identifier.is_empty() {
        return Ok(identifier_page(
            &view,
            &request_id,
            "",
            Some(("identifier-missing", None)),
        ));
    }
    let who = identifier.clone();
    let routed = state
        .oidc(&path, move |m, conn| linker::route(m, conn, &who))
        .await;
    Ok(match routed {
        Ok(route) => follow(&state, &view, &path, &request_id, &identifier, route).await,
        Err(error) => render(&view, Err(error)),
    })
}

/// `POST /{tenant}/login/choose`: the old account chosen among several of one address.
pub async fn choose(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let mut view = View::new(&state, &req, tenant, None);
    let params = match view.form(&req, &body) {
        Ok(params) => params,
        Err(page) => return Ok(*page),
    };
    let (request_id, identifier) = request_and_identifier(&params);
    view.in_login(&request_id).await;
    let account = params.get("account").cloned().unwrap_or_default();
    let account_given = !account.is_empty();
    let who = identifier.clone();
    let routed = state
        .oidc(&path, move |m, conn| {
            match linker::route_chosen(m, conn, &who, &account)? {
                Route::Unknown => linker::route(m, conn, &who),
                chosen => Ok(chosen),
            }
        })
        .await;
    // No choice, or a stale one (an account bound meanwhile), while there are still several: ask
    // again.
    let again = if account_given {
        "choose-taken"
    } else {
        "choose-missing"
    };
    Ok(match routed {
        Ok(Route::Choose(accounts)) => choose_page(
            &view,
            &request_id,
            &identifier,
            &accounts,
            false,
            Some(again),
        ),
        Ok(Route::Shared(accounts)) => choose_page(
            &view,
            &request_id,
            &identifier,
            &accounts,
            true,
            Some(again),
        ),
        Ok(route) => follow(&state, &view, &path, &request_id, &identifier, route).await,
        Err(error) => render(&view, Err(error)),
    })
}

/// `POST /{tenant}/login/password`: checks the password and goes on with the request.
pub async fn password(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let mut view = View::new(&state, &req, tenant, None);
    let params = match view.form(&req, &body) {
        Ok(params) => params,
        Err(page) => return Ok(*page),
    };
    let (request_id, identifier) = request_and_identifier(&params);
    view.in_login(&request_id).await;
    let chosen = params.get("account").cloned().filter(|a| !a.is_empty());
    let password_text = SecretString::from(params.get("password").cloned().unwrap_or_default());
    let remember = params.get("remember").is_some_and(|r| r == "yes");
    let address = client_address(&state, &req);
    let binding = view.binding.clone();

    let (id, who, bound) = (request_id.clone(), identifier.clone(), binding.clone());
    let chosen_account = chosen.clone();
    let prepared = state
        .oidc(&path, move |m, conn| {
            login::prepare(m, conn, &id, Some(&bound), &who, chosen_account.as_deref())
        })
        .await;
    let check = match prepared {
        Ok(Prepared::Check(check)) => check,
        Ok(Prepared::Expired) => return Ok(view.error(StatusCode::BAD_REQUEST, "expired")),
        Err(error) => return Ok(render(&view, Err(error))),
    };
    let attempt = Attempt {
        account: check.account.clone(),
        address,
        session: None,
        share: Share::Login,
        client: Some(check.client_id().to_string()),
    };
    let checked = state
        .password_check(tenant)
        .run(
            &attempt,
            check.stored.clone(),
            password_text,
            Verified::after_match(check.rehash()),
        )
        .await;
    let verified = match checked {
        Ok(Checked::Matched(Ok(verified))) => verified,
        Ok(Checked::Matched(Err(error))) => {
            return Ok(render(&view, Err(OAuthError::server(error))));
        }
        Ok(Checked::Wrong) => Verified::wrong(),
        Ok(Checked::Throttled { retry_after }) => {
            let mut page = password_page(
                &view,
                &request_id,
                &identifier,
                chosen.as_deref(),
                Some("login-throttled"),
                StatusCode::TOO_MANY_REQUESTS,
            );
            retry_after_header(&mut page, retry_after);
            return Ok(page);
        }
        Ok(Checked::TooMany) => {
            let mut page = password_page(
                &view,
                &request_id,
                &identifier,
                chosen.as_deref(),
                Some("login-throttled"),
                StatusCode::TOO_MANY_REQUESTS,
            );
            retry_after_header(&mut page, 1);
            return Ok(page);
        }
        Ok(Checked::Busy) => return Ok(view.error(StatusCode::SERVICE_UNAVAILABLE, "busy")),
        Err(error) => return Ok(render(&view, Err(error.into()))),
    };
    let result = state
        .oidc(&path, move |m, conn| {
            login::finish(m, conn, *check, verified, remember, &binding)
        })
        .await;
    Ok(match result {
        Ok(LoginResult::Done {
            cookie,
            remember,
            outcome,
        }) => {
            let mut response = render(&view, Ok(outcome));
            let max_age = remember.then(|| {
                i64::try_from(tenant.remember_seconds(&state.config.settings.tokens))
                    .unwrap_or(i64::MAX)
            });
            let cookie = state.cookie(state.cookie_name("session", &path), cookie, max_age);
            if let Err(error) = response.add_cookie(&cookie) {
                tracing::error!(%error, "cannot set the session cookie");
            }
            response
        }
        Ok(LoginResult::Failed) => password_page(
            &view,
            &request_id,
            &identifier,
            chosen.as_deref(),
            Some("login-failed"),
            StatusCode::UNAUTHORIZED,
        ),
        Err(error) => render(&view, Err(error)),
    })
}

/// `POST /{tenant}/login/claim`: the old password of an old account claimed at an address in use
/// (keep-password); on a match, the own-address page. A wrong password reads and counts exactly
/// like one at login.
pub async fn claim(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let mut view = View::new(&state, &req, tenant, None);
    let params = match view.form(&req, &body) {
        Ok(params) => params,
        Err(page) => return Ok(*page),
    };
    let (request_id, identifier) = request_and_identifier(&params);
    view.in_login(&request_id).await;
    let account = params.get("account").cloned().unwrap_or_default();
    let password_text = SecretString::from(params.get("password").cloned().unwrap_or_default());
    let address = client_address(&state, &req);
    let binding = view.binding.clone();
    let (id, who, chosen) = (request_id.clone(), identifier.clone(), account.clone());
    let prepared = state
        .oidc(&path, move |m, conn| {
            linker::prepare_claim(m, conn, &id, &binding, &who, &chosen)
        })
        .await;
    let check = match prepared {
        Ok(linker::ClaimPrepared::Check(check)) => check,
        Ok(linker::ClaimPrepared::Expired) => {
            return Ok(view.error(StatusCode::BAD_REQUEST, "expired"));
        }
        Err(error) => return Ok(render(&view, Err(error))),
    };
    let username = check.username().map(str::to_string);
    let attempt = Attempt {
        account: check.key.clone(),
        address,
        session: None,
        share: Share::Login,
        client: Some(check.client_id.clone()),
    };
    let checked = state
        .password_check(tenant)
        .run(&attempt, check.stored.clone(), password_text, |_| ())
        .await;
    let throttled = |retry_after: i64| {
        let mut page = claim_password_page(
            &view,
            &request_id,
            &identifier,
            &account,
            None,
            Some("login-throttled"),
            StatusCode::TOO_MANY_REQUESTS,
        );
        retry_after_header(&mut page, retry_after);
        page
    };
    let matches = match checked {
        Ok(Checked::Matched(())) => true,
        Ok(Checked::Wrong) => false,
        Ok(Checked::Throttled { retry_after }) => return Ok(throttled(retry_after)),
        Ok(Checked::TooMany) => return Ok(throttled(1)),
        Ok(Checked::Busy) => return Ok(view.error(StatusCode::SERVICE_UNAVAILABLE, "busy")),
        Err(error) => return Ok(render(&view, Err(error.into()))),
    };
    let finished = state
        .oidc(&path, move |m, conn| {
            linker::finish_claim(m, conn, *check, matches)
        })
        .await;
    Ok(match finished {
        Ok(Some(proven)) => claim_address_page(&view, &proven.token, &proven.username, "", None),
        Ok(None) => claim_password_page(
            &view,
            &request_id,
            &identifier,
            &account,
            username.as_deref(),
            Some("login-failed"),
            StatusCode::UNAUTHORIZED,
        ),
        Err(error) => render(&view, Err(error)),
    })
}

fn link_expired(view: &View<'_>) -> HttpResponse {
    let mut context = view.context();
    context.insert("reason", "link_expired");
    context.insert("message_key", "link-expired");
    view.respond(StatusCode::GONE, "error.html", &context)
}

/// The old username of a claim token, or the "link expired" page.
async fn claim_target(
    state: &AppState,
    view: &View<'_>,
    tenant: &str,
    token: &str,
) -> Result<String, HttpResponse> {
    let probe = token.to_string();
    match state
        .oidc(tenant, move |m, conn| linker::claim_target(m, conn, &probe))
        .await
    {
        Ok(Some(username)) => Ok(username),
        Ok(None) => Err(link_expired(view)),
        Err(error) => Err(render(view, Err(error))),
    }
}

/// `GET /{tenant}/claim?token=…`: the claim link mailed to a shared address proved the old
/// account; the own-address page (the token is in the query, never in a path).
pub async fn claim_page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let mut view = View::new(&state, &req, tenant, None);
    let token = query_param(&req, "token").unwrap_or_default();
    view.in_login_of_link(&token).await;
    Ok(match claim_target(&state, &view, &path, &token).await {
        Ok(username) => claim_address_page(&view, &token, &username, "", None),
        Err(page) => page,
    })
}

/// `POST /{tenant}/claim`: the claimant's own address; a link to it (or, to an address in use, a
/// notice) is mailed, and the page reads the same either way.
pub async fn claim_submit(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let mut view = View::new(&state, &req, tenant, None);
    let params = match view.form(&req, &body) {
        Ok(params) => params,
        Err(page) => return Ok(*page),
    };
    let token = params.get("token").cloned().unwrap_or_default();
    view.in_login_of_link(&token).await;
    let typed = params.get("email").cloned().unwrap_or_default();
    let username = match claim_target(&state, &view, &path, &token).await {
        Ok(username) => username,
        Err(page) => return Ok(page),
    };
    let Ok(email) = crate::domain::Email::parse(&typed) else {
        return Ok(claim_address_page(
            &view,
            &token,
            &username,
            &typed,
            Some("email-invalid"),
        ));
    };
    let mails = state.services.mails.clone();
    let language = view.lang;
    let written = state
        .oidc(&path, move |m, conn| {
            linker::submit_claim(m, conn, &mails, &token, &email, language)
        })
        .await;
    Ok(match written {
        Ok(linker::Claimed::Mailed(mail_id)) => {
            link_sent(
                &state,
                &view,
                mail_id.as_deref(),
                SentFor::Claim("claim_address"),
            )
            .await
        }
        Ok(linker::Claimed::Expired) => link_expired(&view),
        Err(error) => render(&view, Err(error)),
    })
}

/// `GET /{tenant}/consent?request=…`: what the client asks for.
pub async fn consent_page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let mut view = View::new(&state, &req, tenant, None);
    let request_id = query_param(&req, "request").unwrap_or_default();
    view.in_login(&request_id).await;
    let binding = Some(view.binding.clone());
    let id = request_id.clone();
    let pending = state
        .oidc(&path, move |m, conn| {
            authorize::pending(m, conn, &id, binding.as_deref())
        })
        .await;
    Ok(match pending {
        Ok(Some((_, pending))) => {
            let client_name = tenant
                .client(&pending.request.client_id)
                .map(|c| c.name.clone().unwrap_or_else(|| c.client_id.clone()))
                .unwrap_or_default();
            let mut context = view.context();
            context.insert("client_name", &client_name);
            context.insert("scope", &pending.request.scope_string());
            context.insert("request_id", &request_id);
            view.respond(StatusCode::OK, "consent.html", &context)
        }
        Ok(None) => view.error(StatusCode::BAD_REQUEST, "expired"),
        Err(error) => render(&view, Err(error)),
    })
}

/// `POST /{tenant}/consent`: the resident's answer.
pub async fn consent(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let mut view = View::new(&state, &req, tenant, None);
    let params = match view.form(&req, &body) {
        Ok(params) => params,
        Err(page) => return Ok(*page),
    };
    let request_id = params.get("request").cloned().unwrap_or_default();
    view.in_login(&request_id).await;
    let approve = params.get("decision").is_some_and(|d| d == "approve");
    let binding = Some(view.binding.clone());
    let session = cookie_value(&state, &req, "session", &path);
    let result = state
        .oidc(&path, move |m, conn| {
            login::consent(
                m,
                conn,
                &request_id,
                binding.as_deref(),
                session.as_deref(),
                approve,
            )
        })
        .await;
    Ok(match result {
        Ok(Some(outcome)) => render(&view, Ok(outcome)),
        Ok(None) => view.error(StatusCode::BAD_REQUEST, "expired"),
        Err(error) => render(&view, Err(error)),
    })
}

/// `POST /{tenant}/language`: remembers the chosen language, back to the page it was chosen on.
pub async fn language(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let view = View::new(&state, &req, tenant, None);
    let params = match view.form(&req, &body) {
        Ok(params) => params,
        Err(page) => return Ok(*page),
    };
    let chosen = params
        .get("lang")
        .and_then(|l| crate::i18n::parse_tag(l))
        .filter(|l| tenant.languages.contains(l));
    // Only a path of ours: never an open redirect.
    let Some(back) = params
        .get("return")
        .filter(|r| {
            r.starts_with(&format!("/{}/", tenant.id))
                && !r.starts_with("//")
                && !r.contains(|c: char| c.is_control() || c == '\\')
        })
        .cloned()
    else {
        return Ok(view.error(StatusCode::BAD_REQUEST, "bad_request"));
    };
    let mut response = see_other(&format!(
        "{}{back}",
        state.config.settings.server.public_base()
    ));
    // On a page of a login (the form's `request`, or the `request` of the page it returns to),
    // the choice holds for the rest of that login.
    let request_id = params
        .get("request")
        .filter(|r| !r.is_empty())
        .cloned()
        .or_else(|| {
            let (_, query) = back.split_once('?')?;
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, v)| k == "request" && !v.is_empty())
                .map(|(_, v)| v.into_owned())
        });
    if let Some(language) = chosen
        && let Some(request_id) = request_id
    {
        let binding = Some(view.binding.clone());
        let changed = state
            .oidc(&path, move |m, conn| {
                authorize::set_language(m, conn, &request_id, binding.as_deref(), language)
            })
            .await;
        if let Err(error) = changed {
            return Ok(render(&view, Err(error)));
        }
    }
    if let Some(language) = chosen {
        let cookie = state.cookie(
            state.cookie_name("lang", &tenant.id),
            language.tag().to_string(),
            Some(365 * 24 * 3600),
        );
        if let Err(error) = response.add_cookie(&cookie) {
            tracing::error!(%error, "cannot set the language cookie");
        }
    }
    Ok(response)
}
