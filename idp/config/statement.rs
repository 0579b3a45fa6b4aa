//! What a tenant publishes on its login pages: the banner of the identifier page (`[notice]`), the
//! accessibility statement that Act 306/2019 requires of every digital service (`[accessibility]`),
//! and the address of its privacy notice (`privacy_url`, in `tenant.rs`).

use chrono::NaiveDate;
use serde::Deserialize;

/// `[accessibility]` of a tenant: its accessibility statement (saavutettavuusseloste), served at
/// `{issuer}/accessibility` and linked from every page.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessibilityStatement {
    /// How far the pages meet the requirements (WCAG 2.1 AA).
    pub compliance: Compliance,
    /// When the pages were last assessed, `YYYY-MM-DD`.
    pub assessed_on: NaiveDate,
    /// Who assessed them.
    pub assessed_by: Assessor,
    /// Where feedback on accessibility goes; the tenant's support address when left out.
    pub feedback_email: Option<String>,
    /// Within how many days feedback is answered (the Act: 14 at the most).
    pub answer_days: u32,
    /// What is not accessible and why, per language, beyond what idp itself states.
    pub not_accessible: Notice,
}

impl Default for AccessibilityStatement {
    fn default() -> Self {
        AccessibilityStatement {
            compliance: Compliance::Partial,
            assessed_on: NaiveDate::from_ymd_opt(2026, 12, 5).unwrap_or_default(),
            assessed_by: Assessor::Provider,
            feedback_email: None,
            answer_days: 14,
            not_accessible: Notice::default(),
        }
    }
}

/// How far a service meets the accessibility requirements, in the Act's three words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compliance {
    /// Meets them (täyttää).
    Full,
    /// Meets them partly (täyttää osittain).
    #[default]
    Partial,
    /// Does not meet them (ei täytä).
    None,
}

impl Compliance {
    /// The text key of this status.
    pub fn key(self) -> &'static str {
        match self {
            Compliance::Full => "a11y-compliance-full",
            Compliance::Partial => "a11y-compliance-partial",
            Compliance::None => "a11y-compliance-none",
        }
    }
}

/// Who assessed the pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Assessor {
    /// The provider itself (the city, or idp's own tests and review).
    #[default]
    Provider,
    /// An outside expert.
    ThirdParty,
}

impl Assessor {
    /// The text key of this assessor.
    pub fn key(self) -> &'static str {
        match self {
            Assessor::Provider => "a11y-assessed-by-provider",
            Assessor::ThirdParty => "a11y-assessed-by-third-party",
        }
    }
}

/// `[notice]`: the banner on the identifier page, per language.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Notice {
    /// Finnish text.
    pub fi: Option<String>,
    /// Swedish text.
    pub sv: Option<String>,
    /// English text.
    pub en: Option<String>,
}
