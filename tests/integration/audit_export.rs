//! `idp audit export`: a tenant's audit trail as JSON Lines or CSV, only its own events, in a time
//! range, oldest first.

use serde_json::Value;

use crate::both_stores;
use crate::helpers::Backend;
use crate::node::{Setup, failed_with, setup, succeeded, text};

/// Adds a resident to `tenant` through the CLI (which audits `user.created`).
fn add(s: &Setup, tenant: &str, email: &str) {
    let args = ["users", "add", "--tenant", tenant, "--email", email];
    succeeded(&s.run(&[&args[..], &["--name", "Testi"]].concat(), ""));
}

/// The JSON Lines export of `seinajoki` with `more` arguments, parsed.
fn exported(s: &Setup, more: &[&str]) -> Vec<Value> {
    let args = ["audit", "export", "--tenant", "seinajoki"];
    let out = succeeded(&s.idp(&[&args[..], more].concat()));
    out.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

both_stores!(a_tenants_trail_is_exported_whole_and_alone);
async fn a_tenants_trail_is_exported_whole_and_alone(backend: Backend) {
    let s = setup(backend);
    add(&s, "seinajoki", "erkki@testi.fi");
    add(&s, "kouvola", "kaisa@testi.fi");
    add(&s, "seinajoki", "maija@testi.fi");

    let events = exported(&s, &[]);
    let created: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "user.created")
        .collect();
    assert_eq!(created.len(), 2, "{events:#?}");
    // Oldest first, each with its columns; the detail is JSON, not text.
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let first = created[0];
    assert!(first["user_id"].is_string(), "{first}");
    assert!(first["occurred_at"].as_str().unwrap().ends_with('Z'));
    assert!(first["client_id"].is_null());
    assert!(first.get("detail").is_some());
    // Not one event of kouvola (its user is the third added): each tenant's own.
    let kouvola = succeeded(&s.idp(&["audit", "export", "--tenant", "kouvola"]));
    assert_eq!(
        kouvola
            .lines()
            .filter(|l| l.contains("user.created"))
            .count(),
        1
    );

    // A range: nothing before 2000, everything since then.
    assert!(exported(&s, &["--until", "2000-01-01"]).is_empty());
    assert_eq!(
        exported(&s, &["--since", "2000-01-01T00:00:00"]).len(),
        events.len()
    );
    assert!(exported(&s, &["--since", "2999-01-01"]).is_empty());

    // CSV: a header, then a record an event, the same ones.
    let csv = succeeded(&s.idp(&[
        "audit",
        "export",
        "--tenant",
        "seinajoki",
        "--format",
        "csv",
    ]));
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "id,occurred_at,kind,user_id,client_id,remote_addr,detail,seq,prev_hash,personal_digest,hash"
        )
    );
    assert_eq!(lines.count(), events.len(), "{csv}");
}

both_stores!(a_bad_request_for_the_trail_says_what_is_wrong);
async fn a_bad_request_for_the_trail_says_what_is_wrong(backend: Backend) {
    let s = setup(backend);
    let unknown = s.idp(&["audit", "export", "--tenant", "tampere"]);
    failed_with(
        &unknown,
        1,
        "error: unknown tenant \"tampere\" (configured: kouvola, seinajoki)\n",
    );
    assert!(unknown.stdout.is_empty());
    let args = [
        "audit",
        "export",
        "--tenant",
        "seinajoki",
        "--since",
        "eilen",
    ];
    let bad = s.idp(&args);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    assert!(
        text(&bad.stderr).contains("\"eilen\" is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"),
        "{}",
        text(&bad.stderr)
    );
    let format = s.idp(&[
        "audit",
        "export",
        "--tenant",
        "seinajoki",
        "--format",
        "xml",
    ]);
    assert_eq!(format.status.code(), Some(2));
}
