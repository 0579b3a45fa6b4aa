//! `GET /{tenant}/account` and its forms: name, password, sign out everywhere. Without a session
//! the resident logs in first and comes back here.

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::{ExposeSecret, SecretString};

use super::authorize::{render, see_other};
use super::login::client_address;
use super::{cookie_value, retry_after_header};
use crate::config::Policy;
use crate::crypto::hash_pool::Share;
use crate::crypto::password;
use crate::domain::{Email, NewPassword};
use crate::flows::account;
use crate::flows::email_change::{self, Followed};
use crate::flows::linker::{self, Olds};
use crate::flows::oidc::OAuthError;
use crate::flows::oidc::authorize;
use crate::flows::password_check::{Attempt, Checked, Stored};
use crate::http::pages::View;
use crate::http::{AppState, HttpError};
use crate::store::Tenant;
use crate::store::throttle::ThrottleKey;
use crate::store::users::UserRow;

/// A password check of the account page, for the signed-in `session`: throttled like a login,
/// from the share of the hashing pool that logins do not keep.
fn account_attempt(
    state: &AppState,
    req: &HttpRequest,
    session: &str,
    account: ThrottleKey,
) -> Attempt {
    Attempt {
        account,
        address: client_address(state, req),
        session: Some(session.to_string()),
        share: Share::Other,
        client: None,
    }
}

/// The account page's answer to a check that did not run: `error_key` with 429 (throttled, or
/// the session already has its checks running) or the busy page (503).
fn not_checked<T>(
    view: &View<'_>,
    checked: &Checked<T>,
    page: impl FnOnce(StatusCode) -> HttpResponse,
) -> Option<HttpResponse> {
    let retry_after = match checked {
        Checked::Throttled { retry_after } => *retry_after,
        Checked::TooMany => 1,
        Checked::Busy => return Some(view.error(StatusCode::SERVICE_UNAVAILABLE, "busy")),
        Checked::Matched(_) | Checked::Wrong => return None,
    };
    let mut response = page(StatusCode::TOO_MANY_REQUESTS);
    retry_after_header(&mut response, retry_after);
    Some(response)
}

/// A check of the signed-in resident's current password on the account page: throttled and
/// counted like every password ([`crate::flows::password_check`]), from the pool's other share.
struct CurrentPassword<'a> {
    session_id: &'a str,
    user: &'a UserRow,
    olds: &'a Olds,
    /// What `login.failed` names as the check (`account.password`, `account.email`).
    check: &'static str,
    /// The message keys of a refused check and of a wrong password.
    throttled: &'static str,
    wrong: &'static str,
}

impl CurrentPassword<'_> {
    /// On a match, what `then` made of the password; otherwise the page to answer (429 when
    /// throttled, 422 when wrong — audited as `login.failed` —, 503 when the pool is full).
    async fn check<T, F>(
        &self,
        state: &AppState,
        view: &View<'_>,
        req: &HttpRequest,
        password: SecretString,
        then: F,
    ) -> Result<T, HttpResponse>
    where
        F: FnOnce(&SecretString) -> T + Send + 'static,
        T: Send + 'static,
    {
        let stored = Stored::Argon2(
            self.user
                .password_hash
                .clone()
                .unwrap_or_else(|| crate::flows::password_check::DUMMY_HASH.to_string()),
        );
        let attempt = account_attempt(
            state,
            req,
            self.session_id,
            ThrottleKey::User(self.user.id.clone()),
        );
        let page =
            |key: &str, status| account_page(view, self.user, self.olds, None, Some(key), status);
        let checked = match state
            .password_check(view.tenant)
            .run(&attempt, stored, password, then)
            .await
        {
            Ok(checked) => checked,
            Err(error) => return Err(render(view, Err(error.into()))),
        };
        if let Some(response) = not_checked(view, &checked, |status| page(self.throttled, status)) {
            return Err(response);
        }
        if let Checked::Matched(value) = checked {
            return Ok(value);
        }
        let (failed, check) = (self.user.clone(), self.check);
        let audited = state
            .oidc(&view.tenant.id, move |m, conn| {
                account::check_failed(m, conn, &failed, check)
            })
            .await;
        Err(match audited {
            Ok(()) => page(self.wrong, StatusCode::UNPROCESSABLE_ENTITY),
            Err(error) => render(view, Err(error)),
        })
    }
}

