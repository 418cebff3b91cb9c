//! Certificates by ACME against Pebble, Let's Encrypt's test CA (Debian package `pebble`),
//! with its DNS (`pebble-challtestsrv`) answering 127.0.0.1 for every name: `taina serve`
//! with `tls.acme_domains` registers an account, answers the TLS-ALPN-01 check on its own
//! listener, serves the issued chain, keeps it in `data_dir/acme/`, and serves it again
//! after a restart while the CA is gone.
//!
//! Skipped when `pebble` is not installed, unless `TEST_REQUIRE_PEBBLE` is set (as
//! `scripts/test` does after installing it).

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use support::{free_port, installed, serve_on, wait_for_port, Served};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

const DOMAIN: &str = "home.taina.test";

/// Kills the CA's processes however the test ends.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A CA for Pebble's own HTTPS (the test's, written as `ca.pem`) and a certificate for
/// 127.0.0.1 signed by it.
fn pebble_https_certificate(dir: &Path) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "taina test: Pebble's HTTPS");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let leaf =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()]).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("pebble.pem"), leaf_cert.pem()).unwrap();
    std::fs::write(dir.join("pebble.key"), leaf_key.serialize_pem()).unwrap();
}

fn connector(roots: &[CertificateDer<'static>]) -> TlsConnector {
    let mut store = RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// `GET path` over TLS to `port` as `name`; the whole reply, or the handshake's error.
async fn get(
    connector: &TlsConnector,
    port: u16,
    name: &str,
    path: &str,
) -> std::io::Result<String> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    let mut stream = connector.connect(server_name, tcp).await?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: {name}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut reply = Vec::new();
    // Go's server closes without close_notify: what arrived is the reply.
    let _ = stream.read_to_end(&mut reply).await;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// Pebble's issuing root, from its management API.
async fn pebble_root(ca: &[CertificateDer<'static>], management: u16) -> CertificateDer<'static> {
    let reply = get(&connector(ca), management, "127.0.0.1", "/roots/0")
        .await
        .unwrap();
    let begin = reply.find("-----BEGIN CERTIFICATE-----").expect(&reply);
    CertificateDer::from_pem_slice(&reply.as_bytes()[begin..]).unwrap()
}

/// Waits until the server presents a chain `trusting` accepts for DOMAIN; its `/healthz`.
async fn wait_for_certificate(served: &Served, port: u16, trusting: &TlsConnector) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        while let Ok(line) = served.logs.try_recv() {
            assert!(
                !line.contains("no certificate from ACME"),
                "ACME failed: {line}"
            );
        }
        match get(trusting, port, DOMAIN, "/healthz").await {
            Ok(reply) => return reply,
            Err(e) => assert!(
                Instant::now() < deadline,
                "no trusted certificate after 90 s: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_is_ordered_from_pebble_served_kept_and_served_again_without_the_ca() {
    if !installed("pebble") || !installed("pebble-challtestsrv") {
        assert!(
            std::env::var_os("TEST_REQUIRE_PEBBLE").is_none(),
            "TEST_REQUIRE_PEBBLE is set but pebble is not installed"
        );
        eprintln!("skipped: pebble is not installed (scripts/test installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    pebble_https_certificate(dir.path());
    let (directory, management, dns, http01) = (free_port(), free_port(), free_port(), free_port());
    // The CA checks TLS-ALPN-01 on this port: the one taina will listen on.
    let taina_port = free_port();
    let challtestsrv_management = free_port();
    let mut processes = Processes(Vec::new());
    processes.0.push(
        Command::new("pebble-challtestsrv")
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args([
                "-management",
                &format!("127.0.0.1:{challtestsrv_management}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble-challtestsrv"),
    );
    let config = serde_json::json!({
        "pebble": {
            "listenAddress": format!("127.0.0.1:{directory}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": dir.path().join("pebble.pem"),
            "privateKey": dir.path().join("pebble.key"),
            "httpPort": http01,
            "tlsPort": taina_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false
        }
    });
    std::fs::write(dir.path().join("pebble.json"), config.to_string()).unwrap();
    processes.0.push(
        Command::new("pebble")
            .arg("-config")
            .arg(dir.path().join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            // No pauses before checks, and no nonces refused at random: the test is about
            // taina, not about instant-acme's retries.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble"),
    );
    // Its DNS answers on TCP as on UDP once it is up.
    wait_for_port(challtestsrv_management, "pebble-challtestsrv", None);
    wait_for_port(dns, "pebble-challtestsrv's DNS", None);
    wait_for_port(directory, "pebble", None);
    wait_for_port(management, "pebble's management API", None);

    std::fs::write(
        dir.path().join("taina.toml"),
        format!(
            "[tls]\nacme_domains = [\"{DOMAIN}\"]\nacme_email = \"admin@example.org\"\n\
             acme_directory = \"https://127.0.0.1:{directory}/dir\"\n\
             acme_directory_ca = \"{}\"\n",
            dir.path().join("ca.pem").display()
        ),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{taina_port}");
    let served = serve_on(dir.path(), &data, &listen);

    let ca = vec![CertificateDer::from_pem_file(dir.path().join("ca.pem")).unwrap()];
    let root = pebble_root(&ca, management).await;
    let trusting = connector(std::slice::from_ref(&root));
    let health = wait_for_certificate(&served, taina_port, &trusting).await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    // Someone who trusts only the system's roots (or another CA) is refused.
    assert!(get(&connector(&ca), taina_port, DOMAIN, "/healthz")
        .await
        .is_err());

    // Kept owner-only under the data directory.
    let acme = data.join("acme");
    for file in [
        "account.json",
        "certificate.pem",
        "certificate.key",
        "certificate.json",
    ] {
        let meta = std::fs::metadata(acme.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o077, 0, "{file} is private");
    }
    let saved = std::fs::read(acme.join("certificate.pem")).unwrap();
    assert!(served.terminate().success());

    // The CA goes away; a restart serves the saved chain at once and orders nothing.
    drop(processes);
    let served = serve_on(dir.path(), &data, &listen);
    let health = wait_for_certificate(&served, taina_port, &trusting).await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert_eq!(std::fs::read(acme.join("certificate.pem")).unwrap(), saved);
    assert!(served.terminate().success());
}
