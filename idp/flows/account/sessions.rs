//! The account page's sessions and e-services: the resident's live sessions (the browser each
//! started in, when, when last used, which is this browser's) and the e-services that hold the
//! resident's consent or offline access; ending one session, revoking one e-service.
//!
//! Whatever id a form names, only the signed-in user's own rows are reached: a session is ended
//! only when it is the user's, and an e-service's consent and grants are looked up by the user.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde_json::json;

use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::oidc::backchannel;
use crate::flows::oidc::logout::end_session;
use crate::store::access::{self, Held};
use crate::store::users::UserRow;
use crate::store::{self, DbConnection, Tenant, sessions};

/// A live session as the account page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The session's public id (what the form to end it names).
    pub id: String,
    /// Whether it is the session of the browser asking.
    pub this: bool,
    /// Its browser and operating system ("Firefox, Linux"), when the User-Agent names them.
    pub browser: Option<String>,
    /// Where it started ("Tampere, Finland"), when the tenant shows locations.
    pub location: Option<String>,
    /// When it started.
    pub started: NaiveDateTime,
    /// When it was last used (to the nearest few minutes).
    pub last_used: NaiveDateTime,
}

/// An e-service that holds the resident's consent or offline access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The client id (what the form to revoke it names).
    pub client_id: String,
    /// Its name, as the consent page shows it.
    pub name: String,
    /// The scope it holds.
    pub scope: String,
    /// Since when: the consent, or the oldest live offline grant.
    pub since: NaiveDateTime,
    /// Whether it holds offline access (refresh tokens that outlive the sessions).
    pub offline: bool,
}

/// The account page's sessions and e-services of a user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overview {
    /// The live sessions, this browser's first, then the most recently used.
    pub sessions: Vec<Device>,
    /// The e-services, oldest first.
    pub services: Vec<Service>,
}

/// The live sessions and the e-services of `user`, with `this_session` marked.
pub fn overview(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    this_session: &str,
) -> Result<Overview, FlowError> {
    let tenant = Tenant::of(m.tenant);
    let mut devices: Vec<Device> = sessions::live_for_user(conn, tenant, &user.id, m.now)?
        .into_iter()
        .map(|s| Device {
            this: s.id == this_session,
            browser: s.user_agent.as_deref().and_then(browser),
            // Shown only while the tenant shows locations: a city that turns them off stops
            // showing those its live sessions stored before (the export still lists what is held).
            location: s.location.filter(|_| m.tenant.sessions.location),
            started: s.created_at,
            last_used: s.last_seen_at,
            id: s.id,
        })
        .collect();
    devices.sort_by(|a, b| (b.this, b.last_used, &b.id).cmp(&(a.this, a.last_used, &a.id)));
    let consents = access::consents_of(conn, tenant, &user.id)?;
    let offline = access::offline_grants_of(conn, tenant, &user.id, m.now)?;
    Ok(Overview {
        sessions: devices,
        services: services(m, consents, offline),
    })
}

/// One line per client: its consent (scope and time), marked offline when it also holds a live
/// offline grant; a client with offline grants and no consent (a first-party one) with the
/// scopes of its grants since the oldest.
fn services(m: &Minter<'_>, consents: Vec<Held>, offline: Vec<Held>) -> Vec<Service> {
    let mut by_client: BTreeMap<String, Service> = BTreeMap::new();
    for held in consents {
        by_client.insert(held.client_id.clone(), service(m, held, false));
    }
    for held in offline {
        match by_client.get_mut(&held.client_id) {
            Some(listed) if listed.offline => {
                for scope in held.scope.split(' ') {
                    if !listed.scope.split(' ').any(|s| s == scope) {
                        listed.scope = format!("{} {scope}", listed.scope);
                    }
                }
            }
            Some(listed) => listed.offline = true,
            None => {
                by_client.insert(held.client_id.clone(), service(m, held, true));
            }
        }
    }
    let mut listed: Vec<Service> = by_client.into_values().collect();
    listed.sort_by(|a, b| (a.since, &a.client_id).cmp(&(b.since, &b.client_id)));
    listed
}