/// The account page after a mailed link: `sent` (a message key), or the seed's "could not be
/// sent" with 503 when `failed`.
fn after_mail(
    view: &View<'_>,
    user: &UserRow,
    olds: &Olds,
    sent: &str,
    failed: bool,
) -> HttpResponse {
    if failed {
        account_page(
            view,
            user,
            olds,
            None,
            Some("message-failed"),
            StatusCode::SERVICE_UNAVAILABLE,
        )
    } else {
        account_page(view, user, olds, Some(sent), None, StatusCode::OK)
    }
}

fn account_page(
    view: &View<'_>,
    user: &UserRow,
    olds: &Olds,
    message: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let mut context = view.context();
    context.insert("email", &user.email);
    context.insert(
        "username",
        &user.username.as_ref().filter(|_| user.email.is_none()),
    );
    context.insert("name", &user.name.clone().unwrap_or_default());
    context.insert("message", &message);
    // Errors of the address form show there; the others at the password form.
    let of_email = |e: &&str| {
        matches!(
            *e,
            "email-invalid"
                | "message-failed"
                | "email-current-password-wrong"
                | "email-password-throttled"
        )
    };
    // And those of the name at the name form.
    let of_name = |e: &&str| *e == "name-invalid";
    // And those of linking an old account at its form.
    let of_legacy = |e: &&str| matches!(*e, "account-link-failed" | "login-throttled");
    context.insert(
        "error",
        &error.filter(|e| !of_email(e) && !of_legacy(e) && !of_name(e)),
    );
    context.insert("name_error", &error.filter(of_name));
    context.insert("legacy_error", &error.filter(of_legacy));
    context.insert("email_error", &error.filter(of_email));
    context.insert("min", &view.tenant.min_password_chars());
    #[derive(serde::Serialize)]
    struct Linkable<'a> {
        id: &'a str,
        username: &'a str,
        by_password: bool,
    }
    let keep_password = view.tenant.policy == Policy::KeepPassword;
    let linkable: Vec<Linkable<'_>> = olds
        .linkable
        .iter()
        .map(|a| Linkable {
            id: &a.id,
            username: &a.username,
            by_password: keep_password && a.has_usable_hash(),
        })
        .collect();
    context.insert("former", &olds.bound);
    context.insert("linkable", &linkable);
    view.respond(status, "account.html", &context)
}

/// The session's user, or a response that sends the browser to log in first.
async fn signed_in(
    state: &AppState,
    view: &View<'_>,
    req: &HttpRequest,
) -> Result<(String, UserRow, Olds), HttpResponse> {
    let tenant = view.tenant.id.clone();
    let cookie = cookie_value(state, req, "session", &tenant);
    let binding = view.binding.clone();
    let found = state
        .oidc(&tenant, move |m, conn| {
            match account::current(m, conn, cookie.as_deref())? {
                Some((session, user)) => {
                    let olds = linker::olds(conn, Tenant::of(m.tenant), &user)?;
                    Ok(Ok((session.id, user, olds)))
                }
                None => authorize::account_login(m, conn, &binding).map(Err),
            }
        })
        .await;
    match found {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(request_id)) => Err(view.attach(see_other(&format!(
            "{}/{tenant}/login?request={request_id}",
            state.config.settings.server.public_base()
        )))),
        Err(error) => Err(render(view, Err(error))),
    }
}

/// `GET /{tenant}/account`
pub async fn page(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let view = View::new(&state, &req, tenant, None);
    Ok(match signed_in(&state, &view, &req).await {
        Ok((_, user, olds)) => account_page(&view, &user, &olds, None, None, StatusCode::OK),
        Err(response) => response,
    })
}

