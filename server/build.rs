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
    // Watch only what exists: cargo reruns a build script whose watched path is missing at
    // every build, which would rebuild the server each time (refs are loose or packed).
    let git_dir = Path::new("../.git");
    for watched in ["HEAD", "refs/heads", "packed-refs"] {
        let path = git_dir.join(watched);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
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
