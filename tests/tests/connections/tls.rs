//! TLS on the listener: a self-signed certificate (made here with rcgen) served to a client
//! that trusts it, HTTPS and WSS on the same port, the certificate replaced on disk while a
//! WSS socket stays open, and a client that does not trust it refused.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use taina_tests::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

/// A certificate for `localhost`, written as `cert.pem` and `key.pem` in `dir`; its DER.
fn issue(dir: &std::path::Path) -> CertificateDer<'static> {
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(dir.join("cert.pem"), issued.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), issued.signing_key.serialize_pem()).unwrap();
    issued.cert.der().clone()
}

fn trusting(certificates: &[&CertificateDer<'static>]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for certificate in certificates {
        roots.add((*certificate).clone()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn connect(
    server: &TestServer,
    connector: &TlsConnector,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let address = server.url.trim_start_matches("http://");
    let tcp = TcpStream::connect(address).await?;
    let name = ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await
}

/// One HTTP/1.1 request over a fresh TLS connection; the whole reply.
async fn https(
    server: &TestServer,
    connector: &TlsConnector,
    method: &str,
    path: &str,
    body: &str,
) -> String {
    let mut stream = connect(server, connector).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    reply
}

/// The certificate the server presented on a fresh connection.
async fn presented(server: &TestServer, connector: &TlsConnector) -> Option<Vec<u8>> {
    let stream = connect(server, connector).await.ok()?;
    let (_, session) = stream.get_ref();
    Some(session.peer_certificates()?[0].as_ref().to_vec())
}

#[tokio::test]
async fn https_and_wss_on_one_port_with_the_certificate_replaced_under_an_open_socket() {
    let certs = tempfile::tempdir().unwrap();
    let first = issue(certs.path());
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let server = TestServer::builder()
        .with_config(move |c| {
            c.tls.cert = Some(cert);
            c.tls.key = Some(key);
            c.tls.reload_check_seconds = 1;
        })
        .start()
        .await;
    let trusts_first = trusting(&[&first]);

    // HTTPS; plain HTTP on the same port gets no answer.
    let reply = https(&server, &trusts_first, "GET", "/healthz", "").await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"ok\""), "{reply}");
    assert!(reqwest::get(format!("{}/healthz", server.url))
        .await
        .is_err());
    let signup =
        r#"{"email":"admin@example.org","password":"admin password","community_name":"Aldeia"}"#;
    let reply = https(&server, &trusts_first, "POST", "/api/auth/signup", signup).await;
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    let signin = r#"{"email":"admin@example.org","password":"admin password"}"#;
    let reply = https(&server, &trusts_first, "POST", "/api/auth/signin", signin).await;
    let body: serde_json::Value =
        serde_json::from_str(reply.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let token = body["token"].as_str().expect("a token").to_owned();

    // WSS: a Phoenix socket answering heartbeats.
    let stream = connect(&server, &trusts_first).await.unwrap();
    let url = format!("wss://localhost/socket/websocket?vsn=2.0.0&token={token}");
    let (mut socket, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    let heartbeat = |reference: &str| {
        Message::text(format!(
            r#"[null,"{reference}","phoenix","heartbeat",{{}}]"#
        ))
    };
    socket.send(heartbeat("1")).await.unwrap();
    let answer = socket.next().await.unwrap().unwrap().into_text().unwrap();
    assert!(answer.contains(r#""1","phoenix","phx_reply""#), "{answer}");

    // A client that does not trust the certificate gets no session.
    let stranger = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    assert!(connect(&server, &trusting(&[stranger.cert.der()]))
        .await
        .is_err());

    // A new certificate on disk: new handshakes get it within the check interval...
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = issue(certs.path());
    let trusts_both = trusting(&[&first, &second]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while presented(&server, &trusts_both).await.as_deref() != Some(second.as_ref()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // ...and the socket opened under the old one goes on.
    socket.send(heartbeat("2")).await.unwrap();
    let answer = socket.next().await.unwrap().unwrap().into_text().unwrap();
    assert!(answer.contains(r#""2","phoenix","phx_reply""#), "{answer}");
}
