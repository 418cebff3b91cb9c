//! The reverse-proxy snippets of docs/deploy.md, run as written (only the names, ports and
//! certificate paths replaced) with Debian's nginx and Caddy in front of `taina serve` with
//! `http.trusted_proxies`: plain requests, a Phoenix WebSocket (upgrade, frames both ways),
//! a body over 1 MiB passed on to Tainá (which answers in its own JSON), and bans that fall
//! on the client behind the proxy — not on the proxy, and not on an address the client
//! claims in its own `X-Forwarded-For`.
//!
//! Clients connect from other loopback addresses (127.0.0.2 …) than the proxies use to reach
//! Tainá (127.0.0.1), so "the client" and "the proxy" differ as they would on a network.
//!
//! Skipped when nginx or caddy is not installed, unless `TEST_REQUIRE_PROXIES` is set (as
//! `scripts/test` does after installing them).

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use support::{free_port, installed, serve_on, wait_for_port};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

const DEPLOY_MD: &str = include_str!("../../docs/deploy.md");
const PASSWORD: &str = "a long password for proxy tests";

/// The fenced block that follows the first line starting with `heading` in docs/deploy.md.
fn snippet(heading: &str) -> String {
    let start = DEPLOY_MD
        .lines()
        .position(|line| line.starts_with(heading))
        .unwrap_or_else(|| panic!("docs/deploy.md has no line starting with {heading:?}"));
    let mut lines = DEPLOY_MD.lines().skip(start + 1);
    lines
        .by_ref()
        .find(|line| line.starts_with("```"))
        .expect("a fenced block");
    let body: Vec<&str> = lines.take_while(|line| !line.starts_with("```")).collect();
    body.join("\n") + "\n"
}

/// Replaces `from` with `to`, which must occur: a snippet that changes shape fails here
/// instead of being tested half.
fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the snippet no longer has {from:?}:\n{text}"
    );
    text.replace(from, to)
}

/// Stops a proxy however the test ends: SIGTERM first, so nginx's master takes its workers
/// along (SIGKILL would leave them running).
struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How to reach a proxy: its port, and TLS (trusting `root`) or plain HTTP.
#[derive(Clone)]
struct Front {
    port: u16,
    tls: Option<TlsConnector>,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

impl Front {
    /// A connection to the proxy from the loopback address `from`.
    async fn connect(&self, from: Ipv4Addr) -> Box<dyn Stream> {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(IpAddr::V4(from), 0)).unwrap();
        let tcp: TcpStream = socket
            .connect(SocketAddr::from(([127, 0, 0, 1], self.port)))
            .await
            .unwrap();
        match &self.tls {
            None => Box::new(tcp),
            Some(connector) => Box::new(
                connector
                    .connect(ServerName::try_from("localhost").unwrap(), tcp)
                    .await
                    .unwrap(),
            ),
        }
    }

    /// One request from `from`; status and body.
    async fn request(
        &self,
        from: Ipv4Addr,
        method: &str,
        path: &str,
        extra_headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        let mut stream = self.connect(from).await;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
             content-length: {}\r\n",
            body.len()
        );
        for (name, value) in extra_headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        // A proxy may answer before the whole body is sent; what it answered is what counts.
        let _ = stream.write_all(body).await;
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply).await;
        let reply = String::from_utf8_lossy(&reply).into_owned();
        let status = reply
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in {reply:?}"));
        let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (status, body.to_string())
    }

    async fn json(&self, from: Ipv4Addr, path: &str, body: &Value) -> (u16, Value) {
        let (status, text) = self
            .request(
                from,
                "POST",
                path,
                &[("content-type", "application/json")],
                body.to_string().as_bytes(),
            )
            .await;
        // A chunked reply: the JSON is between the size lines.
        let start = text.find('{').unwrap_or(0);
        let end = text.rfind('}').map_or(text.len(), |e| e + 1);
        (
            status,
            serde_json::from_str(&text[start..end]).unwrap_or(Value::String(text)),
        )
    }
}

