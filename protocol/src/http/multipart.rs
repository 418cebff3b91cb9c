//! The `map` part of a GraphQL multipart request (jaydenseric/graphql-multipart-request-spec):
//! which file part goes to which `variables.…` path of the operation.
//!
//! `{"0": ["variables.file"], "1": ["variables.files.0", "variables.files.1"]}` sends part `0`
//! to `$file` and part `1` to two places. Everything in it comes from the client, so the
//! names, paths and counts are checked here before the server looks for any part.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// Longest accepted part name, in bytes (names are ASCII).
pub const MAX_PART_NAME_LEN: usize = 64;
/// Most paths one file may be sent to.
pub const MAX_PATHS_PER_FILE: usize = 16;
/// Every path points into the operation's variables.
const PATH_PREFIX: &str = "variables.";
/// How much of an offending name or path an error repeats: enough to find it, not a log flood.
const ECHO_LEN: usize = 80;

/// Why a `map` part was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadMapError {
    /// Not JSON at all (syntax error, truncated, trailing data).
    #[error("the map is not valid JSON: {0}")]
    InvalidJson(String),
    /// Valid JSON, but not an object.
    #[error("the map must be a JSON object from part name to an array of paths")]
    NotAnObject,
    /// More entries than files the request may carry.
    #[error("the map names more than {limit} files")]
    TooManyFiles { limit: usize },
    /// A part name that is empty, too long or has characters outside `[A-Za-z0-9_.-]`.
    #[error("part name {0:?} must be 1 to 64 characters of A-Z, a-z, 0-9, `_`, `.` and `-`")]
    InvalidName(String),
    /// The same part name twice (JSON parsers disagree on which one wins).
    #[error("part name {0:?} appears more than once")]
    DuplicateName(String),
    /// A part whose value is not a non-empty array of strings.
    #[error("part {0:?} must map to a non-empty array of path strings")]
    InvalidPaths(String),
    /// A part sent to more paths than allowed.
    #[error("part {name:?} maps to more than {limit} paths")]
    TooManyPaths { name: String, limit: usize },
    /// A path outside `variables`, or with an empty segment (`variables..a`, `variables.a.`).
    #[error("path {0:?} must start with `variables.` and have no empty segments")]
    InvalidPath(String),
}

/// Parses and checks a `map` part: each entry is a part name and the object paths its file
/// fills, in the order the client wrote them.
///
/// At most `max_files` entries and [`MAX_PATHS_PER_FILE`] paths per entry are accepted; part
/// names are 1..=[`MAX_PART_NAME_LEN`] characters of `[A-Za-z0-9_.-]`; each path starts with
/// `variables.` and has no empty segment. Whether the named parts exist is for the caller.
pub fn parse_upload_map(
    json: &[u8],
    max_files: usize,
) -> Result<Vec<(String, Vec<String>)>, UploadMapError> {
    let Entries(entries) = serde_json::from_slice(json).map_err(|error| {
        if error.classify() == serde_json::error::Category::Data {
            UploadMapError::NotAnObject
        } else {
            UploadMapError::InvalidJson(error.to_string())
        }
    })?;
    if entries.len() > max_files {
        return Err(UploadMapError::TooManyFiles { limit: max_files });
    }
    let mut files = Vec::with_capacity(entries.len());
    for (name, paths) in entries {
        if !is_valid_name(&name) {
            return Err(UploadMapError::InvalidName(echo(&name)));
        }
        if files.iter().any(|(seen, _)| *seen == name) {
            return Err(UploadMapError::DuplicateName(name));
        }
        let paths = paths_of(&name, paths)?;
        files.push((name, paths));
    }
    Ok(files)
}

/// The top-level object's entries in document order, duplicates kept (a `serde_json::Map`
/// would sort them and keep only the last of a duplicate).
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;

        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor)
    }
}

