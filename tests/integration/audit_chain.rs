//! The audit trail's hash chain: the events of real logins sealed and `idp audit verify` passing;
//! an edited row, a deleted row, a beginning deleted and a salt removed by hand each named by
//! verify; an erased account's events pseudonymised and the retention purge (with its sealed
//! `audit.purged` event), after which the chain still verifies, also when an event was sealed out
//! of time order; on PostgreSQL one sealer at a time; `idp serve` sealing by itself.

use diesel::prelude::*;
use idp::store::audit::AuditRow;
use idp::store::audit_chain::{self, Broken, ChainRow, Problem, Verified};
use idp::store::schema::audit_events;

use crate::both_stores;
use crate::helpers::journeys::Login;
use crate::helpers::{Backend, TestApp, TestAppBuilder, tenant};
use crate::node::{failed_with, idp, serve, setup, sigterm, succeeded};
use crate::rp;

const ERKKI: &str = "erkki@testi.fi";
const MAIJA: &str = "maija@testi.fi";
const PASSWORD: &str = "oikea hevonen patteri";

/// `builder` with two residents, started; then a failed and a good login of erkki and a login of
/// maija through the server.
async fn trail(builder: TestAppBuilder) -> TestApp {
    let app = builder
        .user("seinajoki", ERKKI, PASSWORD, "Erkki")
        .user("seinajoki", MAIJA, PASSWORD, "Maija")
        .spawn()
        .await;
    log_in(
        &app,
        &[
            (ERKKI, "väärä salasana"),
            (ERKKI, PASSWORD),
            (MAIJA, PASSWORD),
        ],
    )
    .await;
    app
}

/// A fresh login through the server with each identifier and password.
async fn log_in(app: &TestApp, attempts: &[(&str, &str)]) {
    let client = rp::basic(app).await;
    for (email, password) in attempts {
        let login = Login::fresh(app, &client).await;
        login.submit(email, password, false).await;
    }
}

/// `idp audit verify --tenant seinajoki` on the server's configuration and database.
fn verify_cli(app: &TestApp) -> std::process::Output {
    idp()
        .arg("--config")
        .arg(app.config_path())
        .args(["audit", "verify", "--tenant", "seinajoki"])
        .output()
        .unwrap()
}

/// What `store::audit_chain::verify` says of seinajoki's chain.
async fn verify(app: &TestApp) -> Result<Verified, Broken> {
    app.db_run(|conn| audit_chain::verify(conn, tenant("seinajoki"), 2).unwrap())
        .await
}

/// Seinajoki's event at `seq`.
async fn at(app: &TestApp, seq: i64) -> ChainRow {
    app.db_run(move |conn| {
        audit_events::table
            .filter(audit_events::tenant_id.eq("seinajoki"))
            .filter(audit_events::seq.eq(seq))
            .select(ChainRow::as_select())
            .get_result(conn)
            .unwrap()
    })
    .await
}

/// Seinajoki's events: sealed, and not.
async fn counts(app: &TestApp) -> (i64, i64) {
    app.db_run(|conn| {
        let seinajoki = || audit_events::table.filter(audit_events::tenant_id.eq("seinajoki"));
        let sealed = seinajoki()
            .filter(audit_events::seq.is_not_null())
            .count()
            .get_result(conn)
            .unwrap();
        let unsealed = seinajoki()
            .filter(audit_events::seq.is_null())
            .count()
            .get_result(conn)
            .unwrap();
        (sealed, unsealed)
    })
    .await
}

/// Runs `sql` (one statement; `$ID` replaced by the event's id) on the server's database.
async fn tamper(app: &TestApp, row: &ChainRow, sql: &str) {
    let sql = sql.replace("$ID", &row.id.to_string());
    let changed = app
        .db_run(move |conn| diesel::sql_query(sql).execute(conn).unwrap())
        .await;
    assert_eq!(changed, 1);
}

/// The one line of a broken chain, at `row`.
fn broken_at(row: &ChainRow, problem: &Problem) -> String {
    format!(
        "error: the audit chain of seinajoki is broken at seq {} (event {}, {}, {}): {problem}\n",
        row.seq.unwrap(),
        row.id,
        audit_chain::timestamp(row.occurred_at),
        row.kind
    )
}

