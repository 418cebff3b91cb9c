//! The panel in a real headless Chromium: sign in, watch the overview move when a client
//! connects, revoke a member and see their socket close and their row change, change a role,
//! create an invite and sign up with it, and keep working across a server restart; and
//! GraphiQL, from the binary's own assets.

use std::time::Duration;

use fantoccini::{Client, Locator};
use taina_protocol::client::Incoming;
use taina_tests::browser::Browser;
use taina_tests::TestServer;

const WAIT: Duration = Duration::from_secs(10);

/// Waits until the element at `css` has exactly `text`; the last text seen on failure.
async fn wait_text(client: &Client, css: &str, text: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = String::new();
    while tokio::time::Instant::now() < deadline {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            if let Ok(current) = element.text().await {
                if current.trim() == text {
                    return;
                }
                seen = current;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("`{css}` never showed `{text}` (last: `{seen}`)");
}

/// Clicks the element at `css`, finding it again when the live page swapped it out between
/// the find and the click (htmx replaces a row when its user's sockets change).
async fn click(client: &Client, css: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let clicked = match client.find(Locator::Css(css)).await {
            Ok(element) => element.click().await.map(|_| ()),
            Err(e) => Err(e),
        };
        match clicked {
            Ok(()) => return,
            Err(e) if tokio::time::Instant::now() >= deadline => {
                panic!("cannot click `{css}`: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn sign_in(client: &Client, ts: &TestServer) {
    client.goto(&format!("{}/admin", ts.url)).await.unwrap();
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("form#signin"))
        .await
        .expect("redirected to the sign-in form");
    let field = |name: &'static str| client.find(Locator::Css(name));
    field("input[name=email]")
        .await
        .unwrap()
        .send_keys("admin@example.org")
        .await
        .unwrap();
    field("input[name=password]")
        .await
        .unwrap()
        .send_keys("admin password")
        .await
        .unwrap();
    field("form#signin button")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#kpi-sockets"))
        .await
        .expect("the overview after sign-in");
}

#[tokio::test]
async fn the_panel_is_live_in_a_real_browser() {
    let mut ts = TestServer::start().await;
    let admin = ts.admin().await;
    let member = ts.invited(&admin, "member@example.org", "member").await;
    let member_id = ts.user_id(&member).await;
    let browser = Browser::start().await;
    let client = &browser.client;

    sign_in(client, &ts).await;
    wait_text(client, "#live-status", "live").await;
    wait_text(client, "#kpi-sockets .value", "0").await;

    // A client connects: the overview's count follows within a sample or two.
    let connected_at = std::time::Instant::now();
    let mut socket = ts.socket(&member).await;
    wait_text(client, "#kpi-sockets .value", "1").await;
    let seen_after = connected_at.elapsed();
    assert!(
        seen_after < Duration::from_secs(3),
        "seen after {seen_after:?}"
    );
    wait_text(client, "#kpi-users .value", "1").await;
    let png = client.screenshot().await.unwrap();
    let artefact = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("admin-overview.png");
    std::fs::write(&artefact, png).unwrap();

    // People: the member's row shows their socket; revoking closes it and the row follows.
    client
        .goto(&format!("{}/admin/people", ts.url))
        .await
        .unwrap();
    let row = format!("#user-{member_id}");
    wait_text(client, &format!("{row} .online-sockets"), "1").await;
    click(client, &format!("{row} .revoke-form button")).await;
    let closed = loop {
        match socket.next_message(WAIT).await {
            Ok(Incoming::Closed { code, .. }) => break code,
            Ok(_) => continue,
            Err(e) => panic!("the member's socket did not close: {e}"),
        }
    };
    assert_eq!(closed, taina_protocol::close::SESSION_ENDED);
    wait_text(client, &format!("{row} .online-sockets"), "0").await;
    wait_text(client, &format!("{row} .sessions"), "none").await;
    let flash = client
        .find(Locator::Css("#flash .flash"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(flash.contains("Revoked 1 session"), "{flash}");

    // Change the member's role from the row's form.
    click(
        client,
        &format!("{row} select[name=role] option[value=guest]"),
    )
    .await;
    click(client, &format!("{row} .role-form button")).await;
    wait_text(client, &format!("{row} .role .badge"), "guest").await;

    // An invite made in the panel lets someone sign up; they appear in the table by themselves.
    client
        .find(Locator::Css("#create-invite"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let code = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#flash code"))
        .await
        .expect("the new invite's code")
        .text()
        .await
        .unwrap();
    let signed_up = ts
        .sign_up(
            "newcomer@example.org",
            "newcomer password",
            Some(code.trim()),
        )
        .await;
    assert_eq!(
        signed_up.status,
        reqwest::StatusCode::CREATED,
        "{}",
        signed_up.body
    );
    let newcomer = ts.token("newcomer@example.org", "newcomer password").await;
    let newcomer_id = ts.user_id(&newcomer).await;
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(&format!("#user-{newcomer_id}")))
        .await
        .expect("the newcomer's row, pushed");

    // Nothing on these pages broke the Content-Security-Policy; a deliberate violation (an
    // image from elsewhere) is reported, so the count above means something.
    let violations = || ts.state.metrics.csp_violations.get();
    assert_eq!(violations(), 0, "CSP violations while using the panel");
    client
        .execute(
            "const i = document.createElement('img'); i.src = 'http://203.0.113.1/x.png'; \
             document.body.appendChild(i); return true;",
            vec![],
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while violations() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        violations(),
        1,
        "the browser reports a violation to /admin/csp-report"
    );

    // A restart: the page's socket reconnects and the table keeps following.
    ts.restart().await;
    let mut back = ts.socket(&newcomer).await;
    wait_text(client, &format!("#user-{newcomer_id} .online-sockets"), "1").await;
    back.heartbeat().await.unwrap();
}

/// GraphiQL renders from the binary's own assets, in a browser that can reach nothing but
/// the server.
#[tokio::test]
async fn graphiql_works_without_the_internet() {
    let ts = TestServer::start().await;
    let browser = Browser::start().await;
    let client = &browser.client;
    client.goto(&format!("{}/graphql", ts.url)).await.unwrap();
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(".graphiql-container .graphiql-execute-button"))
        .await
        .expect("GraphiQL rendered its editor");
    let html = client.source().await.unwrap();
    assert!(
        !html.contains("unpkg.com") && !html.contains("cdn."),
        "{html}"
    );
}
