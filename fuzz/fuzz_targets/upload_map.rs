//! The GraphQL multipart `map` (`taina_protocol::http::parse_upload_map`): the first byte is
//! `max_files`, the rest the JSON. Never panics; what it accepts keeps every documented limit,
//! and reads back unchanged when written out again as JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use taina_protocol::http::{parse_upload_map, MAX_PART_NAME_LEN, MAX_PATHS_PER_FILE};

fuzz_target!(|data: &[u8]| {
    let Some((&max_files, json)) = data.split_first() else {
        return;
    };
    let max_files = usize::from(max_files);
    let Ok(files) = parse_upload_map(json, max_files) else {
        return;
    };
    assert!(files.len() <= max_files);
    for (index, (name, paths)) in files.iter().enumerate() {
        assert!((1..=MAX_PART_NAME_LEN).contains(&name.len()), "{name:?}");
        assert!(name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)));
        assert!(
            files[..index].iter().all(|(seen, _)| seen != name),
            "{name:?} twice"
        );
        assert!((1..=MAX_PATHS_PER_FILE).contains(&paths.len()));
        for path in paths {
            let rest = path.strip_prefix("variables.").expect("a variables path");
            assert!(
                rest.split('.').all(|segment| !segment.is_empty()),
                "{path:?}"
            );
        }
    }
    // Written out in order (serde_json's map would sort): the same entries come back.
    let entries: Vec<String> = files
        .iter()
        .map(|(name, paths)| {
            format!(
                "{}:{}",
                Value::from(name.as_str()),
                Value::from(paths.clone())
            )
        })
        .collect();
    let written = format!("{{{}}}", entries.join(","));
    assert_eq!(
        parse_upload_map(written.as_bytes(), max_files).as_ref(),
        Ok(&files)
    );
});
