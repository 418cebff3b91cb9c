//! The admin panel (Nhaman) and `/metrics`: refusals and headers over plain HTTP, the live
//! panel in a real headless Chromium, and the Prometheus text parsed by a parser.

mod accounts;
mod browser;
mod karai;
mod metrics;
mod refusals;

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Client, Response};
use taina_tests::TestServer;

/// A client that does not follow redirects (the panel answers with 303s and cookies).
fn no_redirects() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `application/x-www-form-urlencoded` of `pairs`.
fn form(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                other => format!("%{other:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `name=value` of every cookie a response sets.
fn cookies(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_owned)
        .collect()
}

/// The value of the first `name="csrf_token" value="…"` in a page.
fn csrf_in(html: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("a csrf field in {html}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// Signs in through the panel's form; returns the session cookie (`name=value`) and the
/// response.
async fn panel_sign_in(ts: &TestServer, email: &str, password: &str) -> (Option<String>, Response) {
    let client = no_redirects();
    let page = client
        .get(format!("{}/admin/signin", ts.url))
        .send()
        .await
        .unwrap();
    let nonce_cookie = cookies(&page)
        .into_iter()
        .next()
        .expect("a sign-in nonce cookie");
    let csrf = csrf_in(&page.text().await.unwrap());
    let response = client
        .post(format!("{}/admin/signin", ts.url))
        .header(COOKIE, nonce_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("csrf_token", &csrf),
            ("email", email),
            ("password", password),
        ]))
        .send()
        .await
        .unwrap();
    let session = cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("taina_admin=") && c.len() > "taina_admin=".len());
    (session, response)
}
