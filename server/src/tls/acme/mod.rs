//! Certificates by ACME (RFC 8555) for `tls.acme_domains`, proved by TLS-ALPN-01 (RFC 8737)
//! on the HTTPS listener itself, so no port 80 and no web root are needed.
//!
//! At start the certificate saved under `data_dir/acme/` goes straight into the slot; a task
//! then orders a new one when none is saved or a third of its lifetime is left, and sleeps
//! until then. While an order waits, the slot answers the CA's `acme-tls/1` handshakes with
//! the validation certificate. A failed order is logged and tried again after 1 minute,
//! doubling up to an hour (Let's Encrypt allows 5 failed validations per name per hour).
//!
//! - [`store`]: the account and certificate files.
//! - [`order`]: one order, start to finish.
//! - [`challenge`]: the validation certificate.
//! - [`lifetime`]: when a certificate is due.

mod challenge;
mod lifetime;
mod order;
mod store;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use instant_acme::{Account, BodyWrapper, NewAccount};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio_rustls::rustls;

use super::certificate::pair_from_pem;
use super::CertificateSlot;
use crate::config::TlsConfig;
use store::{AcmeStore, Issued};

const FIRST_RETRY: Duration = Duration::from_secs(60);
const LAST_RETRY: Duration = Duration::from_secs(3600);
/// Sleeps until renewal are cut into pieces this long, so a suspended or re-clocked machine
/// notices a due date soon after it passes.
const LONGEST_SLEEP: Duration = Duration::from_secs(6 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("ACME: {0}")]
    Acme(#[from] instant_acme::Error),
    #[error("the CA refused: {0}")]
    Refused(String),
    #[error("cannot make the validation certificate: {0}")]
    Certificate(String),
    #[error("tls.acme_directory_ca {path}: {why}")]
    DirectoryCa { path: String, why: String },
    #[error("cannot write under {path}: {source}")]
    Store {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the CA's certificate does not load: {0}")]
    Issued(String),
}

type Http = HyperClient<HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>;

/// Obtains and renews the certificate for `tls.acme_domains` into the slot.
pub struct Acme {
    domains: Vec<String>,
    email: Option<String>,
    directory: String,
    http: Http,
    store: AcmeStore,
    slot: Arc<CertificateSlot>,
}

impl Acme {
    /// Fails only when `tls.acme_directory_ca` does not load: the CA itself is first asked
    /// by [`Acme::spawn`]'s task.
    pub fn new(
        config: &TlsConfig,
        data_dir: &Path,
        slot: Arc<CertificateSlot>,
    ) -> Result<Self, AcmeError> {
        Ok(Acme {
            domains: config.acme_domains.clone(),
            email: config.acme_email.clone(),
            directory: config.acme_directory.clone(),
            http: http_client(config.acme_directory_ca.as_deref())?,
            store: AcmeStore::new(data_dir),
            slot,
        })
    }

    /// Serves the saved certificate, if there is one for these names; when it is due.
    pub fn install_saved(&self) -> Option<SystemTime> {
        let issued = self.store.certificate(&self.directory, &self.domains)?;
        match self.install(&issued) {
            Ok(due) => Some(due),
            Err(e) => {
                tracing::warn!(error = %e, dir = %self.store.dir().display(), "saved ACME certificate not used; ordering a new one");
                None
            }
        }
    }

    /// Orders a certificate whenever the one in use is due, for as long as the server runs.
    pub fn spawn(self, mut due: Option<SystemTime>) {
        tokio::spawn(async move {
            let mut retry = FIRST_RETRY;
            loop {
                if let Some(due) = due {
                    let wait = due
                        .duration_since(SystemTime::now())
                        .unwrap_or(Duration::ZERO);
                    if !wait.is_zero() {
                        tokio::time::sleep(wait.min(LONGEST_SLEEP)).await;
                        continue;
                    }
                }
                tracing::info!(domains = ?self.domains, directory = %self.directory, "ordering a certificate by ACME");
                match self.renew().await {
                    Ok(next) => {
                        let renewal = chrono::DateTime::<chrono::Utc>::from(next);
                        tracing::info!(domains = ?self.domains, %renewal, "ACME certificate in use");
                        due = Some(next);
                        retry = FIRST_RETRY;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, domains = ?self.domains, retry_in_seconds = retry.as_secs(), "no certificate from ACME");
                        tokio::time::sleep(retry).await;
                        retry = (retry * 2).min(LAST_RETRY);
                    }
                }
            }
        });
    }

    async fn renew(&self) -> Result<SystemTime, AcmeError> {
        let account = self.account().await?;
        let issued = order::order(&account, &self.domains, &self.slot).await?;
        // Checked before it is saved: a chain that does not load is never kept.
        let due = self.install(&issued)?;
        self.store
            .save_certificate(&self.directory, &self.domains, &issued)
            .map_err(|source| self.store_error(source))?;
        Ok(due)
    }

    fn install(&self, issued: &Issued) -> Result<SystemTime, AcmeError> {
        let due = lifetime::renew_at(&issued.chain).map_err(AcmeError::Issued)?;
        let pair = pair_from_pem(issued.chain.as_bytes(), issued.key.as_bytes())
            .map_err(|problem| AcmeError::Issued(format!("{problem:?}")))?;
        self.slot.set(Arc::new(pair));
        Ok(due)
    }

    /// The account saved for this directory, or a new one (saved before it is used).
    async fn account(&self) -> Result<Account, AcmeError> {
        let builder = Account::builder_with_http(Box::new(self.http.clone()));
        if let Some(credentials) = self.store.account(&self.directory) {
            return Ok(builder.from_credentials(credentials).await?);
        }
        let contact = self.email.as_ref().map(|email| format!("mailto:{email}"));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let (account, credentials) = builder
            .create(
                &NewAccount {
                    contact: &contacts,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                self.directory.clone(),
                None,
            )
            .await?;
        self.store
            .save_account(&self.directory, credentials)
            .map_err(|source| self.store_error(source))?;
        tracing::info!(directory = %self.directory, "ACME account registered");
        Ok(account)
    }

    fn store_error(&self, source: std::io::Error) -> AcmeError {
        AcmeError::Store {
            path: self.store.dir().display().to_string(),
            source,
        }
    }
}

/// HTTPS to the directory: the system's trust store, or `tls.acme_directory_ca` alone.
fn http_client(directory_ca: Option<&Path>) -> Result<Http, AcmeError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match directory_ca {
        Some(path) => {
            let bad = |why: String| AcmeError::DirectoryCa {
                path: path.display().to_string(),
                why,
            };
            let mut roots = rustls::RootCertStore::empty();
            for certificate in
                CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))?
            {
                roots
                    .add(certificate.map_err(|e| bad(e.to_string()))?)
                    .map_err(|e| bad(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(bad("holds no CERTIFICATE block".into()));
            }
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| bad(e.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            builder.with_tls_config(config)
        }
        None => builder
            .with_provider_and_platform_verifier(provider)
            .map_err(|e| AcmeError::DirectoryCa {
                path: "(the system's trust store)".into(),
                why: e.to_string(),
            })?,
    };
    let connector = builder.https_only().enable_http1().build();
    let client: HyperClient<_, BodyWrapper<Bytes>> =
        HyperClient::builder(TokioExecutor::new()).build(connector);
    Ok(client)
}
