//! `AppState`, what every handler can reach: the services, the configuration, the page
//! templates, each tenant's discovery document; and what handlers ask of it — a flow run with a
//! [`Minter`], a password check, the tenant of a path, the tenant's cookies.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponse, web};
use tracing::Instrument;

use super::pages::templates::Pages;
use super::util;
use crate::app::Services;
use crate::config::{Config, Language, TenantConfig};
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::password_check::PasswordCheck;
use crate::store::{DbConnection, StoreError};

/// What every handler can reach; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Configuration, store, clock and keys.
    pub services: Services,
    /// The configuration (also in `services`).
    pub config: Arc<Config>,
    /// Each tenant's configuration, shared so that a request can hold its tenant (the
    /// configuration is read once and never changes while the server runs).
    pub tenants: Arc<BTreeMap<String, Arc<TenantConfig>>>,
    /// The page templates.
    pub pages: Arc<Pages>,
    /// Each tenant's discovery document, serialised once (it follows from the configuration).
    pub discovery: Arc<HashMap<String, web::Bytes>>,
    /// The origins this node logged a blocked redirect to (`csp_report.rs`).
    pub csp_reports: Arc<super::quiet::Logged>,
}

impl AppState {
    /// The state of a server of `services`, with its page templates and discovery documents.
    pub fn new(
        services: Services,
        pages: Pages,
        discovery: HashMap<String, web::Bytes>,
    ) -> AppState {
        let config = services.config.clone();
        let tenants = config
            .tenants
            .iter()
            .map(|(id, tenant)| (id.clone(), Arc::new(tenant.clone())))
            .collect();
        AppState {
            services,
            config,
            tenants: Arc::new(tenants),
            pages: Arc::new(pages),
            discovery: Arc::new(discovery),
            csp_reports: Arc::default(),
        }
    }

    /// The configured tenant `id`.
    pub fn tenant(&self, id: &str) -> Option<Arc<TenantConfig>> {
        self.tenants.get(id).cloned()
    }

