//! Running the `taina` binary in tests: a command on a data directory, one-shot runs,
//! `taina serve` as a child process on an ephemeral port, and calls to its API.
#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_taina");

pub fn taina(data_dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TAINA_DATA_DIR", data_dir)
        .env("TAINA_LOG", "warn")
        .current_dir(data_dir);
    command
}

pub fn run(mut command: Command, stdin: &str) -> Output {
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

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A `taina serve` child process on an ephemeral port.
pub struct Served {
    pub child: Child,
    pub url: String,
    pub logs: std::sync::mpsc::Receiver<String>,
}

// The child is waited for in `Served::terminate`, or killed and reaped by `Drop` when a test fails.
#[allow(clippy::zombie_processes)]
pub fn serve(dir: &Path, data: &Path) -> Served {
    serve_on(dir, data, "127.0.0.1:0")
}

// As `serve`.
#[allow(clippy::zombie_processes)]
pub fn serve_on(dir: &Path, data: &Path, listen: &str) -> Served {
    serve_with(dir, data, listen, &[])
}

/// As `serve_on`, with more environment (`TAINA_DATABASE_URL`, say).
#[allow(clippy::zombie_processes)]
pub fn serve_with(dir: &Path, data: &Path, listen: &str, env: &[(&str, &str)]) -> Served {
    let mut command = taina(dir);
    command
        .args(["--log-format", "json", "serve"])
        .env("TAINA_DATA_DIR", data)
        .env("TAINA_LISTEN", listen)
        .env("TAINA_LOG", "info")
        .env("TAINA_AUTH__SESSION_CACHE_SECONDS", "0")
        .envs(env.iter().copied());
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
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Everything the process wrote: the reader thread ends at end of file. (A
                // fixed pause here lost the last lines on a loaded machine.)
                let mut rest = Vec::new();
                while let Ok(line) = self.logs.recv_timeout(Duration::from_secs(10)) {
                    rest.push(line);
                }
                assert!(
                    rest.iter().any(|l| l.contains("stopped")),
                    "exit {status:?} without the `stopped` line; the last lines: {rest:?}"
                );
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `program` is on the PATH.
pub fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Waits (20 s at most) until something listens on the loopback `port`; fails early when
/// `child` (the process meant to listen) has exited.
pub fn wait_for_port(port: u16, what: &str, mut child: Option<&mut Child>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(Ok(Some(status))) = child.as_mut().map(|c| c.try_wait()) {
            panic!("{what} exited: {status}");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Calls the API and returns the JSON answer (`null` for none); any status but 2xx fails the
/// test with the body.
pub async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> Value {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// `POST {url}{path}` through [`call`].
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> Value {
    let url = format!("{url}{path}");
    call(client, reqwest::Method::POST, url, token, Some(body)).await
}

/// Signs in and returns the session's token.
pub async fn token(client: &reqwest::Client, url: &str, (email, password): (&str, &str)) -> String {
    let body = serde_json::json!({ "email": email, "password": password });
    let signed_in = post(client, url, "/api/auth/signin", None, body).await;
    signed_in["token"].as_str().unwrap().to_owned()
}