/// `POST /{tenant}/account/name`
pub async fn name(
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
    let (_, user, olds) = match signed_in(&state, &view, &req).await {
        Ok(found) => found,
        Err(response) => return Ok(response),
    };
    let name = match crate::domain::parse_name(params.get("name").map_or("", String::as_str)) {
        Ok(name) => name,
        Err(error) => {
            return Ok(account_page(
                &view,
                &user,
                &olds,
                None,
                Some(error.message_key()),
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
    };
    let changed = user.clone();
    let name_shown = name.clone();
    let saved = state
        .oidc(&path, move |m, conn| {
            account::set_name(m, conn, &changed, name.as_deref())
        })
        .await;
    Ok(match saved {
        Ok(()) => {
            let mut user = user;
            user.name = name_shown;
            account_page(
                &view,
                &user,
                &olds,
                Some("name-saved"),
                None,
                StatusCode::OK,
            )
        }
        Err(error) => render(&view, Err(error)),
    })
}

/// `POST /{tenant}/account/password`: the current password, then the new one.
pub async fn change_password(
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
    let (session_id, user, olds) = match signed_in(&state, &view, &req).await {
        Ok(found) => found,
        Err(response) => return Ok(response),
    };
    let refuse = |key: &str| {
        account_page(
            &view,
            &user,
            &olds,
            None,
            Some(key),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let password_text = SecretString::from(params.get("current").cloned().unwrap_or_default());
    let first = SecretString::from(params.get("password").cloned().unwrap_or_default());
    if Some(first.expose_secret()) != params.get("password2").map(String::as_str) {
        return Ok(refuse("password-mismatch"));
    }
    let new_password = match NewPassword::parse_with(first, tenant.min_password_chars()) {
        Ok(password) => password,
        Err(error) => return Ok(refuse(error.message_key())),
    };
    let current = CurrentPassword {
        session_id: &session_id,
        user: &user,
        olds: &olds,
        check: "account.password",
        throttled: "account-password-throttled",
        wrong: "current-password-wrong",
    };
    let hashed = current
        .check(&state, &view, &req, password_text, move |_| {
            password::hash(new_password.secret())
        })
        .await;
    let hash = match hashed {
        Ok(Ok(hash)) => hash,
        Ok(Err(error)) => return Ok(render(&view, Err(OAuthError::server(error)))),
        Err(page) => return Ok(page),
    };
    let changed = user.clone();
    let saved = state
        .oidc(&path, move |m, conn| {
            account::set_password(m, conn, &changed, &session_id, &hash)
        })
        .await;
    Ok(match saved {
        Ok(()) => account_page(
            &view,
            &user,
            &olds,
            Some("password-changed"),
            None,
            StatusCode::OK,
        ),
        Err(error) => render(&view, Err(error)),
    })
}

/// `POST /{tenant}/account/logout-everywhere`
pub async fn logout_everywhere(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, HttpError> {
    let tenant = state.config.tenant(&path).ok_or(HttpError::UnknownTenant)?;
    let view = View::new(&state, &req, tenant, None);
    if let Err(page) = view.form(&req, &body) {
        return Ok(*page);
    }
    let (_, user, _) = match signed_in(&state, &view, &req).await {
        Ok(found) => found,
        Err(response) => return Ok(response),
    };
    let ended = state
        .oidc(&path, move |m, conn| {
            account::sign_out_everywhere(m, conn, &user)
        })
        .await;
    Ok(match ended {
        Ok(()) => {
            let mut response = view.respond(StatusCode::OK, "logged_out.html", &view.context());
            let mut gone =
                state.cookie(state.cookie_name("session", &path), String::new(), Some(0));
            gone.make_removal();
            if let Err(error) = response.add_cookie(&gone) {
                tracing::error!(%error, "cannot clear the session cookie");
            }
            response
        }
        Err(error) => render(&view, Err(error)),
    })
}

fn message(
    view: &View<'_>,
    status: StatusCode,
    title: &str,
    message: &str,
    email: &str,
) -> HttpResponse {
    let mut context = view.context();
    context.insert("title_key", title);
    context.insert("message_key", message);
    context.insert("email", email);
    view.respond(status, "message.html", &context)
}

/// `POST /{tenant}/account/email`: mails a confirmation link to the new address.
pub async fn change_email(
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
    let (session_id, user, olds) = match signed_in(&state, &view, &req).await {
        Ok(found) => found,
        Err(response) => return Ok(response),
    };
    let Ok(new) = Email::parse(params.get("email").map(String::as_str).unwrap_or_default()) else {
        return Ok(account_page(
            &view,
            &user,
            &olds,
            None,
            Some("email-invalid"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    };
    // A change of address hands the account to whoever reads the new mailbox: the current
    // password first, checked (and throttled) like every other password.
    let current = CurrentPassword {
        session_id: &session_id,
        user: &user,
        olds: &olds,
        check: "account.email",
        throttled: "email-password-throttled",
        wrong: "email-current-password-wrong",
    };
    let password_text = SecretString::from(params.get("password").cloned().unwrap_or_default());
    if let Err(page) = current
        .check(&state, &view, &req, password_text, |_| ())
        .await
    {
        return Ok(page);
    }
    let mails = state.services.mails.clone();
    let language = view.lang;
    let requester = user.clone();
    let written = state
        .oidc(&path, move |m, conn| {
            email_change::request(m, conn, &mails, &requester, &new, language)
        })
        .await;
    let failed = match written {
        Ok(Some(id)) => state.services.send_failed(&id).await,
        Ok(None) => false,
        Err(error) => return Ok(render(&view, Err(error))),
    };
    Ok(after_mail(&view, &user, &olds, "email-link-sent", failed))
}

/// `GET /{tenant}/email/confirm?token=…`: asks before switching (mail scanners follow links).
pub async fn confirm_form(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    link_form(
        &state,
        &path,
        &req,
        "email_confirm.html",
        email_change::confirm_target,
    )
    .await
}

/// The page a mailed link opens: the address it is about and a button; nothing changes until
/// the form is posted.
async fn link_form(
    state: &AppState,
    tenant: &str,
    req: &HttpRequest,
    template: &str,
    target: fn(
        &crate::flows::oidc::tokens::Minter<'_>,
        &mut crate::store::DbConnection,
        &str,
    ) -> Result<Option<String>, OAuthError>,
) -> Result<HttpResponse, HttpError> {
    let tenant_config = state
        .config
        .tenant(tenant)
        .ok_or(HttpError::UnknownTenant)?;
    let view = View::new(state, req, tenant_config, None);
    let token = super::query_param(req, "token").unwrap_or_default();
    let probe = token.clone();
    let address = state
        .oidc(tenant, move |m, conn| target(m, conn, &probe))
        .await;
    Ok(match address {
        Ok(Some(email)) => {
            let mut context = view.context();
            context.insert("email", &email);
            context.insert("token", &token);
            view.respond(StatusCode::OK, template, &context)
        }
        Ok(None) => message(&view, StatusCode::GONE, "error-title", "link-expired", ""),
        Err(error) => render(&view, Err(error)),
    })
}

/// `POST /{tenant}/email/confirm`: the new address is proven; switch to it.
pub async fn confirm_email(
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
    let token = params.get("token").cloned().unwrap_or_default();
    let mails = state.services.mails.clone();
    let language = view.lang;
    let done = state
        .oidc(&path, move |m, conn| {
            email_change::confirm(m, conn, &mails, language, &token)
        })
        .await;
    Ok(followed(
        &view,
        done,
        "email-changed-title",
        "email-changed",
    ))
}

fn followed(
    view: &View<'_>,
    done: Result<Followed, OAuthError>,
    title: &str,
    text: &str,
) -> HttpResponse {
    match done {
        Ok(Followed::Done(email)) => message(view, StatusCode::OK, title, text, &email),
        Ok(Followed::Taken) => {
            message(view, StatusCode::CONFLICT, "error-title", "email-taken", "")
        }
        Ok(Followed::Expired) => message(view, StatusCode::GONE, "error-title", "link-expired", ""),
        Err(error) => render(view, Err(error)),
    }
}

/// `GET /{tenant}/email/undo?token=…`: asks before undoing (mail scanners follow links).
pub async fn undo_form(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    link_form(
        &state,
        &path,
        &req,
        "email_undo.html",
        email_change::undo_target,
    )
    .await
}

/// `POST /{tenant}/email/undo`: restores the old address, ends every session.
pub async fn undo(
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
    let token = params.get("token").cloned().unwrap_or_default();
    let done = state
        .oidc(&path, move |m, conn| email_change::undo(m, conn, &token))
        .await;
    Ok(followed(
        &view,
        done,
        "email-restored-title",
        "email-restored",
    ))
}

/// `POST /{tenant}/account/legacy`: binds another old account of the resident's address, proven
/// by its old password (keep-password, usable hash) or else by a link mailed to the address.
pub async fn link_legacy(
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
    let (session_id, user, olds) = match signed_in(&state, &view, &req).await {
        Ok(found) => found,
        Err(response) => return Ok(response),
    };
    let chosen = params.get("account").cloned().unwrap_or_default();
    let Some(account) = olds.linkable.iter().find(|a| a.id == chosen).cloned() else {
        // Bound meanwhile, or not one of this resident's: the page as it is now.
        return Ok(account_page(
            &view,
            &user,
            &olds,
            None,
            None,
            StatusCode::CONFLICT,
        ));
    };
    let by_password = tenant.policy == Policy::KeepPassword && account.has_usable_hash();
    if !by_password {
        let mails = state.services.mails.clone();
        let language = view.lang;
        let (to, owner) = (user.email.clone().unwrap_or_default(), user.id.clone());
        let written = state
            .oidc(&path, move |m, conn| {
                linker::send_links(
                    m,
                    conn,
                    &mails,
                    std::slice::from_ref(&account),
                    linker::LinkMail {
                        to: &to,
                        language,
                        request_id: None,
                        user: Some(&owner),
                    },
                )
            })
            .await;
        return Ok(match written {
            Ok(mail_id) => {
                // A reached mail limit reads as sent.
                let failed = match mail_id {
                    Some(id) => state.services.send_failed(&id).await,
                    None => false,
                };
                after_mail(&view, &user, &olds, "account-link-sent", failed)
            }
            Err(error) => render(&view, Err(error)),
        });
    }
    // The old password: throttled like a login, checked in the hashing pool.
    let password_text = SecretString::from(params.get("password").cloned().unwrap_or_default());
    let stored = Stored::Legacy {
        hash: account.password_hash.clone().unwrap_or_default(),
        salted: tenant.legacy.salted_sha.clone(),
    };
    let attempt = account_attempt(
        &state,
        &req,
        &session_id,
        ThrottleKey::Legacy(account.id.clone()),
    );
    let checked = state
        .password_check(tenant)
        .run(&attempt, stored, password_text, |_| ())
        .await;
    let checked = match checked {
        Ok(checked) => checked,
        Err(error) => return Ok(render(&view, Err(error.into()))),
    };
    if let Some(response) = not_checked(&view, &checked, |status| {
        account_page(&view, &user, &olds, None, Some("login-throttled"), status)
    }) {
        return Ok(response);
    }
    let matches = matches!(checked, Checked::Matched(()));
    let bound_user = user.clone();
    let bound = state
        .oidc(&path, move |m, conn| {
            if !matches {
                account::check_failed(m, conn, &bound_user, "account.legacy")?;
                return Ok(false);
            }
            linker::bind_to_user(m, conn, &account, &bound_user, "password")
        })
        .await;
    let olds = match reload_olds(&state, &path, &user).await {
        Ok(olds) => olds,
        Err(error) => return Ok(render(&view, Err(error))),
    };
    Ok(match bound {
        Ok(true) => account_page(
            &view,
            &user,
            &olds,
            Some("account-link-done"),
            None,
            StatusCode::OK,
        ),
        Ok(false) => account_page(
            &view,
            &user,
            &olds,
            None,
            Some("account-link-failed"),
            StatusCode::UNAUTHORIZED,
        ),
        Err(error) => render(&view, Err(error)),
    })
}

async fn reload_olds(state: &AppState, tenant: &str, user: &UserRow) -> Result<Olds, OAuthError> {
    let user = user.clone();
    state
        .oidc(tenant, move |m, conn| {
            Ok(linker::olds(conn, Tenant::of(m.tenant), &user)?)
        })
        .await
}
