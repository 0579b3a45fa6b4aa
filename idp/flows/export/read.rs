//! The export's reads: every table's rows of one user, made into the [`Export`] document. The
//! caller runs it in one read transaction (`store::read_transaction`), so that all of it is of one
//! moment.

use std::collections::BTreeSet;

use super::document::{
    Account, AddressChange, AuditEvent, Consent, Deletion, EService, Export, FORMAT, Grant,
    LegacyAccount, Link, Mail, OneTimeCode, Passkey, SecondFactors, Session, TenantSeen, utc,
    utc_opt,
};
use crate::flows::context::Minter;
use crate::flows::email_change::request::CONFIRM;
use crate::store::export::{self, EventSeen};
use crate::store::users::UserRow;
use crate::store::{
    DbConnection, StoreError, Tenant, deletions, legacy, links, passkeys, second_factors,
};

/// The fields of an event of the resident's own that tell about another account, by event kind,
/// kept in the audit trail for the operator and left out of the export: whether the address a
/// change of address asked for is another account's (`email.change_requested`, `taken`); the
/// internal ids of the old accounts a link was mailed for, which at a shared address may be
/// another family member's (`legacy.link_sent`, `accounts`; the export has no row ids).
const TOLD_OF_OTHERS: [(&str, &str); 2] = [
    ("email.change_requested", "taken"),
    ("legacy.link_sent", "accounts"),
];

/// Everything idp holds about `user` of `m`'s tenant.
pub fn document(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
) -> Result<Export, StoreError> {
    let tenant = Tenant::of(m.tenant);
    let id = user.id.as_str();
    let events = export::events(conn, tenant, id)?;
    let legacy_accounts = legacy::linked_to(conn, tenant, id)?
        .into_iter()
        .map(|old| LegacyAccount {
            username: old.username,
            subject: old.subject,
            email: old.email,
            name: old.name,
            authority_user: old.is_authority,
            imported_at: utc(old.imported_at),
            bound_at: utc_opt(old.linked_at),
        })
        .collect();
    let sessions = export::sessions(conn, tenant, id)?
        .into_iter()
        .map(|s| Session {
            started_at: utc(s.created_at),
            last_used_at: utc(s.last_seen_at),
            expires_at: utc(s.expires_at),
            ended_at: utc_opt(s.ended_at),
            remember_me: s.remember,
            methods: s.amr.split_whitespace().map(str::to_string).collect(),
            assurance: s.acr,
            user_agent: s.user_agent,
            location: s.location,
        })
        .collect();
    let passkeys = passkeys::of_user(conn, tenant, id)?
        .into_iter()
        .map(|p| Passkey {
            name: p.name,
            synced: p.backup_eligible,
            created_at: utc(p.created_at),
            last_used_at: utc_opt(p.last_used_at),
        })
        .collect();
    let second_factors = SecondFactors {
        one_time_code: second_factors::totp(conn, tenant, id)?.map(|totp| OneTimeCode {
            set_up_at: utc(totp.created_at),
        }),
        unused_recovery_codes: second_factors::unused_recovery_codes(conn, tenant, id)?,
    };
    // A confirmation link to a new address is written only when the address has no account: it
    // would tell the resident whether another account has the address they typed
    // (docs/privacy.md). The address history and the undo link say what changed.
    let links = links::of_user(conn, tenant, id)?
        .into_iter()
        .filter(|l| l.purpose != CONFIRM)
        .map(|l| Link {
            purpose: l.purpose,
            sent_to: l.email,
            sent_at: utc(l.created_at),
            expires_at: utc(l.expires_at),
            used_at: utc_opt(l.used_at),
        })
        .collect();
    let mails = match &user.email {
        Some(address) => export::mails(conn, tenant, address)?,
        None => Vec::new(),
    };
    Ok(Export {
        format: FORMAT,
        exported_at: utc(m.now),
        tenant: TenantSeen {
            id: m.tenant.id.clone(),
            name: m.tenant.name.clone(),
        },
        account: account(user),
        address_history: address_history(&events),
        legacy_accounts,
        sessions,
        e_services: e_services(m, conn, id)?,
        passkeys,
        passkey_last_offered_at: utc_opt(passkeys::offered_at(conn, tenant, id)?),
        second_factors,
        links,
        mails: mails
            .into_iter()
            .map(|mail| Mail {
                kind: mail.kind,
                written_at: utc(mail.created_at),
                status: mail.status,
                sent_at: utc_opt(mail.sent_at),
            })
            .collect(),
        audit_events: events.into_iter().map(audit_event).collect(),
        deletion: deletions::find(conn, tenant, id)?
            .filter(|d| d.erased_at.is_none())
            .map(|d| Deletion {
                requested_at: utc(d.requested_at),
                erase_at: utc(d.erase_at),
                requested_by: d.requested_by,
            }),
    })
}

