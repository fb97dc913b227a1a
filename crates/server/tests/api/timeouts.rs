//! Clients that stop sending (issue 11): a request whose head or body stops halfway is
//! answered 408 within `issuer.read_timeout_secs` and its connection closed, instead of being
//! held open forever; the server goes on serving everyone else.

use crate::helpers::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The read timeout the tests run with.
const TIMEOUT_SECS: u64 = 1;

async fn spawn_impatient_app() -> TestApp {
    spawn_app_with(|c| c.issuer.read_timeout_secs = TIMEOUT_SECS).await
}

/// Sends `head` and `partial_body` over a raw connection, then nothing more; returns what the
/// server answered up to closing the connection, and how long that took. Panics if the
/// connection is still open after 10 s.
async fn send_and_stall(
    app: &TestApp,
    head: String,
    partial_body: &'static [u8],
) -> (String, Duration) {
    let addr = app.base.trim_start_matches("http://").to_string();
    actix_web::rt::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let started = Instant::now();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(partial_body).unwrap();
        stream.flush().unwrap();
        let mut answer = Vec::new();
        // Ends at EOF, i.e. when the server closes; a connection held open is a timeout error.
        stream
            .read_to_end(&mut answer)
            .expect("the server answers and closes the connection");
        (
            String::from_utf8_lossy(&answer).into_owned(),
            started.elapsed(),
        )
    })
    .await
    .unwrap()
}

fn assert_timed_out(what: &str, answer: &str, took: Duration, says: &str) {
    assert!(answer.starts_with("HTTP/1.1 408"), "{what}: {answer}");
    assert!(answer.contains(says), "{what}: {answer}");
    assert!(
        took >= Duration::from_millis(TIMEOUT_SECS * 1000 - 100) && took < Duration::from_secs(5),
        "{what}: answered after {took:?}"
    );
}

/// The server still answers, and still issues tokens, after the stalled requests.
async fn assert_still_serving(app: &TestApp) {
    let health = app
        .http
        .get(format!("{}/health", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    app.password_token("admin", ADMIN_PASSWORD, "profile").await;
}

#[actix_web::test]
async fn a_body_that_stops_halfway_is_answered_408_and_closed_on_every_service() {
    let app = spawn_impatient_app().await;
    let host = app.base.trim_start_matches("http://").to_string();
    let token = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;

    // The issuer's token endpoint: a form of 100 bytes, 10 of them sent.
    let (answer, took) = send_and_stall(
        &app,
        format!(
            "POST /realms/default/protocol/openid-connect/token HTTP/1.1\r\nHost: {host}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
        ),
        b"grant_type",
    )
    .await;
    assert_timed_out(
        "token endpoint",
        &answer,
        took,
        "did not arrive within 1 seconds",
    );
    assert!(answer.contains("\"error\":\"invalid_request\""), "{answer}");

    // The resource API: JSON of 100 bytes, 10 of them sent.
    let (answer, took) = send_and_stall(
        &app,
        format!(
            "POST /api/v1/teams HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        ),
        b"{\"name\": \"",
    )
    .await;
    assert_timed_out(
        "resource API",
        &answer,
        took,
        "did not arrive within 1 seconds",
    );
    // Nothing was created from the half body.
    let (_, teams) = app
        .call(reqwest::Method::GET, "/api/v1/teams", Some(&token), None)
        .await;
    assert_eq!(teams["values"].as_array().unwrap().len(), 1, "{teams}");

    // The console: a signed-in form of 100 bytes, 10 of them sent.
    let (answer, took) = send_and_stall(
        &app,
        format!(
            "POST /realms/default/console/teams HTTP/1.1\r\nHost: {host}\r\n\
             Cookie: tessera_console_at={token}; tessera_console_csrf=c5rf\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
        ),
        b"csrf=c5rf&",
    )
    .await;
    assert_timed_out(
        "console",
        &answer,
        took,
        "The form did not arrive within 1 seconds",
    );

    assert_still_serving(&app).await;
}

#[actix_web::test]
async fn a_request_head_that_stops_halfway_is_answered_408_and_closed() {
    let app = spawn_impatient_app().await;
    let host = app.base.trim_start_matches("http://").to_string();
    let (answer, took) = send_and_stall(
        &app,
        format!("POST /realms/default/protocol/openid-connect/token HTTP/1.1\r\nHost: {host}\r\nContent-Le"),
        b"",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    assert_still_serving(&app).await;
}

/// `database.connect_timeout_secs` bounds how long taking a database connection waits (the
/// time a request hangs while the database is down or every connection is busy), instead of
/// a fixed 10 s.
#[test]
fn taking_a_database_connection_gives_up_after_the_configured_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _pg) = fresh_database_url(dir.path());
    let mut config = test_config(dir.path(), url);
    config.database.max_connections = 1;
    config.database.connect_timeout_secs = 1;
    let db = tessera_server::app::open_database(&config).unwrap();
    let _held = db.conn().unwrap();
    let started = Instant::now();
    let err = match db.conn() {
        Ok(_) => panic!("a second connection from a pool of one"),
        Err(e) => e.to_string(),
    };
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "waited {waited:?}: {err}"
    );
}
