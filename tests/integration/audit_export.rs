//! `idp audit export`: a tenant's audit trail as JSON Lines or CSV, only its own events, in a time
//! range, oldest first.

use std::io::Read;
use std::process::Stdio;

use diesel::RunQueryDsl;
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

/// `idp audit export` of seinajoki started, its output and errors piped to the test.
fn piped_export(s: &Setup) -> std::process::Child {
    s.command(&["audit", "export", "--tenant", "seinajoki"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Writes `count` events of the kind `test.bulk` into seinajoki's trail, the `i`-th at `at(i)`.
fn bulk(s: &Setup, count: i64, at: impl Fn(i64) -> chrono::NaiveDateTime) {
    let settings = idp::config::load(&s.config).unwrap().settings.database;
    let store = idp::store::Store::open(&settings).unwrap();
    let mut conn = store.conn().unwrap();
    idp::store::write_transaction(&mut conn, |conn| {
        for i in 0..count {
            idp::store::audit::Event::new("seinajoki", at(i), "test.bulk").record(conn)?;
        }
        Ok::<_, idp::store::StoreError>(())
    })
    .unwrap();
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

    // A range: nothing before 2000, everything since then — with the exports made since, each
    // recorded after what it read (`audit.exported`): the first and the one until 2000.
    assert!(exported(&s, &["--until", "2000-01-01"]).is_empty());
    let since = exported(&s, &["--since", "2000-01-01T00:00:00"]);
    let id = |e: &Value| e["id"].as_i64().unwrap();
    let ids = |events: &[Value]| events.iter().map(id).collect::<Vec<_>>();
    assert_eq!(ids(&since[..events.len()]), ids(&events));
    let later: Vec<&Value> = since[events.len()..].iter().map(|e| &e["kind"]).collect();
    assert_eq!(later, ["audit.exported", "audit.exported"]);
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
    // And the four exports since the first.
    assert_eq!(lines.count(), events.len() + 4, "{csv}");
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

both_stores!(a_long_trail_is_exported_in_time_order_page_after_page);
async fn a_long_trail_is_exported_in_time_order_page_after_page(backend: Backend) {
    let s = setup(backend);
    add(&s, "seinajoki", "erkki@testi.fi");
    // 2,400 events written in the reverse of their time order, three to an instant (two at the
    // first), so that pages of 1,000 end inside an instant.
    let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap();
    bulk(&s, 2400, |i| {
        start + chrono::Duration::seconds((2400 - i) / 3)
    });

    let times = |events: &[Value]| -> Vec<(String, i64)> {
        events
            .iter()
            .map(|e| {
                let time = e["occurred_at"].as_str().unwrap().to_string();
                (time, e["id"].as_i64().unwrap())
            })
            .collect()
    };
    let whole = exported(&s, &[]);
    let bulk: Vec<Value> = whole
        .iter()
        .filter(|e| e["kind"] == "test.bulk")
        .cloned()
        .collect();
    // Every event once, oldest first: by time, then by id within an instant.
    assert_eq!(bulk.len(), 2400);
    let order = times(&whole);
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert_eq!(whole.last().unwrap()["kind"], "user.created");
    // A range of 600 instants, three events each, across the pages.
    let range = exported(
        &s,
        &[
            "--since",
            "2026-01-01T00:01:40",
            "--until",
            "2026-01-01T00:11:40",
        ],
    );
    assert_eq!(range.len(), 1800);
    let order = times(&range);
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert_eq!(range[0]["occurred_at"], "2026-01-01T00:01:40.000000Z");
    assert_eq!(range[1799]["occurred_at"], "2026-01-01T00:11:39.000000Z");
}

both_stores!(a_time_written_in_another_form_is_exported_once);
async fn a_time_written_in_another_form_is_exported_once(backend: Backend) {
    let s = setup(backend);
    add(&s, "seinajoki", "erkki@testi.fi");
    // The trail's last events with times as another tool writes them, six zeros: on SQLite that
    // text compares after idp's own form of the same instant, the one an export's next page
    // starts from.
    let settings = idp::config::load(&s.config).unwrap().settings.database;
    let store = idp::store::Store::open(&settings).unwrap();
    let mut pooled = store.conn().unwrap();
    let conn: &mut idp::store::DbConnection = &mut pooled;
    for second in ["00", "15", "30"] {
        diesel::sql_query(format!(
            "INSERT INTO audit_events (tenant_id, occurred_at, kind) \
             VALUES ('seinajoki', '2099-01-01 00:00:{second}.000000', 'test.by_hand')"
        ))
        .execute(conn)
        .unwrap();
    }
    drop(pooled);
    let mut export = piped_export(&s);
    // A megabyte at most: an export that wrote an event again and again would never end.
    let mut out = String::new();
    export
        .stdout
        .take()
        .unwrap()
        .take(1 << 20)
        .read_to_string(&mut out)
        .unwrap();
    let _ = export.kill();
    assert!(export.wait().unwrap().success(), "{out}");
    let by_hand: Vec<&str> = out.lines().filter(|l| l.contains("test.by_hand")).collect();
    assert_eq!(by_hand.len(), 3, "{out}");
    assert!(by_hand[2].contains("\"occurred_at\":\"2099-01-01T00:00:30.000000Z\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// An export read through a pipe by a reader that pauses (`less`, a log shipper holding back):
/// the export's read transaction sits idle while its writes wait, and PostgreSQL's limit on a
/// session idle in a transaction (a minute, `store::POSTGRES_SETUP`) ended it half-way, the
/// events handed out unaudited. The export lifts the limit for its own read-only snapshot: the
/// whole trail arrives after a pause of 65 s, and `audit.exported` counts it.
///
/// PostgreSQL only: SQLite has no such limit.
async fn a_reader_that_pauses_for_over_a_minute_gets_the_whole_trail() {
    if crate::helpers::postgres_admin_url().is_none() {
        return;
    }
    let s = setup(Backend::Postgres);
    add(&s, "seinajoki", "erkki@testi.fi");
    // More than a pipe holds (64 KiB), in more than one page.
    let now = idp::clock::Clock::now(&idp::clock::SystemClock);
    bulk(&s, 3000, |_| now);

    let mut export = piped_export(&s);
    let mut stdout = export.stdout.take().unwrap();
    let mut first = [0_u8; 1];
    stdout.read_exact(&mut first).unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(65)).await;
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let out = export.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines = String::from_utf8([&first[..], &rest].concat()).unwrap();
    let bulk = lines.lines().filter(|l| l.contains("test.bulk")).count();
    assert_eq!(bulk, 3000);
    let audited = exported(&s, &[]);
    let counted = audited
        .iter()
        .find(|e| e["kind"] == "audit.exported")
        .map(|e| e["detail"]["count"].clone());
    assert_eq!(counted, Some(Value::from(lines.lines().count())));
}
