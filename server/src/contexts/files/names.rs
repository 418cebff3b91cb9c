//! Node names: what is allowed, how uniqueness is decided, and conflict copies' names.
//!
//! Case rule: names keep the case they were given, but are unique per folder *without* case
//! (`Report.pdf` and `report.PDF` cannot sit side by side), compared through Unicode lower
//! case, so a tree synced to a case-insensitive disk (Windows, macOS) never collides. No
//! Unicode normalisation is applied: `é` precomposed and decomposed are different names.

use chrono::{DateTime, Utc};

use super::FilesError;

/// The longest name in bytes (what common filesystems allow).
pub const MAX_NAME_BYTES: usize = 255;

/// Refuses empty names, `.` and `..`, slashes, control characters and names over
/// [`MAX_NAME_BYTES`].
pub fn validate_name(name: &str) -> Result<(), FilesError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name == "." || name == ".." {
        "`.` and `..` are not names"
    } else if name.len() > MAX_NAME_BYTES {
        "it is longer than 255 bytes"
    } else if name.contains('/') || name.contains('\\') {
        "it contains a slash"
    } else if name.chars().any(char::is_control) {
        "it contains a control character"
    } else {
        return Ok(());
    };
    Err(FilesError::InvalidName(reason.into()))
}

/// The key two names collide on: the Unicode lower case.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// `report (conflict from laptop 2026-12-06 0812).pdf`: the name a conflicting upload is
/// kept under, beside the version it did not expect.
pub fn conflict_name(name: &str, device: &str, at: DateTime<Utc>) -> String {
    let device: String = device
        .chars()
        .filter(|c| !c.is_control() && *c != '/' && *c != '\\')
        .take(40)
        .collect();
    let device = if device.trim().is_empty() {
        "another device".to_string()
    } else {
        device.trim().to_string()
    };
    let tag = format!(" (conflict from {device} {})", at.format("%Y-%m-%d %H%M%S"));
    // The extension stays last so the file still opens with the same program.
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{}{tag}{}", &name[..dot], &name[dot..]),
        _ => format!("{name}{tag}"),
    }
}

/// Splits a slash-separated path into validated names (empty segments are skipped, so
/// `/a//b/` is `a/b`); the root is the empty list.
pub fn split_path(path: &str) -> Result<Vec<String>, FilesError> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| validate_name(s).map(|()| s.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for bad in ["", ".", "..", "a/b", "a\\b", "tab\there", &"x".repeat(256)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        for good in [
            "a",
            "Relatório 2026.pdf",
            ".hidden",
            "x".repeat(255).as_str(),
        ] {
            assert!(validate_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn names_collide_without_case() {
        assert_eq!(name_key("Report.PDF"), name_key("report.pdf"));
        assert_eq!(name_key("ÉTÉ"), name_key("été"));
    }

    #[test]
    fn a_conflict_copy_keeps_its_extension() {
        let at = "2026-12-06T08:12:30Z".parse().unwrap();
        assert_eq!(
            conflict_name("notes.txt", "laptop", at),
            "notes (conflict from laptop 2026-12-06 081230).txt"
        );
        assert_eq!(
            conflict_name("Makefile", "", at),
            "Makefile (conflict from another device 2026-12-06 081230)"
        );
        assert_eq!(
            conflict_name(".env", "a/b", at),
            ".env (conflict from ab 2026-12-06 081230)"
        );
    }

    #[test]
    fn paths_split_into_names() {
        assert_eq!(split_path("/a//b/").unwrap(), vec!["a", "b"]);
        assert!(split_path("/").unwrap().is_empty());
        assert!(split_path("a/../b").is_err());
    }
}
