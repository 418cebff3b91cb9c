//! Helpers shared by the hardening suite's modules (tests/tests/hardening): the upload mutations,
//! a multipart upload form, a file sniffed as a PNG, and how long to wait for a frame.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::json;

pub const WAIT: Duration = Duration::from_secs(10);

pub const UPLOAD_PHOTO: &str =
    "mutation($file: Upload!) { uploadPhoto(file: $file) { id mimeType fileSizeBytes } }";

pub fn upload_form(bytes: Vec<u8>) -> Form {
    let operations = json!({ "query": UPLOAD_PHOTO, "variables": { "file": null } });
    Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part("0", Part::bytes(bytes).file_name("g.png"))
}

pub const CREATE_UPLOAD: &str = "mutation($size: Int!, $sha: String!) { createUpload(filename: \"big.bin\", size: $size, sha256: $sha) { id } }";

/// A file the type sniffer takes for a PNG (processing may fail later; storing does not).
pub fn png_like(seed: u8) -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    bytes.extend(std::iter::repeat_n(seed, 500));
    bytes
}
