//! The SQLite writers' turn is one per database file: a server whose file is busy does not hold
//! up another server's writers in the same process (the test binary runs many servers at once).

use std::time::{Duration, Instant};

use diesel::r2d2::ManageConnection;
use idp::store::{Manager, StoreError, write_transaction};
use serde_json::Value;

use crate::helpers::{Backend, TestApp};

/// While a writer of server A's file holds its turn, server B (another file) still writes: its
/// revocation of a token (a write) is answered at once, not after A's busy timeout with a 503 (as
/// it was when the turn was one per process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_database_does_not_hold_up_another_servers_writers() {
    let a = TestApp::spawn(Backend::Sqlite).await;
    let b = TestApp::spawn(Backend::Sqlite).await;
    // A machine token of B, whose revocation writes (issuing it writes nothing).
    let issued: Value = b
        .http
        .post(b.url("/seinajoki/token"))
        .basic_auth("service", Some("service-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
    let introspected: Value = b
        .http
        .post(b.url("/seinajoki/introspect"))
        .basic_auth("service", Some("service-secret"))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], false, "{introspected}");
    // (Under the old turn of the process it waited the whole busy timeout and got a 503.)
    println!("server B answered in {elapsed:?}");
}