fn service(m: &Minter<'_>, held: Held, offline: bool) -> Service {
    let name = m
        .tenant
        .client(&held.client_id)
        .and_then(|c| c.name.clone())
        .unwrap_or_else(|| held.client_id.clone());
    Service {
        client_id: held.client_id,
        name,
        scope: held.scope,
        since: held.since,
        offline,
    }
}

/// The browser and operating system a User-Agent names ("Firefox, Linux"); `None` when it names
/// neither (a program that is no browser names none). Any Windows is "Windows": Windows 11 sends
/// the User-Agent of Windows 10.
pub fn browser(user_agent: &str) -> Option<String> {
    let parsed = woothee::parser::Parser::new().parse(user_agent)?;
    let known = |value: &str| Some(value.to_string()).filter(|v| !v.is_empty() && v != "UNKNOWN");
    let os = known(parsed.os).map(|os| match os.as_str() {
        windows if windows.starts_with("Windows") && !windows.contains("Phone") => {
            "Windows".to_string()
        }
        "Mac OSX" => "macOS".to_string(),
        _ => os,
    });
    // Crawlers and libraries ("HTTP Library") are no browser a resident would recognise.
    let browser = matches!(
        parsed.category,
        "pc" | "smartphone" | "mobilephone" | "appliance"
    );
    match (known(parsed.name).filter(|_| browser), os) {
        (Some(name), Some(os)) if name != os => Some(format!("{name}, {os}")),
        (Some(name), _) => Some(name),
        (None, os) => os,
    }
}

/// Ends `user`'s live session `session_id` as a logout does (its grants that do not outlive it
/// revoked, the back-channel logouts queued, `session.ended` audited); false when it is not a
/// live session of `user` (another resident's, ended already, or no session at all).
pub fn end_own_session(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    session_id: &str,
) -> Result<bool, FlowError> {
    let tenant = Tenant::of(m.tenant);
    Ok(store::write_transaction(conn, |conn| {
        let own = sessions::live_of_user(conn, tenant, session_id, &user.id, m.now)?.is_some();
        if own {
            end_session(m, conn, session_id)?;
        }
        Ok::<_, store::StoreError>(own)
    })?)
}

/// Revokes what the e-service `client_id` holds of `user`: the consent is deleted, every grant
/// of the user to it revoked (offline ones too, and with them its refresh tokens), the client's
/// back-channel logout queued (naming the resident, not a session: it ends all it holds of them)
/// and `client.revoked` audited; false when it held nothing of the user.
pub fn revoke_service(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    client_id: &str,
) -> Result<bool, FlowError> {
    let tenant = Tenant::of(m.tenant);
    Ok(store::write_transaction(conn, |conn| {
        let consent = access::delete_consent(conn, tenant, &user.id, client_id)?;
        let grants = access::revoke_client_grants(conn, tenant, &user.id, client_id, m.now)?;
        if !consent && grants == 0 {
            return Ok(false);
        }
        backchannel::queue(m, conn, None, &user.subject, &[client_id.to_string()])?;
        m.audit("client.revoked")
            .user(user.id.as_str())
            .client(client_id)
            .detail(&json!({ "consent": consent, "grants": grants }))
            .record(conn)?;
        Ok::<_, store::StoreError>(true)
    })?)
}

#[cfg(test)]
mod tests {
    use super::browser;

    #[test]
    fn a_user_agent_names_its_browser_and_system() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                Some("Firefox, Linux"),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                Some("Chrome, Windows"),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
                Some("Safari, macOS"),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                Some("Safari, iPhone"),
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
                Some("Chrome, Android"),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                Some("Edge, Windows"),
            ),
            ("curl/8.5.0", None),
            ("", None),
        ];
        for (agent, named) in cases {
            assert_eq!(browser(agent).as_deref(), named, "{agent}");
        }
    }
}