both_stores!(verify_names_an_edited_or_deleted_row);
async fn verify_names_an_edited_or_deleted_row(backend: Backend) {
    let app = trail(TestApp::builder(backend)).await;
    let (sealed, unsealed) = counts(&app).await;
    assert_eq!(sealed, 0);
    assert!(unsealed >= 4, "keys, users, logins: {unsealed}");
    let round = app.services.seal_audit().await.unwrap();
    assert!(round.ran);
    let (sealed, unsealed) = counts(&app).await;
    assert_eq!(unsealed, 0);
    assert!(round.events >= usize::try_from(sealed).unwrap());

    let out = succeeded(&verify_cli(&app));
    let (first, last) = (at(&app, 1).await, at(&app, sealed).await);
    assert_eq!(
        out,
        format!(
            "the audit chain of seinajoki is intact: {sealed} events, seq 1 to {sealed}, {} to \
             {}\nhead: seq {sealed}, hash {}\npseudonymised (erased accounts): 0\nnot sealed \
             yet: 0\n",
            audit_chain::timestamp(first.occurred_at),
            audit_chain::timestamp(last.occurred_at),
            last.hash.as_deref().unwrap(),
        )
    );
    assert_eq!(
        first.prev_hash.as_deref(),
        Some(audit_chain::genesis("seinajoki").as_str())
    );
    // The export carries each event's place and hashes, for an archive outside idp.
    let export = succeeded(
        &idp()
            .arg("--config")
            .arg(app.config_path())
            .args(["audit", "export", "--tenant", "seinajoki"])
            .output()
            .unwrap(),
    );
    let exported: serde_json::Value = serde_json::from_str(export.lines().next().unwrap()).unwrap();
    assert_eq!(exported["seq"], 1);
    assert_eq!(exported["id"], first.id);
    assert_eq!(exported["prev_hash"], first.prev_hash.clone().unwrap());
    assert_eq!(
        exported["personal_digest"],
        first.personal_digest.clone().unwrap()
    );
    assert_eq!(exported["hash"], first.hash.clone().unwrap());
    // A new event waits for the next round.
    log_in(&app, &[(MAIJA, PASSWORD)]).await;
    let unsealed = counts(&app).await.1;
    assert!(unsealed > 0);
    let out = succeeded(&verify_cli(&app));
    assert!(
        out.ends_with(&format!("not sealed yet: {unsealed}\n")),
        "{out}"
    );
    app.services.seal_audit().await.unwrap();
    let sealed = counts(&app).await.0;

    // The failed login, made to look like a success: verify names exactly that event.
    let failed = app.audited("seinajoki", "login.failed").await;
    assert_eq!(failed.len(), 1);
    let row: ChainRow = app
        .db_run(|conn| {
            audit_events::table
                .filter(audit_events::tenant_id.eq("seinajoki"))
                .filter(audit_events::kind.eq("login.failed"))
                .select(ChainRow::as_select())
                .get_result(conn)
                .unwrap()
        })
        .await;
    let (seq, id) = (row.seq.unwrap(), row.id);
    assert!(1 < seq && seq < sealed);
    tamper(
        &app,
        &row,
        "UPDATE audit_events SET kind = 'login.succeeded' WHERE id = $ID",
    )
    .await;
    failed_with(
        &verify_cli(&app),
        1,
        &broken_at(
            &ChainRow {
                event: AuditRow {
                    kind: "login.succeeded".into(),
                    ..row.event.clone()
                },
                ..row.clone()
            },
            &Problem::Hash,
        ),
    );
    tamper(
        &app,
        &row,
        "UPDATE audit_events SET kind = 'login.failed' WHERE id = $ID",
    )
    .await;
    succeeded(&verify_cli(&app));

    // Its address, its user, its detail: each is covered through the personal digest.
    for edit in [
        "UPDATE audit_events SET remote_addr = '203.0.113.7' WHERE id = $ID",
        "UPDATE audit_events SET user_id = NULL WHERE id = $ID",
        "UPDATE audit_events SET detail = '{}' WHERE id = $ID",
    ] {
        tamper(&app, &row, edit).await;
        failed_with(
            &verify_cli(&app),
            1,
            &broken_at(&row, &Problem::PersonalFields),
        );
        let (addr, user, detail) = (
            row.remote_addr.clone(),
            row.user_id.clone(),
            row.detail.clone(),
        );
        app.db_run(move |conn| {
            diesel::update(audit_events::table.filter(audit_events::id.eq(id)))
                .set((
                    audit_events::remote_addr.eq(addr),
                    audit_events::user_id.eq(user),
                    audit_events::detail.eq(detail),
                ))
                .execute(conn)
                .unwrap()
        })
        .await;
        assert!(verify(&app).await.is_ok());
    }

    // Its salt removed by hand, as if the account had been erased: refused, it still names an
    // address.
    tamper(
        &app,
        &row,
        "UPDATE audit_events SET salt = NULL WHERE id = $ID",
    )
    .await;
    assert_eq!(verify(&app).await.unwrap_err().problem, Problem::Salt);
    failed_with(&verify_cli(&app), 1, &broken_at(&row, &Problem::Salt));
    // Made to look erased, the address gone too: moved to another resident, refused; to a
    // pseudonym with what an erasure keeps of the detail changed, refused (that is in the hash).
    let maija = app.user_id("seinajoki", MAIJA).await;
    let erased = "UPDATE audit_events SET salt = NULL, remote_addr = NULL";
    for (edit, problem) in [
        (
            format!("{erased}, user_id = '{maija}' WHERE id = $ID"),
            Problem::Salt,
        ),
        (
            format!("{erased}, user_id = 'erased-x', detail = '{{\"by\":\"cli\"}}' WHERE id = $ID"),
            Problem::Hash,
        ),
    ] {
        tamper(&app, &row, &edit).await;
        assert_eq!(verify(&app).await.unwrap_err().problem, problem, "{edit}");
    }
    let kept = row.clone();
    app.db_run(move |conn| {
        diesel::update(audit_events::table.filter(audit_events::id.eq(id)))
            .set((
                audit_events::salt.eq(kept.salt.clone()),
                audit_events::remote_addr.eq(kept.remote_addr.clone()),
                audit_events::user_id.eq(kept.user_id.clone()),
                audit_events::detail.eq(kept.detail.clone()),
            ))
            .execute(conn)
            .unwrap()
    })
    .await;
    assert!(verify(&app).await.is_ok());

    // A row deleted from the middle: the next one names the gap.
    let next = at(&app, seq + 1).await;
    tamper(&app, &row, "DELETE FROM audit_events WHERE id = $ID").await;
    let broken = verify(&app).await.unwrap_err();
    assert_eq!(
        (broken.seq, broken.id, broken.problem.clone()),
        (Some(seq + 1), next.id, Problem::Gap { previous: seq - 1 })
    );
    failed_with(
        &verify_cli(&app),
        1,
        &broken_at(&next, &Problem::Gap { previous: seq - 1 }),
    );
    app.stop().await;
}

