//! A certificate and key from PEM files, read again when either file changes.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use super::certificate::{load_pair, Pair};
use super::TlsError;

#[derive(Debug)]
pub struct WatchedPair {
    cert: PathBuf,
    key: PathBuf,
    /// The files' modification times when last read.
    read: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

impl WatchedPair {
    pub fn new(cert: &Path, key: &Path) -> Self {
        WatchedPair {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            read: Mutex::new((None, None)),
        }
    }

    /// Whether either file was modified since it was last read.
    pub fn changed(&self) -> bool {
        let now = (modified(&self.cert), modified(&self.key));
        *self.read.lock().unwrap_or_else(|p| p.into_inner()) != now
    }

    /// Reads the pair. A pair that fails is not read again until a file changes.
    pub fn load(&self) -> Result<Pair, TlsError> {
        let stamps = (modified(&self.cert), modified(&self.key));
        *self.read.lock().unwrap_or_else(|p| p.into_inner()) = stamps;
        Ok(Pair::new(load_pair(&self.cert, &self.key)?))
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::super::CertificateSlot;
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
        let files = WatchedPair::new(&cert, &key);
        let slot = CertificateSlot::with(files.load().unwrap());
        let served = || slot.current().unwrap().cert[0].as_ref().to_vec();
        assert_eq!(served(), first);
        assert!(!files.changed());

        // Some file systems keep whole-second times: make the change visible.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = write_pair(dir.path(), "two.example");
        assert!(files.changed());
        slot.set(files.load().unwrap());
        assert_eq!(served(), second);
        assert!(!files.changed());

        // A key from another pair: refused, the working pair stays.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let other = rcgen::generate_simple_self_signed(vec!["three.example".into()]).unwrap();
        std::fs::write(&key, other.signing_key.serialize_pem()).unwrap();
        assert!(matches!(files.load(), Err(TlsError::Mismatch)));
        assert!(!files.changed(), "not retried until a file changes again");
        assert_eq!(served(), second);
        std::fs::write(&key, "not a key").unwrap();
        assert!(matches!(files.load(), Err(TlsError::Invalid { .. })));
        assert_eq!(served(), second);
    }
}
