//! The `taina` binary itself: configuration errors, `config`, the user and session commands,
//! and `serve` with its signal handling. Runs on a fresh SQLite data directory per test.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_taina");

fn taina(data_dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TAINA_DATA_DIR", data_dir)
        .env("TAINA_LOG", "warn")
        .current_dir(data_dir);
    command
}

fn run(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn taina");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().expect("wait")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_exists_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["config", "--help"],
        vec!["user", "--help"],
        vec!["user", "create", "--help"],
        vec!["user", "list", "--help"],
        vec!["user", "set-role", "--help"],
        vec!["session", "revoke", "--help"],
    ] {
        let mut command = taina(dir.path());
        command.args(&args);
        let out = run(command, "");
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("Usage"), "{args:?}");
    }
}

#[test]
fn unknown_and_malformed_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = taina(dir.path());
    command.arg("config").env("TAINA_LISTN", "127.0.0.1:1");
    let out = run(command, "");
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("listn") && stderr.contains("TAINA_LISTN"),
        "{stderr}"
    );

    let mut command = taina(dir.path());
    command.arg("config").env("TAINA_LISTEN", "nowhere");
    let out = run(command, "");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("listen"),
        "{}",
        text(&out.stderr)
    );

    std::fs::write(
        dir.path().join("bad.toml"),
        "[auth]\ntoken_ttl_hours = \"soon\"\n",
    )
    .unwrap();
    let mut command = taina(dir.path());
    command.args(["--config", "bad.toml", "config"]);
    let out = run(command, "");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("auth.token_ttl_hours"),
        "{}",
        text(&out.stderr)
    );

    let mut command = taina(dir.path());
    command.args(["--config", "missing.toml", "config"]);
    let out = run(command, "");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("missing.toml"));
}

#[test]
fn config_prints_the_layers_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("taina.toml"),
        "listen = \"127.0.0.1:4100\"\n[auth]\ntoken_ttl_hours = 12\n",
    )
    .unwrap();
    let mut command = taina(dir.path());
    command
        .arg("config")
        .env("TAINA_LISTEN", "127.0.0.1:4200")
        .env(
            "TAINA_DATABASE_URL",
            "postgres://taina:hunter2@127.0.0.1:5432/taina",
        );
    let out = run(command, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(printed.contains("listen = \"127.0.0.1:4200\""), "{printed}"); // env beats file
    assert!(printed.contains("token_ttl_hours = 12"), "{printed}"); // file beats default
    assert!(printed.contains("postgres://taina:***@127.0.0.1:5432/taina"));
    assert!(!printed.contains("hunter2"));
}

#[test]
fn user_commands_create_list_and_change_roles() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = taina(dir.path());
    command.args([
        "user",
        "create",
        "--email",
        "Root@Example.org",
        "--role",
        "admin",
        "--community",
        "Aldeia",
    ]);
    let out = run(command, "a long password\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("root@example.org (admin)"));

    let mut command = taina(dir.path());
    command.args([
        "user",
        "create",
        "--email",
        "kid@example.org",
        "--role",
        "guest",
        "--community",
        "Aldeia",
    ]);
    assert!(run(command, "another password\n").status.success());

    let mut command = taina(dir.path());
    command.args([
        "user",
        "create",
        "--email",
        "weak@example.org",
        "--community",
        "Aldeia",
    ]);
    let out = run(command, "short\n");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("at least 8"),
        "{}",
        text(&out.stderr)
    );

    let mut command = taina(dir.path());
    command.args([
        "user",
        "create",
        "--email",
        "root@example.org",
        "--community",
        "Aldeia",
    ]);
    let out = run(command, "a long password\n");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("already exists"));

    let mut command = taina(dir.path());
    command.args([
        "user",
        "set-role",
        "--email",
        "kid@example.org",
        "--role",
        "member",
    ]);
    let out = run(command, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("kid@example.org is now member"));

    let mut command = taina(dir.path());
    command.args([
        "user",
        "set-role",
        "--email",
        "root@example.org",
        "--role",
        "member",
    ]);
    let out = run(command, "");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("at least one admin"));

    let mut command = taina(dir.path());
    command.args(["user", "list", "--community", "Aldeia"]);
    let out = run(command, "");
    assert!(out.status.success());
    let listing = text(&out.stdout);
    assert!(
        listing.contains("root@example.org") && listing.contains("admin"),
        "{listing}"
    );
    assert!(
        listing.contains("kid@example.org") && listing.contains("member"),
        "{listing}"
    );

    let mut command = taina(dir.path());
    command.args(["user", "list", "--community", "Nowhere"]);
    assert!(!run(command, "").status.success());
}