both_stores!(erasure_and_retention_leave_a_chain_that_verifies);
async fn erasure_and_retention_leave_a_chain_that_verifies(backend: Backend) {
    let app =
        trail(TestApp::builder(backend).tenant_toml("\n[audit]\nretention_days = 30\n")).await;
    app.services.seal_audit().await.unwrap();
    let erkki = app.user_id("seinajoki", ERKKI).await;
    // One more event of erkki's, not sealed yet when his account is erased.
    log_in(&app, &[(ERKKI, "taas väärin")]).await;
    let pseudonymised = app
        .db_run(move |conn| {
            idp::store::audit::pseudonymise(conn, tenant("seinajoki"), &erkki, "erased-1").unwrap()
        })
        .await;
    let unsealed = counts(&app).await.1;
    assert!(unsealed > 0);
    let verified = verify(&app).await.unwrap();
    // Every event of erkki's that was sealed; the one that was not is sealed with its new
    // content.
    assert_eq!(
        verified.pseudonymised,
        u64::try_from(pseudonymised).unwrap() - 1
    );
    let out = succeeded(&verify_cli(&app));
    assert!(
        out.contains(&format!(
            "pseudonymised (erased accounts): {}\n",
            verified.pseudonymised
        )),
        "{out}"
    );
    app.services.seal_audit().await.unwrap();
    assert_eq!(verify(&app).await.unwrap().unsealed, 0);

    // Past the retention: a new event (not sealed yet), then the purge. The sealed events go,
    // but the last, which the next one follows; the unsealed one stays.
    app.clock.advance(31 * 24 * 3600);
    log_in(&app, &[(MAIJA, PASSWORD)]).await;
    let (sealed, unsealed) = counts(&app).await;
    let head = at(&app, sealed).await;
    app.services.purge_expired().await.unwrap();
    // The last stays, and the purge's audit.purged event, sealed with it after the head, names
    // where the chain starts now.
    assert_eq!(counts(&app).await, (2, unsealed));
    let marker = at(&app, sealed + 1).await;
    assert_eq!(marker.kind, audit_chain::PURGED);
    assert_eq!(
        (marker.user_id.as_deref(), marker.salt.is_some()),
        (None, true)
    );
    let detail: serde_json::Value =
        serde_json::from_str(marker.detail.as_deref().unwrap()).unwrap();
    assert_eq!(
        detail,
        serde_json::json!({
            "first_seq": sealed,
            "prev_hash": head.prev_hash.as_deref().unwrap(),
            "deleted": sealed - 1,
        })
    );
    app.services.seal_audit().await.unwrap();
    let verified = verify(&app).await.unwrap();
    assert_eq!(verified.first.unwrap().seq, sealed);
    assert_eq!(verified.purged.unwrap().seq, sealed + 1);
    assert_eq!(verified.events, 2 + u64::try_from(unsealed).unwrap());
    let out = succeeded(&verify_cli(&app));
    assert!(
        out.contains(&format!(
            "\nit starts at seq {sealed}: the events before it were deleted (retention)\nas the \
             newest audit.purged event says: seq {}, {}\n",
            sealed + 1,
            audit_chain::timestamp(marker.occurred_at)
        )),
        "{out}"
    );
    // The next purge deletes the old head: the new events are within the retention (the first
    // audit.purged event too, which the second supersedes).
    app.services.purge_expired().await.unwrap();
    assert_eq!(counts(&app).await, (unsealed + 2, 0));
    let verified = verify(&app).await.unwrap();
    let first = head.seq.unwrap() + 1;
    assert_eq!(verified.first.unwrap().seq, first);
    assert_eq!(verified.purged.unwrap().first_seq, Some(first));

    // One more event deleted at the beginning by hand: not where the purge left the chain.
    tamper(&app, &marker, "DELETE FROM audit_events WHERE id = $ID").await;
    failed_with(
        &verify_cli(&app),
        1,
        &broken_at(
            &at(&app, first + 1).await,
            &Problem::Start {
                purged_to: Some(first),
            },
        ),
    );
    app.stop().await;
}

