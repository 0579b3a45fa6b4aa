//! Languages: Finnish, Swedish and English texts in Fluent files under `templates/locales/`,
//! compiled into the binary, and the choice of language for a request.

use fluent_templates::{LanguageIdentifier, Loader};

use crate::config::Language;

mod loader {
    #![allow(
        missing_docs,
        clippy::allow_attributes,
        reason = "static_loader! generates the undocumented static"
    )]
    // Every translation, by language.
    fluent_templates::static_loader! {
        pub static LOCALES = {
            locales: "./templates/locales",
            fallback_language: "fi",
            customise: |bundle| bundle.set_use_isolating(false),
        };
    }
}

pub use loader::LOCALES;

/// The Fluent identifier of a language.
pub fn langid(language: Language) -> LanguageIdentifier {
    match language {
        Language::Fi => fluent_templates::langid!("fi"),
        Language::Sv => fluent_templates::langid!("sv"),
        Language::En => fluent_templates::langid!("en"),
    }
}

/// A text in `language`.
pub fn text(language: Language, key: &str) -> String {
    LOCALES.lookup(&langid(language), key)
}

/// The language of a tag (`fi`, `sv-FI`, `en-GB` …), if we have it.
pub fn parse_tag(tag: &str) -> Option<Language> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    match primary.as_str() {
        "fi" => Some(Language::Fi),
        "sv" => Some(Language::Sv),
        "en" => Some(Language::En),
        _ => None,
    }
}

/// The language of a request, among the tenant's `offered` (first = default): `ui_locales`, then
/// the language cookie, then Accept-Language (by quality), then the tenant's first language.
pub fn negotiate(
    offered: &[Language],
    ui_locales: Option<&str>,
    cookie: Option<&str>,
    accept_language: Option<&str>,
) -> Language {
    let offered_tag = |tag: &str| parse_tag(tag).filter(|l| offered.contains(l));
    if let Some(found) = ui_locales
        .into_iter()
        .flat_map(|s| s.split(' '))
        .find_map(offered_tag)
    {
        return found;
    }
    if let Some(found) = cookie.and_then(offered_tag) {
        return found;
    }
    if let Some(header) = accept_language {
        let mut ranged: Vec<(f32, Language)> = header
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let language = offered_tag(pieces.next()?)?;
                let quality = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                (quality > 0.0).then_some((quality, language))
            })
            .collect();
        ranged.sort_by(|a, b| b.0.total_cmp(&a.0));
        if let Some((_, language)) = ranged.first() {
            return *language;
        }
    }
    offered.first().copied().unwrap_or(Language::Fi)
}

/// A day of `at` (UTC, as idp keeps times) in `zone`, as `language` writes it: "5.12.2026",
/// "2026-12-05", "5 December 2026".
pub fn date(zone: chrono_tz::Tz, language: Language, at: chrono::NaiveDateTime) -> String {
    day(language, at.and_utc().with_timezone(&zone).date_naive())
}

/// The day `day` as `language` writes it: "5.12.2026", "2026-12-05", "5 December 2026".
pub fn day(language: Language, day: chrono::NaiveDate) -> String {
    let format = match language {
        Language::Fi => "%-d.%-m.%Y",
        Language::Sv => "%Y-%m-%d",
        Language::En => "%-d %B %Y",
    };
    day.format(format).to_string()
}