/// The account's own row, its password hash left out.
fn account(user: &UserRow) -> Account {
    Account {
        subject: user.subject.clone(),
        email: user.email.clone(),
        email_verified: user.email_verified,
        username: user.username.clone(),
        name: user.name.clone(),
        authority_user: user.is_authority,
        language: user.locale.clone(),
        disabled: user.disabled,
        password_set: user.password_hash.is_some(),
        password_changed_at: utc_opt(user.password_changed_at),
        created_at: utc(user.created_at),
        updated_at: utc(user.updated_at),
    }
}

/// The changes of address the audit trail records. The trail holds no mail address
/// (docs/security.md), so they say when, not from what to what.
fn address_history(events: &[EventSeen]) -> Vec<AddressChange> {
    events
        .iter()
        .filter_map(|event| {
            let change = match event.kind.as_str() {
                "email.changed" => "changed",
                "email.change_undone" => "undone",
                _ => return None,
            };
            Some(AddressChange {
                at: utc(event.occurred_at),
                change,
            })
        })
        .collect()
}

/// The e-services that hold a consent or a grant of the user `id`, by client id.
fn e_services(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    id: &str,
) -> Result<Vec<EService>, StoreError> {
    let tenant = Tenant::of(m.tenant);
    let grants = export::grants(conn, tenant, id)?;
    let consents = export::consents(conn, tenant, id)?;
    let clients: BTreeSet<&str> = grants
        .iter()
        .map(|g| g.client_id.as_str())
        .chain(consents.iter().map(|(client, _, _)| client.as_str()))
        .collect();
    Ok(clients
        .into_iter()
        .map(|client_id| EService {
            client_id: client_id.to_string(),
            name: m
                .tenant
                .client(client_id)
                .map(|c| c.name.clone().unwrap_or_else(|| client_id.to_string())),
            consent: consents
                .iter()
                .find(|(client, _, _)| client == client_id)
                .map(|(_, scope, given)| Consent {
                    scope: scope.clone(),
                    given_at: utc(*given),
                }),
            grants: grants
                .iter()
                .filter(|g| g.client_id == client_id)
                .map(|g| Grant {
                    scope: g.scope.clone(),
                    offline: g.offline,
                    given_at: utc(g.created_at),
                    expires_at: utc(g.expires_at),
                    revoked_at: utc_opt(g.revoked_at),
                })
                .collect(),
        })
        .collect())
}

/// An audit event as the export shows it; a detail that is not JSON (none is written so) is
/// shown as its text. What an event says about another account is left out ([`TOLD_OF_OTHERS`]).
fn audit_event(event: EventSeen) -> AuditEvent {
    let mut detail = event
        .detail
        .map(|text| serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)));
    if let Some(serde_json::Value::Object(fields)) = &mut detail {
        for (kind, field) in TOLD_OF_OTHERS {
            if event.kind == kind {
                fields.remove(field);
            }
        }
        if fields.is_empty() {
            detail = None;
        }
    }
    AuditEvent {
        kind: event.kind,
        at: utc(event.occurred_at),
        client_id: event.client_id,
        address: event.remote_addr,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use serde_json::json;

    use super::audit_event;
    use crate::store::export::EventSeen;

    fn seen(kind: &str, detail: &str) -> EventSeen {
        EventSeen {
            occurred_at: NaiveDate::from_ymd_opt(2026, 11, 23)
                .and_then(|d| d.and_hms_opt(18, 0, 0))
                .unwrap(),
            kind: kind.to_string(),
            client_id: None,
            remote_addr: Some("192.0.2.10".into()),
            detail: Some(detail.to_string()),
        }
    }

    #[test]
    fn what_an_event_tells_of_another_account_is_left_out() {
        let detail = |kind, text| audit_event(seen(kind, text)).detail;
        let asked = "email.change_requested";
        assert_eq!(detail(asked, r#"{"taken":true}"#), None);
        assert_eq!(detail(asked, r#"{"taken":false}"#), None);
        let sent = r#"{"accounts":["id-of-aino","id-of-her-sister"],"claim":true}"#;
        assert_eq!(
            detail("legacy.link_sent", sent),
            Some(json!({ "claim": true }))
        );
        // Other events keep their detail as recorded.
        assert_eq!(
            detail("login.failed", r#"{"taken":true}"#),
            Some(json!({ "taken": true }))
        );
        assert_eq!(
            detail("legacy.linked", r#"{"accounts":[]}"#),
            Some(json!({ "accounts": [] }))
        );
    }
}
