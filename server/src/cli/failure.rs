//! A failed command's error as one line for a person: each cause once (libraries repeat
//! their source in their own message, and the chain would print it again), paths whole, and
//! what to do for the failures a new installation meets first.

use std::io::ErrorKind;
use std::path::Path;

/// The error's causes joined by `: `, each said once, then a hint when one applies.
pub fn explain(error: &anyhow::Error, data_dir: &Path) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    let io_kind = |kind: ErrorKind| {
        error.chain().any(|cause| {
            cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == kind)
        })
    };
    let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    if io_kind(ErrorKind::PermissionDenied)
        || line.contains("readonly database")
        || line.contains("unable to open database file")
    {
        line.push_str(&format!(
            " — the user running taina must own {} and everything in it: chown -R it to that \
             user, or set data_dir (TAINA_DATA_DIR) to a directory it owns",
            data_dir.display()
        ));
    } else if io_kind(ErrorKind::AddrInUse) {
        line.push_str(
            " — another program (another taina?) listens there: stop it, or set listen \
             (TAINA_LISTEN) to another port",
        );
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn each_cause_is_said_once_with_what_to_do() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot create /srv/x/data/files: {0}")]
        struct Repeats(#[source] std::io::Error);
        let denied = std::io::Error::from(ErrorKind::PermissionDenied);
        let error = anyhow::Error::new(Repeats(denied)).context("while starting");
        let line = explain(&error, Path::new("data"));
        assert_eq!(line.matches("permission denied").count(), 1, "{line}");
        assert!(
            line.starts_with("while starting: cannot create /srv/x/data/files: "),
            "{line}"
        );
        let whole = std::path::absolute("data").unwrap();
        assert!(
            line.contains(&format!("must own {} ", whole.display())),
            "{line}"
        );

        let in_use = Err::<(), _>(std::io::Error::from(ErrorKind::AddrInUse))
            .context("cannot listen on 127.0.0.1:4000")
            .unwrap_err();
        let line = explain(&in_use, Path::new("data"));
        assert!(
            line.ends_with("set listen (TAINA_LISTEN) to another port"),
            "{line}"
        );
        assert!(!line.contains("chown"), "{line}");
    }
}
