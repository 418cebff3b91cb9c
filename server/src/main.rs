//! The `taina` binary: parses the command line and hands over to [`taina::cli`].
#![deny(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

/// glibc raises its mmap threshold after the first large block is freed, and from then on kept
/// each sign-in's 19 MiB of argon2 working memory on the heap without reusing it: a fresh
/// server grew ~19.5 MB per sign-in (20 → 196 MB after nine). A fixed 1 MiB threshold keeps
/// such blocks on mmap, handed back when freed (20.7 MB after as many). Allocations per
/// socket are far below it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn keep_large_blocks_on_mmap() {
    // SAFETY: mallopt only sets an allocator parameter; called first thing in main, before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// The data directory holds password hashes, TOTP secrets, the server secret and everyone's
/// photos. With the usual umask (022) every database, write-ahead log and blob was created
/// 0644, readable by any local user; a umask of 077 makes each file Tainá creates 0600 and
/// each directory 0700, whichever library creates it (SQLite, object_store, tokio). A
/// process-wide setting, so it is set here, in the binary, rather than by the library.
#[cfg(unix)]
#[allow(unsafe_code)]
fn create_files_private() {
    // SAFETY: umask only replaces the process's file-mode creation mask and cannot fail;
    // called first thing in main, before any other thread exists or any file is created.
    unsafe {
        libc::umask(0o077);
    }
}

fn main() -> ExitCode {
    #[cfg(unix)]
    create_files_private();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    keep_large_blocks_on_mmap();
    let args = taina::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(taina::cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
