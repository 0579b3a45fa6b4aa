//! What a node logged lately, so that a line anyone can cause is written once a window: the
//! origins a browser reported blocked (`csp_report.rs`).

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use parking_lot::Mutex;

/// How long a node stays quiet about a blocked origin of a tenant after logging it.
pub const QUIET_MINUTES: i64 = 10;

/// How many blocked origins a node remembers of a tenant; past that, the tenant's reports are
/// not logged until the oldest are forgotten (a flood of forged ones mutes one tenant's, not
/// every tenant's).
pub const REMEMBERED: usize = 1000;

/// The blocked origins a node logged, by tenant (a configured one: the path's), and when.
#[derive(Debug, Default)]
pub struct Logged(Mutex<HashMap<String, HashMap<String, NaiveDateTime>>>);

impl Logged {
    /// Whether `origin` of `tenant` is to be logged at `now` (then remembered as logged). A
    /// `known` origin (one the configuration names: a few) is remembered past the bound.
    pub fn first(&self, tenant: &str, origin: &str, now: NaiveDateTime, known: bool) -> bool {
        let quiet = Duration::minutes(QUIET_MINUTES);
        let mut tenants = self.0.lock();
        let logged = tenants.entry(tenant.to_string()).or_default();
        if logged.len() >= REMEMBERED {
            logged.retain(|_, at| now - *at < quiet);
        }
        match logged.get(origin) {
            Some(at) if now - *at < quiet => false,
            _ if logged.len() >= REMEMBERED && !known => false,
            _ => {
                logged.insert(origin.to_string(), now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Logged, QUIET_MINUTES, REMEMBERED};
    use chrono::{Duration, NaiveDate};

    #[test]
    fn an_origin_is_logged_once_a_window_and_the_memory_is_bounded() {
        let now = NaiveDate::from_ymd_opt(2026, 12, 8)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        let logged = Logged::default();
        assert!(logged.first("seinajoki", "https://a.fi", now, false));
        assert!(!logged.first("seinajoki", "https://a.fi", now, false));
        assert!(logged.first("kouvola", "https://a.fi", now, false));
        let later = now + Duration::minutes(QUIET_MINUTES);
        assert!(logged.first("seinajoki", "https://a.fi", later, false));
        for n in 0..REMEMBERED {
            logged.first("seinajoki", &format!("https://{n}.fi"), later, false);
        }
        assert!(!logged.first("seinajoki", "https://uusi.fi", later, false));
        assert!(
            logged.first("seinajoki", "https://idp.fi", later, true),
            "known"
        );
        assert!(
            logged.first("kouvola", "https://uusi.fi", later, false),
            "its own memory"
        );
        let after = later + Duration::minutes(QUIET_MINUTES);
        assert!(logged.first("seinajoki", "https://uusi.fi", after, false));
    }
}