both_stores!(a_beginning_deleted_by_hand_is_named);
/// A tenant without a retention: its chain starts at seq 1. Its first events deleted in SQL are
/// named where the chain now starts; before, verify took any first event after seq 1 for the
/// retention's anchor and said the chain was intact, with the same head.
async fn a_beginning_deleted_by_hand_is_named(backend: Backend) {
    let app = trail(TestApp::builder(backend)).await;
    app.services.seal_audit().await.unwrap();
    let third = at(&app, 3).await;
    let deleted = app
        .db_run(|conn| {
            diesel::sql_query("DELETE FROM audit_events WHERE tenant_id = 'seinajoki' AND seq < 3")
                .execute(conn)
                .unwrap()
        })
        .await;
    assert_eq!(deleted, 2);
    failed_with(
        &app.cli(&["audit", "verify", "--tenant", "seinajoki"]).await,
        1,
        &broken_at(&third, &Problem::Start { purged_to: None }),
    );
    app.stop().await;
}

/// Two nodes' sealers at once on PostgreSQL: while one round's transaction holds the lock,
/// another connection's round skips, and runs once the first has committed; a second event at a
/// place already taken is refused by the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sealer_at_a_time_on_postgres() {
    let Some(app) = TestApp::on_postgres().await else {
        return;
    };
    app.add_user("seinajoki", ERKKI, PASSWORD, "Erkki").await;
    let store = app.services.store.clone();
    let sealed = tokio::task::spawn_blocking(move || {
        let mut first = store.conn().unwrap();
        let mut second = store.conn().unwrap();
        let sealed = (*first)
            .transaction(|first| {
                let sealed = audit_chain::seal(first, 100)?;
                assert!(sealed.ran && sealed.events > 0);
                assert!(
                    !audit_chain::seal(&mut second, 100)?.ran,
                    "a second at once"
                );
                Ok::<_, idp::store::StoreError>(sealed.events)
            })
            .unwrap();
        let after = audit_chain::seal(&mut second, 100).unwrap();
        assert!(after.ran);
        assert_eq!(after.events, 0);
        sealed
    })
    .await
    .unwrap();
    assert_eq!(verify(&app).await.unwrap().unsealed, 0);
    assert!(sealed > 0);
    // A fork: another event of seinajoki given seq 1.
    app.add_user("seinajoki", MAIJA, PASSWORD, "Maija").await;
    let fork = app
        .db_run(|conn| {
            diesel::update(
                audit_events::table
                    .filter(audit_events::tenant_id.eq("seinajoki"))
                    .filter(audit_events::seq.is_null()),
            )
            .set(audit_events::seq.eq(1))
            .execute(conn)
            .map_err(idp::store::StoreError::from)
        })
        .await;
    assert!(
        matches!(fork, Err(idp::store::StoreError::UniqueViolation(_))),
        "{fork:?}"
    );
    app.stop().await;
}

