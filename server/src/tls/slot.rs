//! The certificate rustls asks for at each handshake, swapped whole when the files change.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::SystemTime;

use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

use super::certificate::{load_pair, Pair};
use super::TlsError;

#[derive(Debug)]
pub struct CertificateSlot {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Pair>,
    /// The files' modification times when last loaded.
    loaded: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

impl CertificateSlot {
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let stamps = (modified(cert), modified(key));
        let pair = load_pair(cert, key)?;
        Ok(CertificateSlot {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(Pair::new(pair)),
            loaded: Mutex::new(stamps),
        })
    }

    /// Whether either file was modified since it was last loaded.
    pub fn files_changed(&self) -> bool {
        let now = (modified(&self.cert), modified(&self.key));
        *self.loaded.lock().unwrap_or_else(|p| p.into_inner()) != now
    }

    /// Reads the pair again; on success new handshakes use it. On failure the old pair stays
    /// (and the change is not retried until the files change again).
    pub fn reload(&self) -> Result<(), TlsError> {
        let stamps = (modified(&self.cert), modified(&self.key));
        *self.loaded.lock().unwrap_or_else(|p| p.into_inner()) = stamps;
        let pair = load_pair(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Pair::new(pair);
        Ok(())
    }

    /// The pair in use now.
    pub fn current(&self) -> Pair {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for CertificateSlot {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<std::sync::Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> Vec<u8> {
        let issued = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        std::fs::write(dir.join("cert.pem"), issued.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), issued.signing_key.serialize_pem()).unwrap();
        issued.cert.der().to_vec()
    }

    #[test]
    fn a_changed_pair_replaces_the_old_and_a_broken_one_leaves_it() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let first = write_pair(dir.path(), "one.example");
        let slot = CertificateSlot::load(&cert, &key).unwrap();
        assert_eq!(slot.current().cert[0].as_ref(), first.as_slice());
        assert!(!slot.files_changed());

        // Some file systems keep whole-second times: make the change visible.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = write_pair(dir.path(), "two.example");
        assert!(slot.files_changed());
        slot.reload().unwrap();
        assert_eq!(slot.current().cert[0].as_ref(), second.as_slice());

        // A key from another pair: refused, the working pair stays.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let other = rcgen::generate_simple_self_signed(vec!["three.example".into()]).unwrap();
        std::fs::write(&key, other.signing_key.serialize_pem()).unwrap();
        assert!(matches!(slot.reload(), Err(TlsError::Mismatch)));
        assert_eq!(slot.current().cert[0].as_ref(), second.as_slice());
        std::fs::write(&key, "not a key").unwrap();
        assert!(matches!(slot.reload(), Err(TlsError::Invalid { .. })));
        assert_eq!(slot.current().cert[0].as_ref(), second.as_slice());
    }
}
