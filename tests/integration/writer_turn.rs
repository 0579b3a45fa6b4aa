//! The SQLite writers' turn is one per database file: a server whose file is busy does not hold
//! up another server's writers in the same process (the test binary runs many servers at once).
//! Writers that arrive together share a commit (`idp/store/transaction.rs`, whose unit tests
//! show the grouping itself); here, over HTTP, a burst of refreshes keeps each family's rotation
//! apart on both stores.

use std::time::{Duration, Instant};

use diesel::r2d2::ManageConnection;
use idp::store::{Manager, StoreError, write_transaction};

use crate::account_sessions::support::{
    PASSWORD, app_client, app_tokens, app_with_receiver, refresh,
};
use crate::both_stores;
use crate::helpers::journeys::client_post;
use crate::helpers::{Backend, TestApp};
use crate::rp;

/// The `client_credentials` client of the test configuration.
const SERVICE: (&str, &str) = ("service", "service-secret");

const REFUSED: &str = "invalid_grant: the refresh token is invalid, expired or revoked";

both_stores!(a_burst_of_refreshes_keeps_each_family_apart);
/// Four refresh-token families refreshed at once, and in the same burst a replay of a token of
/// the first family that was already used (RFC 6749 §10.4: the replay revokes its family). The
/// writes of the burst may share commits; each answer is still its own: the three other families
/// rotate and their new tokens work, the first family is revoked whichever of its two requests
/// came first.
async fn a_burst_of_refreshes_keeps_each_family_apart(backend: Backend) {
    let (app, _receiver, _handle) = app_with_receiver(backend).await;
    let client = app_client(&app).await;
    let mut families = Vec::new();
    for email in ["erkki@testi.fi", "maija@testi.fi"] {
        families.push(
            app_tokens(&app, &app.browser(), email)
                .await
                .refresh_token(),
        );
        // A second family in another browser, consented already.
        let started = rp::start(&client, &["email", "offline_access"], &[]);
        let again = rp::log_in_and_redeem(&app.browser(), &client, started, email, PASSWORD).await;
        families.push(again.refresh_token());
    }
    // The first family's token, used once: its replay is the attack.
    let used = families[0].clone();
    families[0] = refresh(&client, &used).await.unwrap();

    let (a, b, c, d, replay) = tokio::join!(
        refresh(&client, &families[0]),
        refresh(&client, &families[1]),
        refresh(&client, &families[2]),
        refresh(&client, &families[3]),
        refresh(&client, &used),
    );
    let answers = [a, b, c, d, replay];

    assert_eq!(answers[4], Err(REFUSED.to_string()), "the replay");
    // The first family is revoked: its newest token is refused, whether it was rotated in the
    // burst before the replay or refused because the replay came first.
    let newest = answers[0].clone().unwrap_or_else(|_| families[0].clone());
    assert_eq!(refresh(&client, &newest).await, Err(REFUSED.to_string()));
    for (n, answer) in answers.iter().enumerate().take(4).skip(1) {
        let rotated = answer.clone().unwrap_or_else(|e| panic!("family {n}: {e}"));
        assert!(refresh(&client, &rotated).await.is_ok(), "family {n}");
        // (A replay, last: it revokes the family.)
        assert_eq!(
            refresh(&client, &families[n]).await,
            Err(REFUSED.to_string()),
            "family {n}: its old token was rotated away"
        );
    }
}

/// While a writer of server A's file holds its turn, server B (another file) still writes: its
/// revocation of a token (a write) is answered at once, not after A's busy timeout with a 503 (as
/// it was when the turn was one per process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_database_does_not_hold_up_another_servers_writers() {
    let a = TestApp::spawn(Backend::Sqlite).await;
    let b = TestApp::spawn(Backend::Sqlite).await;
    // A machine token of B, whose revocation writes (issuing it writes nothing).
    let (_, issued) = client_post(
        &b,
        "/seinajoki/token",
        SERVICE,
        &[("grant_type", "client_credentials")],
    )
    .await;
    let access = issued["access_token"].as_str().unwrap().to_string();

    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let backend = a.db.backend.clone();
    let holder = std::thread::spawn(move || {
        let mut conn = Manager::new(backend).connect().unwrap();
        write_transaction(&mut conn, |_| {
            held_tx.send(()).unwrap();
            release_rx.recv_timeout(Duration::from_secs(30)).unwrap();
            Ok::<_, StoreError>(())
        })
        .unwrap();
    });
    held_rx.recv_timeout(Duration::from_secs(30)).unwrap();

    let started = Instant::now();
    let response = b
        .http
        .post(b.url("/seinajoki/revoke"))
        .basic_auth("service", Some("service-secret"))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(status, 200, "{body}");
    // The revocation was written: B's token is inactive now.
    let (_, introspected) = client_post(
        &b,
        "/seinajoki/introspect",
        SERVICE,
        &[("token", access.as_str())],
    )
    .await;
    assert_eq!(introspected["active"], false, "{introspected}");
    // (Under the old turn of the process it waited the whole busy timeout and got a 503.)
    println!("server B answered in {elapsed:?}");
}