/// A day and time of day of `at` (UTC) in `zone`, as `language` writes it: "5.12.2026 klo 21.16",
/// "2026-12-05 kl. 21.16", "5 December 2026, 21:16".
///
/// In the hour that the end of summer time repeats (03.00–04.00 on the last Sunday of October in
/// Helsinki) a time of day names two moments: the zone's abbreviation is added ("klo 03.30
/// (EEST)"), so a deadline there is not read as the later one.
pub fn moment(zone: chrono_tz::Tz, language: Language, at: chrono::NaiveDateTime) -> String {
    use chrono::TimeZone;
    let format = match language {
        Language::Fi => "%-d.%-m.%Y klo %H.%M",
        Language::Sv => "%Y-%m-%d kl. %H.%M",
        Language::En => "%-d %B %Y, %H:%M",
    };
    let local = at.and_utc().with_timezone(&zone);
    let text = local.format(format).to_string();
    match zone.from_local_datetime(&local.naive_local()) {
        chrono::LocalResult::Ambiguous(..) => format!("{text} ({})", local.format("%Z")),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono_tz::Europe::Helsinki;

    use super::*;

    /// The keys of every Fluent file of `language`, each defined once.
    fn keys(language: &str) -> BTreeSet<String> {
        let dir = format!(
            "{}/templates/locales/{language}",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut text = String::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "ftl") {
                text.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
        let keys: Vec<String> = text
            .lines()
            .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
            .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim().to_string()))
            .collect();
        let unique: BTreeSet<String> = keys.iter().cloned().collect();
        assert_eq!(unique.len(), keys.len(), "a key defined twice in {dir}");
        unique
    }

    #[test]
    fn every_key_exists_in_every_language() {
        let fi = keys("fi");
        assert!(fi.len() > 20, "{fi:?}");
        for language in ["sv", "en"] {
            let other = keys(language);
            assert_eq!(
                fi.symmetric_difference(&other).collect::<Vec<_>>(),
                Vec::<&String>::new(),
                "fi and {language} differ"
            );
        }
        // And Fluent resolves them: no key falls through to its own name.
        for language in [Language::Fi, Language::Sv, Language::En] {
            for key in &fi {
                let value = text(language, key);
                assert!(!value.is_empty() && value != *key, "{key} in {language:?}");
            }
        }
    }

    #[test]
    fn negotiation_order() {
        let all = [Language::Fi, Language::Sv, Language::En];
        assert_eq!(
            negotiate(&all, Some("de sv-FI"), Some("en"), Some("en")),
            Language::Sv
        );
        assert_eq!(negotiate(&all, None, Some("en"), Some("sv")), Language::En);
        assert_eq!(
            negotiate(&all, None, None, Some("de, sv;q=0.5, en;q=0.8")),
            Language::En
        );
        assert_eq!(negotiate(&all, None, None, Some("de")), Language::Fi);
        assert_eq!(
            negotiate(&[Language::Sv, Language::Fi], None, Some("en"), None),
            Language::Sv
        );
    }

    #[test]
    fn times_are_written_in_the_tenants_zone_summer_and_winter() {
        // Winter: UTC+2.
        let winter = at("2026-12-05 19:16");
        assert_eq!(
            moment(Helsinki, Language::Fi, winter),
            "5.12.2026 klo 21.16"
        );
        assert_eq!(
            moment(Helsinki, Language::Sv, winter),
            "2026-12-05 kl. 21.16"
        );
        assert_eq!(
            moment(Helsinki, Language::En, winter),
            "5 December 2026, 21:16"
        );
        // Summer: UTC+3; the hour the end of summer time repeats (25 October 2026): each 03.30
        // says which.
        for (utc, written) in [
            ("2026-07-01 09:05", "1.7.2026 klo 12.05"),
            ("2026-10-25 00:30", "25.10.2026 klo 03.30 (EEST)"),
            ("2026-10-25 01:30", "25.10.2026 klo 03.30 (EET)"),
            ("2026-10-25 02:30", "25.10.2026 klo 04.30"),
        ] {
            assert_eq!(moment(Helsinki, Language::Fi, at(utc)), written, "{utc}");
        }
        // Late in the UTC evening it is already the next day in Helsinki.
        let late = at("2026-12-31 22:30");
        assert_eq!(date(Helsinki, Language::Fi, late), "1.1.2027");
        assert_eq!(date(Helsinki, Language::Sv, late), "2027-01-01");
        assert_eq!(date(Helsinki, Language::En, late), "1 January 2027");
        assert_eq!(date(chrono_tz::UTC, Language::Fi, late), "31.12.2026");
    }

    fn at(text: &str) -> chrono::NaiveDateTime {
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
    }
}