/// A `taina serve` child process on an ephemeral port.
struct Served {
    child: Child,
    url: String,
    logs: std::sync::mpsc::Receiver<String>,
}

// The child is waited for in `Served::terminate`, or killed and reaped by `Drop` when a test fails.
#[allow(clippy::zombie_processes)]
fn serve(dir: &Path, data: &Path) -> Served {
    let mut command = taina(dir);
    command
        .args(["--log-format", "json", "serve"])
        .env("TAINA_DATA_DIR", data)
        .env("TAINA_LISTEN", "127.0.0.1:0")
        .env("TAINA_LOG", "info")
        .env("TAINA_AUTH__SESSION_CACHE_SECONDS", "0");
    let mut child = command
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("server started");
        let entry: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("log line is not JSON: {line}"));
        if let Some(address) = entry["address"].as_str() {
            return Served {
                child,
                url: format!("http://{address}"),
                logs: rx,
            };
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Served {
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(50));
                let rest: Vec<String> = self.logs.try_iter().collect();
                assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_persists_its_secret_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = serve(dir.path(), &data);
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{}/healthz", served.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(format!("{}/readyz", served.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let signup = client
        .post(format!("{}/api/auth/signup", served.url))
        .json(&json!({ "email": "ana@example.org", "password": "ana password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 201);
    let signin: Value = client
        .post(format!("{}/api/auth/signin", served.url))
        .json(&json!({ "email": "ana@example.org", "password": "ana password" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signin["token"].as_str().unwrap().to_string();
    assert!(served.terminate().success());

    // The data directory holds the database, files/ and a private secret.
    assert!(data.join("taina.db").exists());
    assert!(data.join("files").is_dir());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("jwt.secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // After a restart the same secret is used: the token still works.
    let served = serve(dir.path(), &data);
    let me = client
        .get(format!("{}/api/auth/me", served.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    // `taina session revoke` from another process ends the session.
    let mut command = taina(dir.path());
    command
        .env("TAINA_DATA_DIR", &data)
        .args(["session", "revoke", "--user", "ana@example.org"]);
    let out = run(command, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("revoked 1 session"));
    let me = client
        .get(format!("{}/api/auth/me", served.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    assert!(served.terminate().success());
}

#[test]
fn migrate_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let mut command = taina(dir.path());
        command.arg("migrate");
        let out = run(command, "");
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("migrations applied (sqlite)"));
    }
}

/// Resident memory of a process, from `/proc/{pid}/status`.
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// Hardening: a 400 MiB `operations` part once took the server from 40 to 953 MiB. Now the
/// part is held to `http.json_body_limit_bytes`: 413 with resident memory nearly unchanged.
#[tokio::test(flavor = "multi_thread")]
async fn an_oversize_graphql_multipart_operations_part_is_413_without_growing_memory() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), &dir.path().join("data"));
    let client = reqwest::Client::new();
    let signup = client
        .post(format!("{}/api/auth/signup", served.url))
        .json(&json!({ "email": "a@example.org", "password": "a long password" }))
        .send()
        .await
        .unwrap();
    assert!(signup.status().is_success());
    let signin: Value = client
        .post(format!("{}/api/auth/signin", served.url))
        .json(&json!({ "email": "a@example.org", "password": "a long password" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signin["token"].as_str().unwrap();
    let before = resident_bytes(served.child.id());

    let address = served.url.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let boundary = "XmemoryX";
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\n\
         content-type: multipart/form-data; boundary={boundary}\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let opening =
        format!("--{boundary}\r\ncontent-disposition: form-data; name=\"operations\"\r\n\r\n{{\"query\": \"");
    let filler = vec![b' '; 1024 * 1024];
    let mut pieces = vec![opening.into_bytes()];
    pieces.extend(std::iter::repeat_n(filler, 50));
    for piece in pieces {
        let sent = async {
            stream
                .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                .await?;
            stream.write_all(&piece).await?;
            stream.write_all(b"\r\n").await
        };
        if sent.await.is_err() {
            break; // the server answered and closed: the rest is never read
        }
    }
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    let after = resident_bytes(served.child.id());
    let grown = after.saturating_sub(before);
    assert!(
        grown < 10 * 1024 * 1024,
        "resident memory grew by {grown} bytes ({before} → {after})"
    );
    assert!(served.terminate().success());
}
