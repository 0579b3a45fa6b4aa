//! [`View`], one page view: the tenant, the language, the browser's flow secret (for CSRF
//! tokens) and the request; what every page's template gets, and the answers every page shares
//! (the error page, a flow's error, a refused form, the flow cookie and the page's CSP).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_SECURITY_POLICY, HeaderValue, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, web};

use super::csp::{page_csp, report_uri};
use super::csrf::csrf_token;
use super::error::{PageError, error_key, error_title};
use super::frame::{self, negotiate};
use crate::config::{Language, TenantConfig};
use crate::crypto::secret;
use crate::flows::account::signed_in as account;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::oidc::pending;
use crate::flows::oidc::request::Params;
use crate::http::state::AppState;
use crate::http::util;
use crate::store::DbConnection;

/// A flow that finds the language of a login by a key of it.
type FindLanguage<E> = fn(&Minter<'_>, &mut DbConnection, &str) -> Result<Option<Language>, E>;

/// One page view: the tenant, the language, and the browser's flow secret (for CSRF tokens).
pub struct View {
    /// The state.
    pub state: web::Data<AppState>,
    /// The tenant.
    pub tenant: Arc<TenantConfig>,
    /// The request.
    pub req: HttpRequest,
    /// The language of the page.
    pub lang: Language,
    /// The browser's flow secret.
    pub binding: String,
    /// Whether the flow cookie must be set with this response.
    pub fresh: bool,
    /// The path the language selector returns to.
    pub return_to: String,
    /// On the account page: the tag of the signed-in user its forms are for ([`account_tag`]),
    /// which their CSRF token carries after a dot.
    pub account_of: Option<String>,
}

impl View {
    /// A view of `tenant` for `req`; `ui_locales` from the authorization request, if any.
    pub fn new(
        state: web::Data<AppState>,
        req: &HttpRequest,
        tenant: Arc<TenantConfig>,
        ui_locales: Option<&str>,
    ) -> View {
        let lang = negotiate(&state, req, &tenant, ui_locales);
        let (binding, fresh) = match state.cookie_value(req, "flow", &tenant.id) {
            Some(binding) => (binding, false),
            None => (secret::random_token(), true),
        };
        let return_to = match req.query_string() {
            "" => req.path().to_string(),
            query => format!("{}?{query}", req.path()),
        };
        View {
            state,
            tenant,
            req: req.clone(),
            lang,
            binding,
            fresh,
            return_to,
            account_of: None,
        }
    }

    /// The page the language selector returns to from the answer to the posted form `params`: a
    /// page a browser can open again, since most posted paths have no page to GET (the selector
    /// led to "page not found"), and a mailed link's page needs its token (without it, "link
    /// expired"). A link's page with its token; the account page for its forms; else the first
    /// page of the posted path's part (`/login`, `/passkey-offer`, `/consent`, `/register`,
    /// `/forgot`) with the pending login's request, if any.
    pub fn return_after_post(&mut self, params: &Params) {
        let tenant = &self.tenant.id;
        let path = self.req.path();
        let field = |name: &str| params.get(name).filter(|v| !v.is_empty());
        let query = |name: &str, value: &str| {
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair(name, value)
                .finish()
        };
        let part = path
            .strip_prefix(&format!("/{tenant}/"))
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        let page = format!("/{tenant}/{part}");
        self.return_to = match (field("token"), field("request")) {
            (Some(token), _) => format!("{path}?{}", query("token", token)),
            _ if part == "account" => page,
            (None, Some(request)) => format!("{page}?{}", query("request", request)),
            (None, None) => page,
        };
    }

    /// Chooses the language again, `ui_locales` of an authorization request first.
    pub fn prefer(&mut self, ui_locales: Option<&str>) {
        self.lang = negotiate(&self.state, &self.req, &self.tenant, ui_locales);
    }

    /// Runs the flow `f` for this tenant (see [`AppState::flow`]); its error becomes the page
    /// that says so.
    pub async fn flow<T, E, F>(&self, f: F) -> Result<T, PageError>
    where
        F: FnOnce(&Minter<'_>, &mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<FlowError> + Send + 'static,
    {
        let tenant = &self.tenant.id;
        let run = self.state.flow_in(tenant, Some(self.lang), |m, conn| {
            f(m, conn).map_err(Into::into)
        });
        run.await.or_page(self)
    }

    /// [`View::flow`] for a flow that may write a mail anyone can ask for: in its client address's
    /// turn on this node (`store/gate.rs`, [`crate::flows::mail_limit::turns`]).
    pub async fn mail_flow<T, E, F>(&self, f: F) -> Result<T, PageError>
    where
        F: FnOnce(&Minter<'_>, &mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<FlowError> + Send + 'static,
    {
        let tenant = crate::store::Tenant::of(&self.tenant);
        let turns = crate::flows::mail_limit::turns(tenant, self.client_address().as_deref());
        let tenant = &self.tenant.id;
        let run = self
            .state
            .flow_in_turn(tenant, Some(self.lang), &turns, |m, conn| {
                f(m, conn).map_err(Into::into)
            });
        run.await.or_page(self)
    }

    /// Shows the page in the language of the login for the pending request `request_id` (kept
    /// from its start, or chosen with the selector since), when there is one.
    pub async fn in_login(&mut self, request_id: &str) {
        self.in_language_of(request_id, pending::language).await;
    }

    /// Shows the page in the language of the login a mailed link (by its token) was sent from.
    pub async fn in_login_of_link(&mut self, token: &str) {
        self.in_language_of(token, pending::language_of_link).await;
    }

    /// Shows the page in the language `find` finds for `key` (a request's id, a link's token).
    async fn in_language_of<E>(&mut self, key: &str, find: FindLanguage<E>)
    where
        E: Into<FlowError> + 'static,
    {
        if key.is_empty() {
            return;
        }
        let key = key.to_string();
        let found = self
            .state
            .flow(&self.tenant.id, move |m, conn| {
                find(m, conn, &key).map_err(Into::<FlowError>::into)
            })
            .await;
        self.adopt(found.ok().flatten());
    }

    /// Shows the page in `lang` (a login's language) when there is one and the tenant offers it.
    pub fn adopt(&mut self, lang: Option<Language>) {
        if let Some(lang) = lang
            && self.tenant.languages.contains(&lang)
        {
            self.lang = lang;
        }
    }

    /// A parameter of the query string, empty when missing ([`util::query_param`]).
    pub fn query(&self, name: &str) -> String {
        util::query_param(&self.req, name).unwrap_or_default()
    }

    /// The value of this tenant's cookie `what` on the request.
    pub fn cookie(&self, what: &str) -> Option<String> {
        self.state.cookie_value(&self.req, what, &self.tenant.id)
    }

    /// The CSRF token of this browser's forms; on the account page with the tag of the user the
    /// page is for, so that a form of a tab left open when another resident signed in is refused
    /// (`SignedIn`).
    pub fn csrf(&self) -> String {
        match &self.account_of {
            Some(tag) => format!("{}.{tag}", csrf_token(&self.binding)),
            None => csrf_token(&self.binding),
        }
    }

    /// The context every page has: language, tenant, selector, support, CSRF.
    pub fn context(&self) -> tera::Context {
        let mut context = tera::Context::new();
        let tenant = &self.tenant;
        context.insert("lang", self.lang.tag());
        context.insert("tenant_name", &tenant.name);
        context.insert("tenant_id", &tenant.id);
        context.insert("base_url", self.state.config.settings.server.public_base());
        context.insert("csrf", &self.csrf());
        context.insert("return_to", &self.return_to);
        frame::insert(&mut context, tenant, self.lang);
        // As `Minter::passkeys_on`: the passkey buttons and the autofill's `webauthn` token.
        let passkeys_on =
            tenant.passkeys.enabled && self.state.config.settings.server.webauthn_host().is_some();
        context.insert("passkeys_on", &passkeys_on);
        context
    }

    /// Renders `name` and sets the flow cookie when it is new.
    pub fn respond(&self, status: StatusCode, name: &str, context: &tera::Context) -> HttpResponse {
        self.attach(self.state.pages.respond(status, name, context))
    }

    /// Adds the flow cookie to `response` when it is new, and the page's CSP.
    pub fn attach(&self, mut response: HttpResponse) -> HttpResponse {
        // Browsers apply form-action to the redirect that follows a form, too: a login form
        // ends at the client, so the tenant's clients' origins are allowed.
        let has_own = response.headers().contains_key(CONTENT_SECURITY_POLICY);
        let report = report_uri(
            self.state.config.settings.server.public_base(),
            &self.tenant,
        );
        if !has_own && let Ok(value) = HeaderValue::from_str(&page_csp(&self.tenant, &report)) {
            response
                .headers_mut()
                .insert(CONTENT_SECURITY_POLICY, value);
        }
        if self.fresh && !util::cross_site_post(&self.req) {
            self.state.set_cookie(
                &mut response,
                ("flow", &self.tenant.id),
                self.binding.clone(),
                None,
            );
        }
        response
    }

    /// `response` with the session cookie `cookie` (a browser-session cookie unless `max_age`).
    pub fn signed_into(
        &self,
        mut response: HttpResponse,
        cookie: String,
        max_age: Option<i64>,
    ) -> HttpResponse {
        let tenant = &self.tenant.id;
        self.state
            .set_cookie(&mut response, ("session", tenant), cookie, max_age);
        response
    }

    /// `response` with the session cookie removed.
    pub fn signed_out(&self, mut response: HttpResponse) -> HttpResponse {
        self.state
            .remove_cookie(&mut response, ("session", &self.tenant.id));
        response
    }

    /// The page that explains why a request cannot go on (never a redirect).
    pub fn error(&self, status: StatusCode, reason: &str) -> HttpResponse {
        let mut context = self.context();
        context.insert("reason", reason);
        context.insert("message_key", error_key(reason));
        context.insert("title_key", error_title(reason));
        let mut response = self.respond(status, "error.html", &context);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }

    /// The page of a flow's error: the busy page (503) when the service is out of capacity for a
    /// moment, the used link's page (410) for a registration that lost its address to another,
    /// else the server error page (500).
    pub fn failure(&self, error: impl Into<FlowError>) -> PageError {
        let error = error.into();
        if error.is_busy() {
            self.error(StatusCode::SERVICE_UNAVAILABLE, "busy").into()
        } else if matches!(error, FlowError::SignInFirst) {
            self.error(StatusCode::FORBIDDEN, "sign_in_first").into()
        } else if matches!(error, FlowError::AddressTaken) {
            // A registration link that lost the race for its address to another link of the
            // same address: the account exists, so this link is as good as used.
            self.link_expired().into()
        } else {
            self.error(StatusCode::INTERNAL_SERVER_ERROR, "server_error")
                .into()
        }
    }

    /// The page of a login refused because its client address has too many logins waiting
    /// already (`[limits] waiting_requests_per_address`): 429, to be tried again in a minute,
    /// when a waiting one may have ended.
    pub fn too_many_waiting(&self) -> HttpResponse {
        let mut page = self.error(StatusCode::TOO_MANY_REQUESTS, "too_many_waiting");
        util::retry_after_header(&mut page, pending::TOO_MANY_WAITING_RETRY_SECONDS);
        page
    }

    /// The page of a change of the account page refused because the resident made `[limits]
    /// account_changes_per_hour` changes in the last hour (`flows/account/signed_in.rs`): 429,
    /// to be tried again within the hour.
    pub fn too_many_changes(&self) -> HttpResponse {
        let mut page = self.error(StatusCode::TOO_MANY_REQUESTS, "too_many_changes");
        util::retry_after_header(&mut page, account::TOO_MANY_CHANGES_RETRY_SECONDS);
        page
    }

    /// The page of a mailed link that is used, expired or unknown (410).
    pub fn link_expired(&self) -> HttpResponse {
        let mut context = self.context();
        context.insert("reason", "link_expired");
        context.insert("message_key", "link-expired");
        context.insert("title_key", error_title("link_expired"));
        self.respond(StatusCode::GONE, "error.html", &context)
    }

    /// What the mailed link `token` leads to, as the flow `find` sees it; the "link expired"
    /// page ([`View::link_expired`]) when it leads nowhere.
    pub async fn link_target<T, E, F>(&self, token: &str, find: F) -> Result<T, PageError>
    where
        F: FnOnce(&Minter<'_>, &mut DbConnection, &str) -> Result<Option<T>, E> + Send + 'static,
        T: Send + 'static,
        E: Into<FlowError> + Send + 'static,
    {
        let token = token.to_string();
        let found = self.flow(move |m, conn| find(m, conn, &token)).await?;
        found.ok_or_else(|| self.link_expired().into())
    }

    /// A form page, `template` with `context` and `error` (a message key): 422 when the form is
    /// shown again with an error, else 200.
    pub fn form_page(
        &self,
        template: &str,
        mut context: tera::Context,
        error: Option<&str>,
    ) -> HttpResponse {
        context.insert("error", &error);
        self.respond(util::form_status(error), template, &context)
    }

    /// The fields of a posted form whose `csrf` field is this browser's; otherwise the error page
    /// (400).
    /// A refused form's 400 is in the language of the login it belongs to (its `request`, or its
    /// mailed link's `token`), as its page was.
    pub async fn form(&mut self, body: &[u8]) -> Result<Params, PageError> {
        let params = util::form(&self.req, body)
            .map_err(|_| self.error(StatusCode::BAD_REQUEST, "bad_request"))?;
        if self.csrf_ok(params.get("csrf")) {
            return Ok(params);
        }
        let field = |name: &str| params.get(name).cloned().unwrap_or_default();
        self.in_login(&field("request")).await;
        self.in_login_of_link(&field("token")).await;
        Err(self.error(StatusCode::BAD_REQUEST, "csrf").into())
    }

    /// Whether a form's `csrf` field is this browser's (whatever account tag it carries).
    pub fn csrf_ok(&self, presented: Option<&String>) -> bool {
        let token = presented.map(|p| p.split_once('.').map_or(p.as_str(), |(token, _)| token));
        let ours = csrf_token(&self.binding);
        !self.fresh && token.is_some_and(|t| secret::constant_time_eq(t, &ours))
    }
}

/// The one conversion of an error into a page: `result.or_page(&view)?` answers with the page of
/// `view` that tells of the error ([`View::failure`]). Any error that becomes a [`FlowError`]
/// (a flow's, the store's, the protocol error of a login's step) will do.
pub trait OrPage<T> {
    /// The value, or the page of the error.
    fn or_page(self, view: &View) -> Result<T, PageError>;
}

impl<T, E: Into<FlowError>> OrPage<T> for Result<T, E> {
    fn or_page(self, view: &View) -> Result<T, PageError> {
        self.map_err(|error| view.failure(error))
    }
}