/// `idp serve` seals by itself: the events of its start (the keys it created, the demo's legacy
/// import) are in the chain within seconds, and `idp audit verify` finds nothing left to seal.
#[test]
fn serve_seals_the_trail() {
    let s = setup(Backend::Sqlite);
    let served = serve(s.command(&[]).env("IDP__SERVER__BIND", "127.0.0.1:0"));
    let verify = || succeeded(&s.idp(&["audit", "verify", "--tenant", "seinajoki"]));
    let sealed = |out: &str| {
        out.starts_with("the audit chain of seinajoki is intact: ")
            && out.ends_with("not sealed yet: 0\n")
    };
    let mut out = verify();
    for _ in 0..50 {
        if sealed(&out) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        out = verify();
    }
    assert!(sealed(&out), "{out}");
    assert!(out.contains(", seq 1 to "), "{out}");
    sigterm(&served.child);
}

both_stores!(an_event_sealed_out_of_time_order_is_kept_with_what_follows_it);
async fn an_event_sealed_out_of_time_order_is_kept_with_what_follows_it(backend: Backend) {
    let app = TestApp::with_tenant_toml(backend, "\n[audit]\nretention_days = 30\n").await;
    let start = app.now();
    let day = chrono::Duration::days(1);
    // A late writer: the event of day 20 is written (and so sealed) after the one of day 30.
    app.db_run(move |conn| {
        for (kind, at) in [
            ("test.day30", start + day * 30),
            ("test.day20", start + day * 20),
        ] {
            idp::store::audit::Event::new("seinajoki", at, kind)
                .record(conn)
                .unwrap();
        }
    })
    .await;
    app.services.seal_audit().await.unwrap();
    let kinds = app.audit_kinds("seinajoki").await;
    assert!(kinds.len() > 2, "the start's events too: {kinds:?}");
    // On day 45 the retention keeps what occurred from day 15: both late events, the one of
    // day 30 though the earliest kept event by time (day 20) comes after it in the chain.
    app.clock.advance(45 * 24 * 3600);
    app.services.purge_expired().await.unwrap();
    assert_eq!(
        app.audit_kinds("seinajoki").await,
        ["test.day30", "test.day20", audit_chain::PURGED]
    );
    let verified = verify(&app).await.unwrap();
    assert_eq!(verified.events, 3);
    assert_eq!(
        verified.first.unwrap().seq,
        i64::try_from(kinds.len()).unwrap() - 1
    );
    app.stop().await;
}

both_stores!(a_long_retention_backlog_is_purged_a_batch_a_round);
/// A city turns a retention on after years of events: each round of the clean-up deletes at most
/// `PURGE_BATCH` of them, the oldest (a beginning of the chain, which still verifies), and the
/// next rounds go on; no round holds the writer for the whole backlog. Before, one statement
/// deleted them all in the round's one transaction.
async fn a_long_retention_backlog_is_purged_a_batch_a_round(backend: Backend) {
    let app = TestApp::with_tenant_toml(backend, "\n[audit]\nretention_days = 30\n").await;
    let batch = audit_chain::PURGE_BATCH;
    let old = app.now();
    app.db_run(move |conn| {
        idp::store::write_transaction(conn, |conn| {
            for _ in 0..batch + 5 {
                idp::store::audit::Event::new("seinajoki", old, "test.old").record(conn)?;
            }
            Ok::<_, idp::store::StoreError>(())
        })
        .unwrap();
    })
    .await;
    while app.services.seal_audit().await.unwrap().events > 0 {}
    app.clock.advance(45 * 24 * 3600);
    let count = |kind: &'static str| {
        app.db_run(move |conn| {
            audit_events::table
                .filter(audit_events::kind.eq(kind))
                .count()
                .get_result::<i64>(conn)
                .unwrap()
        })
    };
    let before = count("test.old").await;
    assert_eq!(before, batch + 5);
    app.services.purge_expired().await.unwrap();
    let left = count("test.old").await;
    assert!((5..=15).contains(&left), "one batch at most: {left} left");
    assert!(verify(&app).await.is_ok(), "a beginning of the chain went");
    app.services.purge_expired().await.unwrap();
    assert_eq!(
        count("test.old").await,
        0,
        "all: the chain's last is the first round's audit.purged event, which the next follows"
    );
    assert_eq!(count(audit_chain::PURGED).await, 2);
    assert!(verify(&app).await.is_ok());
    app.stop().await;
}

