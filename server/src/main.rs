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

fn main() -> ExitCode {
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
