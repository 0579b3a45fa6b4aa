//! Dates and times as a page writes them: in the page's language and the tenant's time zone
//! (`time_zone`, `Europe/Helsinki` by default), from the UTC times idp keeps ([`i18n::date`],
//! [`i18n::moment`]).

use chrono::NaiveDateTime;

use crate::http::pages::view::View;
use crate::i18n;

/// A day: "5.12.2026", "2026-12-05", "5 December 2026".
pub fn date(view: &View, at: NaiveDateTime) -> String {
    i18n::date(view.tenant.time_zone, view.lang, at)
}

/// A day and a time of day: "5.12.2026 klo 21.16", "2026-12-05 kl. 21.16",
/// "5 December 2026, 21:16".
pub fn moment(view: &View, at: NaiveDateTime) -> String {
    i18n::moment(view.tenant.time_zone, view.lang, at)
}