/// The personal details [`events_of`] writes, in turn, and what an erasure keeps of each.
const DETAILS: [(Option<&str>, Option<&str>); 4] = [
    (None, None),
    (Some(r#"{"by":"password"}"#), Some(r#"{"by":"password"}"#)),
    (
        Some(r#"{"by":"password","username":"erkki.k"}"#),
        Some(r#"{"by":"password"}"#),
    ),
    (Some(r#"{"name":"Erkin puhelin"}"#), None),
];

/// Writes `count` events of the user `user`, each from an address and with the next of
/// [`DETAILS`].
async fn events_of(app: &TestApp, user: &str, count: usize) {
    let (user, now) = (user.to_string(), app.now());
    app.db_run(move |conn| {
        for n in 0..count {
            let (detail, _) = DETAILS[n % DETAILS.len()];
            let detail: Option<serde_json::Value> =
                detail.map(|d| serde_json::from_str(d).unwrap());
            let mut event = idp::store::audit::Event::new("seinajoki", now, "login.failed")
                .user(user.as_str())
                .address("192.0.2.7");
            if let Some(detail) = &detail {
                event = event.detail(detail);
            }
            event.record(conn).unwrap();
        }
    })
    .await;
}

/// Pseudonymises the events of `user` as `pseudonym`: how many, and the statements it ran.
async fn pseudonymised(app: &TestApp, user: &str, pseudonym: &str) -> (usize, u64) {
    let counted = app.services.store.statements().all.clone();
    let (user, pseudonym) = (user.to_string(), pseudonym.to_string());
    app.db_run(move |conn| {
        let before = counted.get();
        let rewritten =
            idp::store::audit::pseudonymise(conn, tenant("seinajoki"), &user, &pseudonym).unwrap();
        (rewritten, counted.get() - before)
    })
    .await
}

both_stores!(pseudonymising_runs_the_same_statements_for_any_number_of_events);
/// An erasure's pseudonymisation rewrites an account's events with a number of statements that
/// does not grow with them: 8 events or 400 (half of them sealed, with and without personal
/// detail) take the same statements, and every event names the pseudonym, no address and only
/// impersonal detail; the chain verifies. Before, it ran one UPDATE per event, inside the
/// erasure's write transaction (on SQLite the only writer's turn): 401 statements for 400 events.
async fn pseudonymising_runs_the_same_statements_for_any_number_of_events(backend: Backend) {
    let app = trail(TestApp::builder(backend)).await;
    app.stop_workers();
    let (few, many) = ("u-few", "u-many");
    for (user, count) in [(few, 4), (many, 200)] {
        events_of(&app, user, count).await;
    }
    app.services.seal_audit().await.unwrap();
    for (user, count) in [(few, 4), (many, 200)] {
        events_of(&app, user, count).await;
    }
    let (rewritten_few, statements_few) = pseudonymised(&app, few, "erased-few").await;
    let (rewritten_many, statements_many) = pseudonymised(&app, many, "erased-many").await;
    assert_eq!((rewritten_few, rewritten_many), (8, 400));
    assert_eq!(statements_many, statements_few);

    let rows: Vec<AuditRow> = app
        .db_run(|conn| {
            audit_events::table
                .filter(audit_events::user_id.eq("erased-many"))
                .order(audit_events::id.asc())
                .select(AuditRow::as_select())
                .load(conn)
                .unwrap()
        })
        .await;
    assert_eq!(rows.len(), 400);
    for (n, row) in rows.iter().enumerate() {
        assert_eq!(row.remote_addr, None);
        assert_eq!(
            row.detail.as_deref(),
            DETAILS[n % DETAILS.len()].1,
            "{row:?}"
        );
    }
    app.services.seal_audit().await.unwrap();
    let verified = verify(&app).await.unwrap();
    assert_eq!(verified.pseudonymised, 4 + 200);
    assert_eq!(verified.unsealed, 0);
    app.stop().await;
}
