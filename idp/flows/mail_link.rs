//! The links in mails: built with a URL builder from the issuer and validated ids only, never from
//! a request's text.

use url::Url;

use crate::flows::oidc::OAuthError;
use crate::flows::oidc::tokens::Minter;
use crate::store::{DbConnection, Tenant, auth_requests};

/// `{issuer}/{path…}?{query…}`, each segment and pair encoded by the URL builder.
pub fn build(m: &Minter<'_>, path: &[&str], query: &[(&str, &str)]) -> Result<String, OAuthError> {
    let mut url = Url::parse(&m.issuer).map_err(OAuthError::server)?;
    url.path_segments_mut()
        .map_err(|()| OAuthError::server("the issuer cannot be a base URL"))?
        .pop_if_empty()
        .extend(path);
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    Ok(url.into())
}

/// The pending authorization request `id` names, when it is an existing, unexpired request of this
/// tenant; else `None` (a mailed link then goes without it).
pub fn pending_request(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    id: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    let Some(id) = id.filter(|id| !id.is_empty()) else {
        return Ok(None);
    };
    Ok(auth_requests::find(conn, Tenant::of(m.tenant), id, m.now)?.map(|row| row.id))
}
