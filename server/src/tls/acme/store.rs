//! What ACME keeps under `data_dir/acme/`: the account for one directory, and the last
//! certificate with its key and the names it was ordered for. Keys are written owner-only,
//! each file whole (a temporary file renamed over the old one).

use std::io::Write;
use std::path::{Path, PathBuf};

use instant_acme::AccountCredentials;
use serde::{Deserialize, Serialize};

const ACCOUNT: &str = "account.json";
const CHAIN: &str = "certificate.pem";
const KEY: &str = "certificate.key";
const ORDERED: &str = "certificate.json";

#[derive(Debug, Clone)]
pub struct AcmeStore {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct SavedAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// What the saved certificate was ordered for: another directory or other names mean a new
/// order.
#[derive(Serialize, Deserialize, PartialEq, Eq)]
struct Ordered {
    directory: String,
    domains: Vec<String>,
}

impl Ordered {
    fn new(directory: &str, domains: &[String]) -> Self {
        let mut domains: Vec<String> = domains.iter().map(|d| d.to_ascii_lowercase()).collect();
        domains.sort();
        domains.dedup();
        Ordered {
            directory: directory.to_owned(),
            domains,
        }
    }
}

/// A certificate chain (leaf first) and its private key, PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    pub chain: String,
    pub key: String,
}

impl AcmeStore {
    pub fn new(data_dir: &Path) -> Self {
        AcmeStore {
            dir: data_dir.join("acme"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The account registered with `directory`, if one was.
    pub fn account(&self, directory: &str) -> Option<AccountCredentials> {
        let text = std::fs::read(self.dir.join(ACCOUNT)).ok()?;
        let saved: SavedAccount = serde_json::from_slice(&text).ok()?;
        (saved.directory == directory).then_some(saved.credentials)
    }

    pub fn save_account(
        &self,
        directory: &str,
        credentials: AccountCredentials,
    ) -> std::io::Result<()> {
        let saved = SavedAccount {
            directory: directory.to_owned(),
            credentials,
        };
        let json = serde_json::to_vec_pretty(&saved).map_err(std::io::Error::other)?;
        self.write_private(ACCOUNT, &json)
    }

    /// The certificate saved for exactly these names from this directory.
    pub fn certificate(&self, directory: &str, domains: &[String]) -> Option<Issued> {
        let ordered: Ordered =
            serde_json::from_slice(&std::fs::read(self.dir.join(ORDERED)).ok()?).ok()?;
        if ordered != Ordered::new(directory, domains) {
            return None;
        }
        Some(Issued {
            chain: std::fs::read_to_string(self.dir.join(CHAIN)).ok()?,
            key: std::fs::read_to_string(self.dir.join(KEY)).ok()?,
        })
    }

    pub fn save_certificate(
        &self,
        directory: &str,
        domains: &[String],
        issued: &Issued,
    ) -> std::io::Result<()> {
        // What it was ordered for goes last: a crash in between leaves a pair that is not
        // trusted for the new names, so it is ordered again.
        let _ = std::fs::remove_file(self.dir.join(ORDERED));
        self.write_private(KEY, issued.key.as_bytes())?;
        self.write_private(CHAIN, issued.chain.as_bytes())?;
        let ordered = serde_json::to_vec_pretty(&Ordered::new(directory, domains))
            .map_err(std::io::Error::other)?;
        self.write_private(ORDERED, &ordered)
    }

    fn write_private(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(name);
        let temporary = self.dir.join(format!(".{name}.tmp"));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_is_found_only_for_the_names_and_directory_it_was_ordered_for() {
        let data = tempfile::tempdir().unwrap();
        let store = AcmeStore::new(data.path());
        let directory = "https://ca.example/dir";
        let names = vec!["b.example.org".to_string(), "A.example.org".to_string()];
        assert!(store.certificate(directory, &names).is_none());
        let issued = Issued {
            chain: "chain".into(),
            key: "key".into(),
        };
        store.save_certificate(directory, &names, &issued).unwrap();
        let same = ["a.example.org".to_string(), "b.example.org".to_string()];
        assert_eq!(store.certificate(directory, &same).unwrap().chain, "chain");
        assert!(store.certificate(directory, &same[..1]).is_none());
        assert!(store
            .certificate("https://other.example/dir", &same)
            .is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.dir().join(KEY))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
