//! Checks of what a tenant publishes and keeps: its privacy notice's address, its accessibility
//! statement, how long its audit trail is kept,
//! and how long a deleted account can be brought back.

use crate::config::tenant::TenantConfig;

/// Each problem of the tenant's `privacy_url`, `[accessibility]`, `[audit]` and `[deletion]`, as (key, message).
pub(super) fn statement(tenant: &TenantConfig) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if let Some(url) = &tenant.privacy_url
        && !matches!(url.scheme(), "http" | "https")
    {
        problems.push((
            "privacy_url".into(),
            "must be an http:// or https:// URL".into(),
        ));
    }
    let statement = &tenant.accessibility;
    if let Some(email) = &statement.feedback_email
        && !email_address::EmailAddress::is_valid(email)
    {
        problems.push((
            "accessibility.feedback_email".into(),
            format!("\"{email}\" is not a mail address"),
        ));
    }
    if !(1..=14).contains(&statement.answer_days) {
        problems.push((
            "accessibility.answer_days".into(),
            "must be between 1 and 14 (Act 306/2019 gives 14 days at the most)".into(),
        ));
    }
    if let Some(days) = tenant.audit.retention_days
        && !(30..=3650).contains(&days)
    {
        problems.push((
            "audit.retention_days".into(),
            "must be between 30 and 3650 days".into(),
        ));
    }
    if !(1..=90).contains(&tenant.deletion.undo_days) {
        problems.push((
            "deletion.undo_days".into(),
            "must be between 1 and 90 days".into(),
        ));
    }
    problems
}
