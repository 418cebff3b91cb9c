//! The SMTP sink the mail tests read: aiosmtpd started by `scripts/test` (`TEST_SMTP_URL`),
//! writing each message it receives into a Maildir (`TEST_MAILDIR`). Tests share the sink, so
//! each uses addresses of its own ([`address`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;

use crate::TestServer;

/// The sink's URL and Maildir, or `None` (skipped).
pub fn sink() -> Option<(String, PathBuf)> {
    let url = std::env::var("TEST_SMTP_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let dir = std::env::var("TEST_MAILDIR").ok().filter(|d| !d.is_empty());
    match (url, dir) {
        (Some(url), Some(dir)) => Some((url, PathBuf::from(dir))),
        _ => {
            assert!(
                std::env::var("TEST_REQUIRE_SMTP").is_err(),
                "TEST_REQUIRE_SMTP is set but TEST_SMTP_URL or TEST_MAILDIR is not"
            );
            eprintln!("no TEST_SMTP_URL and TEST_MAILDIR: skipped");
            None
        }
    }
}

/// A server that mails through the sink.
pub async fn mailing_server(
    url: &str,
    tweak: impl FnOnce(&mut taina::Config) + Send + 'static,
) -> TestServer {
    let url = url.to_string();
    TestServer::builder()
        .with_config(move |c| {
            c.mail.smtp_url = Some(url);
            c.mail.from = "Taina tests <noreply@example.org>".into();
            c.mail.link_base_url = Some("https://home.example.org".into());
            tweak(c);
        })
        .start()
        .await
}

/// An address no other test uses (they share the sink).
pub fn address(what: &str) -> String {
    let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyz0123456789".chars().collect();
    format!("{what}-{}@example.org", nanoid::nanoid!(10, &alphabet))
}

/// One delivered message: its headers and its decoded text.
pub struct Delivered {
    pub headers: String,
    pub text: String,
}

/// Every message in the Maildir addressed to `to` whose text contains `containing`.
pub fn delivered_to(maildir: &Path, to: &str, containing: &str) -> Vec<Delivered> {
    let mut found = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(raw) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let raw = raw.replace("\r\n", "\n");
            let (headers, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
            let addressed = headers
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("to:") && l.contains(to));
            if !addressed {
                continue;
            }
            let encoding = headers.to_ascii_lowercase();
            let text = if encoding.contains("content-transfer-encoding: quoted-printable") {
                quoted_printable(body)
            } else if encoding.contains("content-transfer-encoding: base64") {
                let compact: String = body.split_whitespace().collect();
                String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(compact)
                        .unwrap(),
                )
                .unwrap()
            } else {
                body.to_string()
            };
            if text.contains(containing) {
                found.push(Delivered {
                    headers: headers.to_string(),
                    text,
                });
            }
        }
    }
    found
}

fn quoted_printable(body: &str) -> String {
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Waits (up to 15 s) for `count` messages to `to` containing `containing`.
pub async fn wait_for_mail(
    maildir: &Path,
    to: &str,
    containing: &str,
    count: usize,
) -> Vec<Delivered> {
    for _ in 0..150 {
        let found = delivered_to(maildir, to, containing);
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no mail to {to} arrived in 15 s");
}

/// The token of the link under `path` (`/admin/reset/`) in a letter.
pub fn token_after(text: &str, path: &str) -> String {
    let start = text
        .find(&format!("https://home.example.org{path}"))
        .unwrap_or_else(|| panic!("no {path} link in {text}"))
        + "https://home.example.org".len()
        + path.len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .collect()
}
