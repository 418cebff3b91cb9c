//! Puts the front-end assets the lockfile pins (`assets/package-lock.json`) into `OUT_DIR`,
//! where `src/assets.rs` embeds them with `include_bytes!`.
//!
//! The files come from the package `npm ci` installed under `assets/node_modules` when it is
//! there (offline builds); otherwise the package's tarball is fetched from the npm registry
//! with `curl`, checked against the lockfile's SHA-512 integrity, and unpacked with `tar`. No
//! Node is needed to build the server, and nothing downloaded is kept in the repository.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use sha2::Digest as _;

/// The packages and the files of each the binary serves, and the variable their version is
/// handed to the crate in: htmx for the panel, GraphiQL and the React it runs on for
/// `GET /graphql` (so it works on a LAN with no internet).
const PACKAGES: &[(&str, &[&str], &str)] = &[
    (
        "htmx.org",
        &["dist/htmx.min.js", "dist/ext/hx-ws.min.js"],
        "TAINA_HTMX_VERSION",
    ),
    (
        "graphiql",
        &["graphiql.min.js", "graphiql.min.css"],
        "TAINA_GRAPHIQL_VERSION",
    ),
    (
        "react",
        &["umd/react.production.min.js"],
        "TAINA_REACT_VERSION",
    ),
    (
        "react-dom",
        &["umd/react-dom.production.min.js"],
        "TAINA_REACT_DOM_VERSION",
    ),
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    let assets = manifest_dir.join("assets");
    let lock_path = assets.join("package-lock.json");
    println!("cargo:rerun-if-changed={}", lock_path.display());

    let lock: serde_json::Value = serde_json::from_slice(
        &fs::read(&lock_path).unwrap_or_else(|e| panic!("{}: {e}", lock_path.display())),
    )
    .expect("package-lock.json is JSON");
    for (package, files, version_variable) in PACKAGES {
        let version = copy_package(&lock, &assets, &out_dir, package, files);
        println!("cargo:rustc-env={version_variable}={version}");
    }

    // Our own stylesheet, named by its content so it can be cached forever.
    let css_path = assets.join("admin.css");
    println!("cargo:rerun-if-changed={}", css_path.display());
    let css = fs::read(&css_path).unwrap_or_else(|e| panic!("{}: {e}", css_path.display()));
    let digest = sha2::Sha256::digest(&css);
    let short: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    println!("cargo:rustc-env=TAINA_ADMIN_CSS_HASH={short}");
}

/// Copies `files` of the package the lockfile pins into `out_dir` (flat, by file name) and
/// returns its version.
fn copy_package(
    lock: &serde_json::Value,
    assets: &Path,
    out_dir: &Path,
    package: &str,
    files: &[&str],
) -> String {
    let entry = &lock["packages"][format!("node_modules/{package}")];
    let version = entry["version"]
        .as_str()
        .unwrap_or_else(|| panic!("the lockfile pins no version of {package}"))
        .to_owned();
    let integrity = entry["integrity"]
        .as_str()
        .unwrap_or_else(|| panic!("the lockfile has no integrity hash for {package}"));

    let installed = assets.join("node_modules").join(package);
    let package_dir = if installed_version(&installed).as_deref() == Some(version.as_str()) {
        println!("cargo:rerun-if-changed={}", installed.display());
        installed
    } else {
        let url = entry["resolved"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| {
                format!("https://registry.npmjs.org/{package}/-/{package}-{version}.tgz")
            });
        fetch_and_unpack(&url, integrity, &out_dir.join("npm").join(package))
    };

    for file in files {
        let from = package_dir.join(file);
        let name = Path::new(file).file_name().expect("a file name");
        fs::copy(&from, out_dir.join(name))
            .unwrap_or_else(|e| panic!("{package}@{version} lacks {file}: {e}"));
    }
    version
}

fn installed_version(dir: &Path) -> Option<String> {
    let manifest = fs::read(dir.join("package.json")).ok()?;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).ok()?;
    manifest["version"].as_str().map(str::to_owned)
}

/// Downloads the tarball, refuses it unless its SHA-512 matches the lockfile's integrity, and
/// unpacks it under `into` (npm tarballs hold one `package/` directory).
fn fetch_and_unpack(url: &str, integrity: &str, into: &Path) -> PathBuf {
    let expected = integrity
        .strip_prefix("sha512-")
        .expect("the lockfile's integrity is a sha512 hash");
    fs::create_dir_all(into).expect("create the download directory");
    let tarball = into.join("package.tgz");
    let status = Command::new("curl")
        .args([
            "--fail",
            "--silent",
            "--show-error",
            "--location",
            "--retry",
            "3",
        ])
        .arg("--output")
        .arg(&tarball)
        .arg(url)
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run curl to fetch {url}: {e}; or run `npm ci` in admin_ui/assets")
        });
    assert!(
        status.success(),
        "fetching {url} failed; or run `npm ci` in admin_ui/assets"
    );
    let bytes = fs::read(&tarball).expect("the downloaded tarball");
    let actual = base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&bytes));
    assert_eq!(
        actual, expected,
        "{url} does not match the lockfile's integrity hash"
    );
    let unpacked = into.join("unpacked");
    let _ = fs::remove_dir_all(&unpacked);
    fs::create_dir_all(&unpacked).expect("create the unpack directory");
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .expect("run tar");
    assert!(status.success(), "cannot unpack {}", tarball.display());
    unpacked.join("package")
}
