//! Running ffmpeg: one call with a deadline, its error output kept for the reason. The
//! process is killed when the call is dropped or times out.

use std::ffi::OsStr;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::StreamingError;

/// Error output kept for a failure's message.
const STDERR_KEPT: usize = 400;

/// `ffmpeg -nostdin -hide_banner -loglevel error <args>`, waiting at most `timeout`.
pub async fn ffmpeg<I, S>(args: I, timeout: Duration) -> Result<Vec<u8>, StreamingError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let child = command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    lower_priority(&child);
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| StreamingError::TranscodeFailed("timed out".into()))??;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(StreamingError::TranscodeFailed(stderr_text(&output.stderr)))
    }
}

/// The command, for callers that keep the process running (HLS).
pub fn command<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new("ffmpeg");
    command
        .args(["-nostdin", "-hide_banner", "-loglevel", "error"])
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Media work yields the CPU to the server: a transcode on a 2-core box otherwise takes the
/// cores chat needs (`nice` 10; best effort, nothing fails without it).
pub fn lower_priority(child: &tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(id as i32))
    {
        let _ = rustix::process::setpriority_process(Some(pid), NICE);
    }
    #[cfg(not(unix))]
    let _ = child;
}

/// The `nice` level media work runs at.
const NICE: i32 = 10;

pub fn spawn_error(error: std::io::Error) -> StreamingError {
    if error.kind() == std::io::ErrorKind::NotFound {
        StreamingError::ToolsMissing
    } else {
        StreamingError::Io(error)
    }
}

/// The last lines of ffmpeg's error output, trimmed for a message.
pub fn stderr_text(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    let start = text
        .char_indices()
        .rev()
        .nth(STDERR_KEPT)
        .map_or(0, |(i, _)| i);
    let kept = &text[start..];
    if kept.is_empty() {
        "ffmpeg exited with an error".into()
    } else {
        kept.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn media_work_runs_below_the_server_s_priority() {
        let own = rustix::process::getpriority_process(None).unwrap();
        let mut child = Command::new("sleep")
            .arg("5")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        lower_priority(&child);
        let pid = rustix::process::Pid::from_raw(child.id().unwrap() as i32);
        let niced = rustix::process::getpriority_process(pid).unwrap();
        assert_eq!(niced, own.max(NICE));
        child.kill().await.unwrap();
    }

    #[test]
    fn error_output_keeps_its_end() {
        let long = "x".repeat(1000) + "the reason";
        let kept = stderr_text(long.as_bytes());
        assert!(kept.ends_with("the reason"));
        assert!(kept.len() <= STDERR_KEPT + 1);
        assert_eq!(stderr_text(b"  \n"), "ffmpeg exited with an error");
    }
}