/// What every proxy must do, checked from the client addresses `client`, `bystander` and
/// `offender` (distinct per proxy, since bans last). The first proxy checked signs the
/// community's first person up; the next ones sign them in.
async fn check_front(
    front: &Front,
    name: &str,
    [client, bystander, offender]: [Ipv4Addr; 3],
    sign_up: bool,
) {
    let (status, body) = front.request(client, "GET", "/healthz", &[], b"").await;
    assert_eq!(status, 200, "{name}: /healthz: {body}");

    // Sign up and in through the proxy, then a Phoenix socket: upgrade, join, heartbeat.
    let email = "admin@aldeia.example";
    if sign_up {
        let (status, up) = front
            .json(
                client,
                "/api/auth/signup",
                &json!({"email": email, "password": PASSWORD, "community_name": "Aldeia"}),
            )
            .await;
        assert_eq!(status, 201, "{name}: sign-up: {up}");
    }
    let (status, session) = front
        .json(
            client,
            "/api/auth/signin",
            &json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{name}: sign-in: {session}");
    let token = session["token"].as_str().unwrap();
    let user = session["user"]["id"].as_str().unwrap();
    let stream = front.connect(client).await;
    let url = format!("ws://localhost/socket/websocket?vsn=2.0.0&token={token}");
    let (mut socket, response) = tokio_tungstenite::client_async(url, stream)
        .await
        .unwrap_or_else(|e| panic!("{name}: WebSocket upgrade through the proxy: {e}"));
    assert_eq!(response.status(), 101);
    let frames = [
        json!(["1", "1", format!("user:{user}"), "phx_join", {}]),
        json!([null, "2", "phoenix", "heartbeat", {}]),
    ];
    for frame in frames {
        socket.send(Message::text(frame.to_string())).await.unwrap();
    }
    let mut replies = Vec::new();
    while replies.len() < 2 {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .unwrap_or_else(|_| panic!("{name}: no reply over the socket; got {replies:?}"))
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame[3] == "phx_reply" {
                replies.push(frame);
            }
        }
    }
    for reply in &replies {
        assert_eq!(reply[4]["status"], "ok", "{name}: {reply}");
    }
    socket.close(None).await.unwrap();

    // A body over a proxy's usual 1 MiB limit reaches Tainá, which reads it whole (its limit
    // is raised for this test) and gives its own answer, not the proxy's page.
    let big = vec![b'x'; 3 * 1024 * 1024];
    let (status, body) = front
        .request(
            client,
            "POST",
            "/api/auth/signin",
            &[("content-type", "application/json")],
            &big,
        )
        .await;
    assert_eq!(status, 400, "{name}: {body}");
    assert!(
        body.contains("\"error\""),
        "{name}: Tainá's JSON, not the proxy's page: {body}"
    );

    // Failed sign-ins ban the client behind the proxy, whatever it claims to be.
    let spoofed = [("x-forwarded-for", "198.51.100.7")];
    for _ in 0..5 {
        let (status, _) = front
            .request(
                offender,
                "POST",
                "/api/auth/signin",
                &[("content-type", "application/json"), spoofed[0]],
                json!({"email": format!("intruder-{name}@aldeia.example"), "password": "guess"})
                    .to_string()
                    .as_bytes(),
            )
            .await;
        assert_eq!(status, 401, "{name}: a failed sign-in");
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = front
            .request(offender, "GET", "/healthz", &spoofed, b"")
            .await;
        if status == 403 {
            assert!(body.contains("banned"), "{name}: {body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {offender} not banned: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Neither the proxy nor anyone else behind it is banned.
    for from in [client, bystander] {
        let (status, body) = front.request(from, "GET", "/healthz", &[], b"").await;
        assert_eq!(status, 200, "{name}: {from} after the ban: {body}");
    }
}

fn nginx(dir: &Path, taina: &str, cert: &Path, key: &Path) -> (Proxy, u16) {
    let port = free_port();
    let site = snippet("nginx (`/etc/nginx/sites-available/taina`)");
    let site = replace(
        &site,
        "listen 443 ssl;",
        &format!("listen 127.0.0.1:{port} ssl;"),
    );
    let site = replace(
        &site,
        "server_name aldeia.example.org;",
        "server_name localhost;",
    );
    let site = replace(
        &site,
        "/etc/letsencrypt/live/aldeia.example.org/fullchain.pem",
        &cert.display().to_string(),
    );
    let site = replace(
        &site,
        "/etc/letsencrypt/live/aldeia.example.org/privkey.pem",
        &key.display().to_string(),
    );
    let site = replace(
        &site,
        "proxy_pass http://127.0.0.1:4000;",
        &format!("proxy_pass http://{taina};"),
    );
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    let temp = |name: &str| prefix.join(name).display().to_string();
    // Debian's nginx.conf around the site: only what a test needs, nothing the site
    // depends on (the site must work as documented).
    let user = if unsafe { libc::geteuid() } == 0 {
        // Workers would run as nobody, who cannot enter the test's private directory.
        "user root;\n"
    } else {
        ""
    };
    let conf = format!(
        "{user}worker_processes 1;\nerror_log {error} warn;\npid {pid};\nevents {{}}\n\
         http {{\n access_log off;\n client_body_temp_path {body};\n proxy_temp_path {proxy};\n\
         fastcgi_temp_path {fastcgi};\n uwsgi_temp_path {uwsgi};\n scgi_temp_path {scgi};\n\
         {site}}}\n",
        error = temp("logs/error.log"),
        pid = temp("nginx.pid"),
        body = temp("body"),
        proxy = temp("proxy"),
        fastcgi = temp("fastcgi"),
        uwsgi = temp("uwsgi"),
        scgi = temp("scgi"),
    );
    std::fs::write(prefix.join("nginx.conf"), conf).unwrap();
    let mut child = Command::new("nginx")
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(prefix.join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx");
    wait_for_port(port, "nginx", Some(&mut child));
    (Proxy(child), port)
}

fn caddy(dir: &Path, taina: &str) -> (Proxy, u16) {
    let port = free_port();
    let site = snippet("Caddy (`/etc/caddy/Caddyfile`");
    // Plain HTTP on a test port: Caddy's own certificate handling is Caddy's business; what
    // is tested is what the snippet asks of the proxy.
    let site = replace(&site, "aldeia.example.org {", &format!("http://:{port} {{"));
    let site = replace(
        &site,
        "reverse_proxy 127.0.0.1:4000",
        &format!("reverse_proxy {taina}"),
    );
    let home = dir.join("caddy");
    std::fs::create_dir_all(&home).unwrap();
    let file = home.join("Caddyfile");
    std::fs::write(&file, format!("{{\n\tadmin off\n}}\n\n{site}")).unwrap();
    let mut child = Command::new("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&file)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", &home)
        .env("XDG_DATA_HOME", &home)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("caddy");
    wait_for_port(port, "caddy", Some(&mut child));
    (Proxy(child), port)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_documented_nginx_and_caddy_snippets_proxy_sockets_bodies_and_client_addresses() {
    if !installed("nginx") || !installed("caddy") {
        assert!(
            std::env::var_os("TEST_REQUIRE_PROXIES").is_none(),
            "TEST_REQUIRE_PROXIES is set but nginx or caddy is not installed"
        );
        eprintln!("skipped: nginx or caddy is not installed (scripts/test installs them)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // As docs/deploy.md says; loopback is not exempt from bans here, or nothing could be.
    std::fs::write(
        dir.path().join("taina.toml"),
        "[http]\ntrusted_proxies = [\"127.0.0.1/32\", \"::1/128\"]\n\
         json_body_limit_bytes = 8388608\n\n\
         [monitoring]\nban_ignore = []\n",
    )
    .unwrap();
    let served = serve_on(dir.path(), &data, "127.0.0.1:0");
    let taina = served.url.trim_start_matches("http://").to_string();

    let issued = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("proxy.pem"), dir.path().join("proxy.key"));
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(issued.cert.der().to_vec()))
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let trusting = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();

    let (_nginx, nginx_port) = nginx(dir.path(), &taina, &cert, &key);
    let front = Front {
        port: nginx_port,
        tls: Some(TlsConnector::from(Arc::new(trusting))),
    };
    let at = |last: u8| Ipv4Addr::new(127, 0, 0, last);
    check_front(&front, "nginx", [at(2), at(3), at(4)], true).await;

    let (_caddy, caddy_port) = caddy(dir.path(), &taina);
    let front = Front {
        port: caddy_port,
        tls: None,
    };
    check_front(&front, "caddy", [at(5), at(6), at(7)], false).await;
    assert!(served.terminate().success());
}
