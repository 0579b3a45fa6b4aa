//! What the flows' mails share: the links in them, built with a URL builder from the issuer and
//! validated ids only (never from a request's text), the one-time link rows behind them, the
//! template context every such mail starts from, and the last step of a link that proves the
//! resident ([`complete`]: the pending login goes on).

use url::Url;

use crate::config::Language;
use crate::crypto::secret;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::oidc::resume::continue_pending;
use crate::flows::oidc::steps::Next;
use crate::mail::{Mails, Rendered};
use crate::store::links::{self, LinkRow};
use crate::store::users::{self, UserRow};
use crate::store::{self, DbConnection, StoreError, Tenant, auth_requests};

/// `{issuer}/{path…}?{query…}`, each segment and pair encoded by the URL builder.
pub fn build(m: &Minter<'_>, path: &[&str], query: &[(&str, &str)]) -> Result<String, FlowError> {
    let mut url = Url::parse(&m.issuer).map_err(FlowError::server)?;
    url.path_segments_mut()
        .map_err(|()| FlowError::server("the issuer cannot be a base URL"))?
        .pop_if_empty()
        .extend(path);
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    Ok(url.into())
}

/// The pending authorization request `id` names, when it is an existing, unexpired request of this
/// tenant; else `None` (a mailed link then goes without it). The request is kept waiting as long
/// as the link about to carry it lives (`tokens.link_seconds`, 60 minutes, beyond the request's
/// own 30): the page that says a link was sent promises the link's time, and a resident who
/// opens it after the request's goes back to the e-service all the same.
pub fn pending_request(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    id: Option<&str>,
) -> Result<Option<String>, FlowError> {
    let Some(id) = id.filter(|id| !id.is_empty()) else {
        return Ok(None);
    };
    let tenant = Tenant::of(m.tenant);
    let Some(row) = auth_requests::find(conn, tenant, id, m.now)? else {
        return Ok(None);
    };
    auth_requests::wait_until(conn, tenant, &row.id, m.link_expiry())?;
    Ok(Some(row.id))
}

/// The row of a one-time link of `purpose` whose secret is `token` (only its hash is stored),
/// made now and usable for `tokens.link_seconds`; whom and what it is for the caller fills in.
pub fn row(m: &Minter<'_>, purpose: &str, token: &str) -> LinkRow {
    LinkRow {
        token_hash: secret::hash(token),
        tenant_id: m.tenant.id.clone(),
        purpose: purpose.into(),
        user_id: None,
        legacy_account_id: None,
        email: None,
        auth_request_id: None,
        payload: None,
        created_at: m.now,
        expires_at: m.link_expiry(),
        used_at: None,
    }
}

/// What every flow's mail template gets: the tenant's name, its support contact, and how many
/// minutes a mailed link works.
pub fn context(m: &Minter<'_>) -> tera::Context {
    let mut context = tera::Context::new();
    context.insert("tenant_name", &m.tenant.name);
    context.insert("support_email", &m.tenant.support.email);
    context.insert("support_phone", &m.tenant.support.phone);
    context.insert(
        "privacy_url",
        &m.tenant.privacy_url.as_ref().map(|u| u.to_string()),
    );
    context.insert("minutes", &(m.config.settings.tokens.link_seconds / 60));
    context
}

/// [`context`] with `link`, the link to `{issuer}/{path…}?token={token}`.
pub fn link_context(
    m: &Minter<'_>,
    path: &[&str],
    token: &str,
) -> Result<tera::Context, FlowError> {
    let mut context = context(m);
    context.insert("link", &build(m, path, &[("token", token)])?);
    Ok(context)
}

/// The mail `kind` rendered in `language`.
pub fn render(
    mails: &Mails,
    kind: &str,
    language: Language,
    context: &tera::Context,
) -> Result<Rendered, FlowError> {
    mails
        .render(kind, language, context)
        .map_err(FlowError::server)
}

/// The usable link of `purpose` whose secret is `token` (only its hash is stored), left unused
/// (a page that asks before it acts); `None` when it is unknown, expired or used.
pub fn find_link(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    purpose: &str,
    token: &str,
) -> Result<Option<LinkRow>, StoreError> {
    let tenant = Tenant::of(m.tenant);
    links::find_usable(conn, tenant, purpose, &secret::hash(token), m.now)
}

/// [`find_link`], the link used now (once only: `None` when another request used it first). The
/// row of the user a link names is held first (PostgreSQL): a recovery holds it before it voids
/// the user's links (`oidc/standing.rs`), so the two wait for each other rather than deadlock.
pub fn use_link(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    purpose: &str,
    token: &str,
) -> Result<Option<LinkRow>, StoreError> {
    let Some(link) = find_link(m, conn, purpose, token)? else {
        return Ok(None);
    };
    if let Some(user) = link.user_id.as_deref() {
        users::lock(conn, Tenant::of(m.tenant), user)?;
    }
    let used = links::use_once(conn, Tenant::of(m.tenant), &link.token_hash, m.now)?;
    Ok(used.then_some(link))
}

/// What the last step of a mailed link that proves the resident (a reset, a registration, the
/// linker's link) led to.
#[derive(Debug)]
pub enum Completed {
    /// The link is unknown, expired or used, or what it was for changed meanwhile.
    Expired,
    /// Done; the browser that started the pending login goes on (logged in, or to the second
    /// factor).
    Continue(Next),
    /// Done; nothing to continue here (another browser, or no pending login).
    Done,
}

/// The last step of a mailed link, in one write transaction: `step` does its work and gives the
/// link and the user it proved (`None`: [`Completed::Expired`]); then the pending login the link
/// carries goes on, when this browser (by its binding secret) started it, in this browser's
/// session (`session_cookie`: renewed when it is the user's, ended when it is another's). One
/// transaction, so that what the link proved and the session it starts are one moment: a
/// recovery commits before both or after both (`oidc/standing.rs`).
pub fn complete(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    (binding, session_cookie): (&str, Option<&str>),
    step: impl FnOnce(&mut DbConnection) -> Result<Option<(LinkRow, UserRow)>, FlowError>,
) -> Result<Completed, FlowError> {
    store::write_transaction(conn, |conn| {
        let Some((link, user)) = step(conn)? else {
            return Ok(Completed::Expired);
        };
        let request_id = link.auth_request_id.as_deref();
        Ok(
            match continue_pending(m, conn, request_id, &user, binding, session_cookie)? {
                Some(next) => Completed::Continue(next),
                None => Completed::Done,
            },
        )
    })
}