    /// Runs the flow `f` with a [`Minter`] for `tenant` (and the request's client address) and a
    /// database connection, on a blocking thread. Its error `E` is a page flow's [`FlowError`] or
    /// a protocol endpoint's `OAuthError`; either can say what a `FlowError` says.
    pub async fn flow<T, E, F>(&self, tenant: &str, f: F) -> Result<T, E>
    where
        F: FnOnce(&Minter<'_>, &mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + From<FlowError> + Send + 'static,
    {
        self.flow_in(tenant, None, f).await
    }

    /// [`AppState::flow`] for a page in `language` (the Minter's [`Minter::language`]).
    pub async fn flow_in<T, E, F>(
        &self,
        tenant: &str,
        language: Option<Language>,
        f: F,
    ) -> Result<T, E>
    where
        F: FnOnce(&Minter<'_>, &mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + From<FlowError> + Send + 'static,
    {
        self.flow_in_turn(tenant, language, &[], f).await
    }

    /// [`AppState::flow_in`] once this node's other flows of `turns` have run theirs, waited for
    /// without a connection (`store/gate.rs`; [`crate::flows::mail_limit::turns`]).
    pub async fn flow_in_turn<T, E, F>(
        &self,
        tenant: &str,
        language: Option<Language>,
        turns: &[String],
        f: F,
    ) -> Result<T, E>
    where
        F: FnOnce(&Minter<'_>, &mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + From<FlowError> + Send + 'static,
    {
        let services = self.services.clone();
        let now = services.clock.now();
        let tenant = tenant.to_string();
        let request = request(language);
        let span = flow_span(&tenant);
        self.services
            .store
            .run_in_turn(turns, move |conn| {
                minted(&services, &tenant, now, request, |m| f(m, conn))
            })
            .instrument(span)
            .await
    }

    /// Runs the flow `f`, which only reads, as [`AppState::flow`] does, but at once on this
    /// thread when the store can (SQLite: `store/inline.rs`), sparing the hand-off to a blocking
    /// thread and back; on the blocking pool when it cannot, or when a statement of `f` failed
    /// there (it would have waited, or it writes), so that `f` may run twice: it must not do
    /// anything but read before its first failing statement.
    pub async fn read_flow<T, E, F>(&self, tenant: &str, f: F) -> Result<T, E>
    where
        F: Fn(&Minter<'_>, &mut DbConnection) -> Result<T, E> + Send + Sync + 'static,
        T: Send + 'static,
        E: From<StoreError> + From<FlowError> + Send + 'static,
    {
        let f = Arc::new(f);
        let here = {
            let _span = flow_span(tenant).entered();
            let services = &self.services;
            let now = services.clock.now();
            services
                .store
                .read_here(|conn| minted(services, tenant, now, request(None), |m| f(m, conn)))
        };
        match here {
            Some(outcome) => outcome,
            None => self.flow(tenant, move |m, conn| f(m, conn)).await,
        }
    }

    /// Runs `f`, which needs no store, at once on this thread (an async worker) with a
    /// [`Minter`] for `tenant`: its answer, or `None` when `f` says the request needs the store
    /// after all (then nothing was done, and the caller runs its flow with [`AppState::flow`]).
    /// `f` must not wait.
    pub fn here<T, E, F>(&self, tenant: &str, f: F) -> Option<Result<T, E>>
    where
        F: FnOnce(&Minter<'_>) -> Option<Result<T, E>>,
        E: From<FlowError>,
    {
        let _span = flow_span(tenant).entered();
        // `Ok(None)`: `f` did nothing, so its tally is empty.
        let now = self.services.clock.now();
        minted(&self.services, tenant, now, request(None), |m| {
            f(m).transpose()
        })
        .transpose()
    }

    /// The one way to check a password: throttled, counted before the hash, in the pool's share
    /// (`flows::password_check`).
    pub fn password_check<'a>(&'a self, tenant: &'a TenantConfig) -> PasswordCheck<'a> {
        PasswordCheck {
            store: &self.services.store,
            pool: &self.services.hashing,
            metrics: &self.services.metrics,
            tenant,
            now: self.services.clock.now(),
        }
    }

    /// Whether cookies must be `Secure` and may carry the `__Host-` prefix (an https public URL).
    pub fn secure_cookies(&self) -> bool {
        self.config.settings.server.public_url.scheme() == "https"
    }

    /// The name of a tenant's cookie: `__Host-idp-{what}-{tenant}` on https, else without prefix.
    pub fn cookie_name(&self, what: &str, tenant: &str) -> String {
        if self.secure_cookies() {
            format!("__Host-idp-{what}-{tenant}")
        } else {
            format!("idp-{what}-{tenant}")
        }
    }

    /// A cookie of ours: HttpOnly, SameSite=Lax, path /, Secure on https; a browser-session
    /// cookie unless `max_age` is given.
    pub fn cookie(&self, name: String, value: String, max_age: Option<i64>) -> Cookie<'static> {
        let mut cookie = Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .secure(self.secure_cookies())
            .same_site(SameSite::Lax)
            .finish();
        if let Some(seconds) = max_age {
            cookie.set_max_age(actix_web::cookie::time::Duration::seconds(seconds));
        }
        cookie
    }

    /// Sets the tenant's cookie `what` on `response` (`max_age` as in [`AppState::cookie`]).
    pub fn set_cookie(
        &self,
        response: &mut HttpResponse,
        (what, tenant): (&str, &str),
        value: String,
        max_age: Option<i64>,
    ) {
        let cookie = self.cookie(self.cookie_name(what, tenant), value, max_age);
        add(response, &cookie, what);
    }

    /// Removes the tenant's cookie `what` with `response`.
    pub fn remove_cookie(&self, response: &mut HttpResponse, (what, tenant): (&str, &str)) {
        let mut gone = self.cookie(self.cookie_name(what, tenant), String::new(), Some(0));
        gone.make_removal();
        add(response, &gone, what);
    }

    /// The value of a tenant's cookie on the request.
    pub fn cookie_value(&self, req: &HttpRequest, what: &str, tenant: &str) -> Option<String> {
        util::cookie_value(req, &self.cookie_name(what, tenant))
    }
}

fn add(response: &mut HttpResponse, cookie: &Cookie<'_>, what: &str) {
    if let Err(error) = response.add_cookie(cookie) {
        tracing::error!(%error, cookie = what, "cannot set a cookie");
    }
}

/// The request's client address and `User-Agent`, read on the async worker that serves it.
/// What a flow's [`Minter`] knows of the request: its client address and `User-Agent`, and the
/// language of its page.
type Request = (Option<String>, Option<String>, Option<Language>);

fn request(language: Option<Language>) -> Request {
    (
        crate::app::client_address(),
        super::middleware::user_agent(),
        language,
    )
}

/// Runs `f` with a [`Minter`] for `tenant` at `now` (when the request came), for the request
/// `(remote_addr, user_agent)`, and counts in the metrics what it noted when it succeeded (its
/// transaction committed).
fn minted<T, E: From<FlowError>>(
    services: &Services,
    tenant: &str,
    now: chrono::NaiveDateTime,
    (remote_addr, user_agent, language): Request,
    f: impl FnOnce(&Minter<'_>) -> Result<T, E>,
) -> Result<T, E> {
    let mut minter = services
        .minter(tenant, now)
        .ok_or_else(|| E::from(FlowError::server("unknown tenant")))?;
    minter.remote_addr = remote_addr;
    minter.user_agent = user_agent;
    minter.language = language;
    let outcome = f(&minter);
    if outcome.is_ok() {
        services.metrics.add(tenant, &minter.tally.take());
    }
    outcome
}

/// The span of a flow for `tenant`, with the ids of the request it answers.
fn flow_span(tenant: &str) -> tracing::Span {
    let ids = crate::telemetry::request_ids();
    tracing::info_span!(
        "flow",
        tenant,
        request_id = ids.as_ref().map(|ids| ids.request.as_str()),
        trace_id = ids.as_ref().and_then(|ids| ids.trace.as_deref())
    )
}