fn is_valid_name(name: &str) -> bool {
    (1..=MAX_PART_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn paths_of(name: &str, paths: Value) -> Result<Vec<String>, UploadMapError> {
    let Value::Array(paths) = paths else {
        return Err(UploadMapError::InvalidPaths(name.to_owned()));
    };
    if paths.is_empty() {
        return Err(UploadMapError::InvalidPaths(name.to_owned()));
    }
    if paths.len() > MAX_PATHS_PER_FILE {
        return Err(UploadMapError::TooManyPaths {
            name: name.to_owned(),
            limit: MAX_PATHS_PER_FILE,
        });
    }
    paths
        .into_iter()
        .map(|path| match path {
            Value::String(path) if is_valid_path(&path) => Ok(path),
            Value::String(path) => Err(UploadMapError::InvalidPath(echo(&path))),
            _ => Err(UploadMapError::InvalidPaths(name.to_owned())),
        })
        .collect()
}

fn is_valid_path(path: &str) -> bool {
    path.strip_prefix(PATH_PREFIX)
        .is_some_and(|rest| rest.split('.').all(|segment| !segment.is_empty()))
}

/// At most [`ECHO_LEN`] characters of client text, marked when cut.
fn echo(text: &str) -> String {
    match text.char_indices().nth(ECHO_LEN) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Vec<(String, Vec<String>)>, UploadMapError> {
        parse_upload_map(json.as_bytes(), 10)
    }

    fn entry(name: &str, paths: &[&str]) -> (String, Vec<String>) {
        (name.into(), paths.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn the_spec_examples() {
        assert_eq!(
            parse(r#"{"0": ["variables.file"]}"#),
            Ok(vec![entry("0", &["variables.file"])])
        );
        assert_eq!(
            parse(r#"{"1": ["variables.files.0"], "0": ["variables.files.1", "variables.again"]}"#),
            Ok(vec![
                entry("1", &["variables.files.0"]),
                entry("0", &["variables.files.1", "variables.again"]),
            ]),
            "document order is kept"
        );
        assert_eq!(parse("{}"), Ok(vec![]));
        assert_eq!(parse(" {\n} "), Ok(vec![]));
    }

    #[test]
    fn invalid_json() {
        for json in [
            "",
            "{",
            r#"{"0": ["variables.file"]"#,
            "{} {}",
            "nope",
            "{'0': []}",
        ] {
            assert!(
                matches!(parse(json), Err(UploadMapError::InvalidJson(_))),
                "{json:?}: {:?}",
                parse(json)
            );
        }
        assert!(matches!(
            parse_upload_map(b"{\"\xFF\": []}", 1),
            Err(UploadMapError::InvalidJson(_))
        ));
    }

    #[test]
    fn not_an_object() {
        for json in [
            "[]",
            "null",
            "1",
            r#""variables.file""#,
            r#"[["0", ["variables.a"]]]"#,
        ] {
            assert_eq!(parse(json), Err(UploadMapError::NotAnObject), "{json}");
        }
    }

    #[test]
    fn too_many_files() {
        let map = r#"{"0": ["variables.a"], "1": ["variables.b"], "2": ["variables.c"]}"#;
        assert_eq!(parse_upload_map(map.as_bytes(), 3).map(|m| m.len()), Ok(3));
        assert_eq!(
            parse_upload_map(map.as_bytes(), 2),
            Err(UploadMapError::TooManyFiles { limit: 2 })
        );
        assert_eq!(
            parse_upload_map(br#"{"0": ["variables.a"]}"#, 0),
            Err(UploadMapError::TooManyFiles { limit: 0 })
        );
        assert_eq!(parse_upload_map(b"{}", 0), Ok(vec![]));
    }

    #[test]
    fn part_names() {
        let long = "a".repeat(MAX_PART_NAME_LEN);
        let ok = format!(r#"{{"{long}": ["variables.a"], "A-z_0.9": ["variables.b"]}}"#);
        assert_eq!(parse(&ok).map(|m| m.len()), Ok(2));
        for bad in ["", "a b", "é", "a/b", "a\\u0000", "a\"b"] {
            let json = format!(r#"{{"{}": ["variables.a"]}}"#, bad.replace('"', "\\\""));
            assert!(
                matches!(parse(&json), Err(UploadMapError::InvalidName(_))),
                "{bad:?}: {:?}",
                parse(&json)
            );
        }
        let too_long = "a".repeat(MAX_PART_NAME_LEN + 1);
        assert_eq!(
            parse(&format!(r#"{{"{too_long}": ["variables.a"]}}"#)),
            Err(UploadMapError::InvalidName(too_long))
        );
    }

    #[test]
    fn duplicate_names() {
        assert_eq!(
            parse(r#"{"0": ["variables.a"], "0": ["variables.b"]}"#),
            Err(UploadMapError::DuplicateName("0".into()))
        );
    }

    #[test]
    fn paths_must_be_a_non_empty_array_of_strings() {
        for value in [
            "[]",
            r#""variables.a""#,
            "null",
            "{}",
            "[1]",
            r#"["variables.a", null]"#,
        ] {
            assert_eq!(
                parse(&format!(r#"{{"0": {value}}}"#)),
                Err(UploadMapError::InvalidPaths("0".into())),
                "{value}"
            );
        }
    }

    #[test]
    fn at_most_16_paths_per_file() {
        let paths = |n: usize| {
            (0..n)
                .map(|i| format!("\"variables.files.{i}\""))
                .collect::<Vec<_>>()
                .join(",")
        };
        let ok = format!(r#"{{"0": [{}]}}"#, paths(MAX_PATHS_PER_FILE));
        assert_eq!(parse(&ok).unwrap()[0].1.len(), MAX_PATHS_PER_FILE);
        let over = format!(r#"{{"0": [{}]}}"#, paths(MAX_PATHS_PER_FILE + 1));
        assert_eq!(
            parse(&over),
            Err(UploadMapError::TooManyPaths {
                name: "0".into(),
                limit: MAX_PATHS_PER_FILE
            })
        );
    }

    #[test]
    fn paths_point_into_the_variables() {
        for bad in [
            "",
            "variables",
            "variables.",
            "variables..a",
            "variables.a.",
            "variables.a..b",
            ".variables.a",
            "0.variables.file",
            "query",
            "Variables.file",
        ] {
            assert_eq!(
                parse(&format!(r#"{{"0": ["{bad}"]}}"#)),
                Err(UploadMapError::InvalidPath(bad.into())),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse(r#"{"0": ["variables.input.files.12.file"]}"#).unwrap()[0].1,
            ["variables.input.files.12.file"]
        );
    }

    #[test]
    fn errors_repeat_at_most_80_characters_of_client_text() {
        let long = format!("x{}", "é".repeat(200));
        let Err(UploadMapError::InvalidPath(echoed)) = parse(&format!(r#"{{"0": ["{long}"]}}"#))
        else {
            panic!("expected InvalidPath");
        };
        assert_eq!(echoed.chars().count(), ECHO_LEN + 1);
        assert!(echoed.ends_with('…'));
    }

    #[test]
    fn messages_say_what_is_wrong() {
        assert_eq!(
            UploadMapError::TooManyFiles { limit: 4 }.to_string(),
            "the map names more than 4 files"
        );
        assert_eq!(
            UploadMapError::InvalidPath("query".into()).to_string(),
            "path \"query\" must start with `variables.` and have no empty segments"
        );
    }
}
