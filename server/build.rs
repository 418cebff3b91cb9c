//! Build facts for `taina --version`, and a rebuild when a migration is added.
//!
//! The commit comes from `BUILD_GIT_COMMIT` when set (a container build has no `.git`; not a
//! `TAINA_` name, which cargo would also hand to test runs and the server would refuse), else
//! from `git rev-parse`, else `unknown`.

use std::path::Path;
use std::process::Command;

fn main() {
    // `sqlx::migrate!` embeds the migrations; without this a new file alone would not
    // rebuild the crate.
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-env-changed=BUILD_GIT_COMMIT");
    let commit = std::env::var("BUILD_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BUILD_GIT_COMMIT={commit}");
}

fn git_commit() -> Option<String> {
    let git_dir = Path::new("../.git");
    if git_dir.is_dir() {
        println!("cargo:rerun-if-changed=../.git/HEAD");
        if let Ok(head) = std::fs::read_to_string(git_dir.join("HEAD")) {
            if let Some(reference) = head.trim().strip_prefix("ref: ") {
                println!("cargo:rerun-if-changed=../.git/{reference}");
            }
        }
        println!("cargo:rerun-if-changed=../.git/packed-refs");
    }
    let output = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    let commit = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    (output.status.success() && !commit.is_empty()).then(|| {
        if dirty {
            format!("{commit}-modified")
        } else {
            commit
        }
    })
}
