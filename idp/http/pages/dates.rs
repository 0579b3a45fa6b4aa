//! Dates and times as a page writes them: in the page's language and the tenant's time zone
//! (`time_zone`, `Europe/Helsinki` by default), from the UTC times idp keeps.

use chrono::NaiveDateTime;
use chrono_tz::Tz;

use crate::config::Language;
use crate::http::pages::view::View;

/// A day: "5.12.2026", "2026-12-05", "5 December 2026".
pub fn date(view: &View, at: NaiveDateTime) -> String {
    day_in(view.tenant.time_zone, view.lang, at)
}

/// A day and a time of day: "5.12.2026 klo 21.16", "2026-12-05 kl. 21.16",
/// "5 December 2026, 21:16".
pub fn moment(view: &View, at: NaiveDateTime) -> String {
    moment_in(view.tenant.time_zone, view.lang, at)
}

fn day_in(zone: Tz, language: Language, at: NaiveDateTime) -> String {
    let format = match language {
        Language::Fi => "%-d.%-m.%Y",
        Language::Sv => "%Y-%m-%d",
        Language::En => "%-d %B %Y",
    };
    at.and_utc().with_timezone(&zone).format(format).to_string()
}

fn moment_in(zone: Tz, language: Language, at: NaiveDateTime) -> String {
    let format = match language {
        Language::Fi => "%-d.%-m.%Y klo %H.%M",
        Language::Sv => "%Y-%m-%d kl. %H.%M",
        Language::En => "%-d %B %Y, %H:%M",
    };
    at.and_utc().with_timezone(&zone).format(format).to_string()
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDateTime;
    use chrono_tz::Europe::Helsinki;

    use super::{day_in, moment_in};
    use crate::config::Language;

    fn utc(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn times_are_written_in_the_tenants_zone_summer_and_winter() {
        // Winter: UTC+2.
        let winter = utc("2026-12-05 19:16");
        assert_eq!(
            moment_in(Helsinki, Language::Fi, winter),
            "5.12.2026 klo 21.16"
        );
        assert_eq!(
            moment_in(Helsinki, Language::Sv, winter),
            "2026-12-05 kl. 21.16"
        );
        assert_eq!(
            moment_in(Helsinki, Language::En, winter),
            "5 December 2026, 21:16"
        );
        // Summer: UTC+3.
        let summer = utc("2026-07-01 09:05");
        assert_eq!(
            moment_in(Helsinki, Language::Fi, summer),
            "1.7.2026 klo 12.05"
        );
        // Late in the UTC evening it is already the next day in Helsinki.
        let late = utc("2026-12-31 22:30");
        assert_eq!(day_in(Helsinki, Language::Fi, late), "1.1.2027");
        assert_eq!(day_in(Helsinki, Language::Sv, late), "2027-01-01");
        assert_eq!(day_in(Helsinki, Language::En, late), "1 January 2027");
        assert_eq!(day_in(chrono_tz::UTC, Language::Fi, late), "31.12.2026");
    }
}
