//! HLS made on demand. A segment request is served from the cache when it is there; otherwise
//! an ffmpeg job for its variant makes segments from it onwards (`-ss` to the segment's start,
//! key frames forced on segment boundaries, time stamps offset to where the segment sits), so
//! a seek to a late segment starts there instead of transcoding from the beginning. A request
//! a little ahead of a running job waits for it; one further away replaces it. At most
//! `streaming.max_transcodes` jobs run; a job nobody asked a segment of for
//! `streaming.transcode_idle_seconds` (a paused player) is stopped.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};

use super::cache::Cache;
use super::probe::Probe;
use super::tools;
use super::variants::Variant;
use super::StreamingError;
use crate::ids::ItemId;

/// A request at most this many segments past what a job has made waits for that job.
const LOOKAHEAD: u32 = 4;
/// How long a request waits for a transcode slot before `transcode_busy`.
const SLOT_WAIT: Duration = Duration::from_secs(10);
/// How long a request waits for its segment.
const SEGMENT_WAIT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(50);
/// Times a request starts its variant's job again after another request replaced it.
const MAX_RESTARTS: u32 = 2;

#[derive(Clone, Debug, PartialEq)]
enum JobState {
    Running,
    /// ffmpeg reached the end of the item.
    Finished,
    /// Replaced by a job elsewhere, or idle.
    Stopped,
    Failed(String),
}

struct Job {
    start: u32,
    last_request: Mutex<Instant>,
    state: Mutex<JobState>,
    stop: Notify,
}

impl Job {
    fn state(&self) -> JobState {
        self.state.lock().expect("job lock").clone()
    }

    fn touch(&self) {
        *self.last_request.lock().expect("job lock") = Instant::now();
    }

    /// The last segment made in an unbroken run from the job's start.
    fn made_up_to(&self, dir: &Path, count: u32) -> Option<u32> {
        (self.start..count)
            .take_while(|n| segment_path(dir, *n).exists())
            .last()
    }
}

/// What one segment request needs.
pub struct SegmentRequest<'a> {
    pub item: &'a ItemId,
    pub source: &'a Path,
    pub probe: &'a Probe,
    pub variant: &'a Variant,
    /// ffprobe's index of the audio stream; the default one when `None`.
    pub audio: Option<u32>,
    /// ffprobe's index of an image subtitle stream burnt into the picture.
    pub burn: Option<u32>,
    pub segment: u32,
    pub count: u32,
}

/// Jobs started since start-up, and running now.
#[cfg(test)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobCounts {
    pub started: u64,
    pub running: usize,
}

pub struct Transcoder {
    cache: Arc<Cache>,
    slots: Arc<Semaphore>,
    jobs: Mutex<HashMap<PathBuf, Arc<Job>>>,
    started: std::sync::atomic::AtomicU64,
    segment_seconds: u32,
    idle: Duration,
    slot_wait: Duration,
    segment_wait: Duration,
}

fn segment_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n}.ts"))
}

impl Transcoder {
    pub fn new(cache: Arc<Cache>, max_jobs: usize, segment_seconds: u32, idle: Duration) -> Self {
        Transcoder {
            cache,
            slots: Arc::new(Semaphore::new(max_jobs.max(1))),
            jobs: Mutex::new(HashMap::new()),
            started: Default::default(),
            segment_seconds,
            idle,
            slot_wait: SLOT_WAIT,
            segment_wait: SEGMENT_WAIT,
        }
    }

    pub fn segment_seconds(&self) -> u32 {
        self.segment_seconds
    }

    #[cfg(test)]
    pub fn counts(&self) -> JobCounts {
        let running = self
            .jobs
            .lock()
            .expect("jobs lock")
            .values()
            .filter(|job| job.state() == JobState::Running)
            .count();
        JobCounts {
            started: self.started.load(std::sync::atomic::Ordering::Relaxed),
            running,
        }
    }

    /// The segment's file, made first if it is not cached.
    pub async fn segment(&self, request: &SegmentRequest<'_>) -> Result<PathBuf, StreamingError> {
        if request.segment >= request.count {
            return Err(StreamingError::NotFound);
        }
        self.cache.touch(request.item);
        let mut name = request.variant.name.clone();
        if let Some(audio) = request.audio {
            name.push_str(&format!("-a{audio}"));
        }
        if let Some(burn) = request.burn {
            name.push_str(&format!("-s{burn}"));
        }
        let dir = self.cache.item_dir(request.item).join(name);
        let path = segment_path(&dir, request.segment);
        if path.exists() {
            return Ok(path);
        }
        let deadline = Instant::now() + self.segment_wait;
        let mut restarts = 0;
        loop {
            let job = self.job_for(request, &dir).await?;
            loop {
                if path.exists() {
                    job.touch();
                    return Ok(path);
                }
                match job.state() {
                    JobState::Running => {}
                    JobState::Failed(reason) => {
                        return Err(StreamingError::TranscodeFailed(reason))
                    }
                    // Ended without making it: past the end, or a file that got shorter.
                    JobState::Finished => return Err(StreamingError::NotFound),
                    // Replaced by another request's job or stopped idle: ask again, a
                    // couple of times (two players far apart on one variant take turns).
                    JobState::Stopped if restarts < MAX_RESTARTS => {
                        restarts += 1;
                        break;
                    }
                    JobState::Stopped => return Err(StreamingError::TranscodeBusy),
                }
                if Instant::now() > deadline {
                    return Err(StreamingError::TranscodeFailed(
                        "the segment took too long".into(),
                    ));
                }
                tokio::time::sleep(POLL).await;
            }
        }
    }

    /// A running job that will make the segment soon, or a new one starting at it.
    async fn job_for(
        &self,
        request: &SegmentRequest<'_>,
        dir: &Path,
    ) -> Result<Arc<Job>, StreamingError> {
        let covering = |jobs: &HashMap<PathBuf, Arc<Job>>| {
            jobs.get(dir).cloned().filter(|job| {
                job.state() == JobState::Running
                    && job.start <= request.segment
                    && request.segment
                        <= job.made_up_to(dir, request.count).unwrap_or(job.start) + LOOKAHEAD
            })
        };
        if let Some(job) = covering(&self.jobs.lock().expect("jobs lock")) {
            job.touch();
            return Ok(job);
        }
        // The variant's job is elsewhere: stop it, so its slot comes back for this one.
        let old = self.jobs.lock().expect("jobs lock").remove(dir);
        if let Some(old) = old {
            old.stop.notify_one();
        }
        let permit = tokio::time::timeout(self.slot_wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| StreamingError::TranscodeBusy)?
            .map_err(|_| StreamingError::TranscodeBusy)?;
        // Another request may have started a covering job while this one waited.
        if let Some(job) = covering(&self.jobs.lock().expect("jobs lock")) {
            return Ok(job);
        }
        tokio::fs::create_dir_all(dir).await?;
        let args = ffmpeg_args(request, dir, self.segment_seconds);
        let mut child = tools::command(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(tools::spawn_error)?;
        tools::lower_priority(&child);
        let started = self
            .started
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        tracing::info!(
            item = %request.item,
            variant = %request.variant.name,
            segment = request.segment,
            started,
            "transcode started"
        );
        let job = Arc::new(Job {
            start: request.segment,
            last_request: Mutex::new(Instant::now()),
            state: Mutex::new(JobState::Running),
            stop: Notify::new(),
        });
        let replaced = self
            .jobs
            .lock()
            .expect("jobs lock")
            .insert(dir.to_path_buf(), job.clone());
        if let Some(replaced) = replaced {
            replaced.stop.notify_one();
        }
        let supervised = job.clone();
        let idle = self.idle;
        let cache = self.cache.clone();
        let item = request.item.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut stderr = child.stderr.take();
            let read_errors = async {
                let mut text = Vec::new();
                if let Some(stderr) = stderr.as_mut() {
                    use tokio::io::AsyncReadExt;
                    let _ = stderr.read_to_end(&mut text).await;
                }
                text
            };
            tokio::pin!(read_errors);
            let mut errors = None;
            let outcome = loop {
                tokio::select! {
                    text = &mut read_errors, if errors.is_none() => errors = Some(text),
                    status = child.wait() => break match status {
                        Ok(status) if status.success() => JobState::Finished,
                        Ok(_) | Err(_) => {
                            let text = match errors.take() {
                                Some(text) => text,
                                None => read_errors.await,
                            };
                            JobState::Failed(tools::stderr_text(&text))
                        }
                    },
                    _ = supervised.stop.notified() => break JobState::Stopped,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {
                        let quiet = supervised.last_request.lock().expect("job lock").elapsed();
                        if quiet > idle {
                            tracing::info!(item = %item, "stopping an idle transcode");
                            break JobState::Stopped;
                        }
                    }
                }
            };
            if outcome == JobState::Stopped {
                let _ = child.kill().await;
            }
            if let JobState::Failed(reason) = &outcome {
                tracing::warn!(item = %item, %reason, "a transcode failed");
            }
            *supervised.state.lock().expect("job lock") = outcome;
            cache.touch(&item);
            let _ = tokio::task::spawn_blocking(move || cache.enforce()).await;
        });
        Ok(job)
    }
}

/// ffmpeg's arguments for a job making `request.variant` from `request.segment` onwards.
fn ffmpeg_args(request: &SegmentRequest<'_>, dir: &Path, segment_seconds: u32) -> Vec<OsString> {
    let start_seconds = u64::from(request.segment) * u64::from(segment_seconds);
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    push(&["-ss", &start_seconds.to_string()]);
    args.push("-i".into());
    args.push(request.source.into());
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    let video = request.probe.video();
    if let (Some(video), Some(height)) = (video, request.variant.height) {
        let bitrate = request.variant.video_bitrate.to_string();
        let max_rate = (request.variant.video_bitrate / 2 * 3).to_string();
        let buffer = (request.variant.video_bitrate * 2).to_string();
        let scale = format!("scale=-2:{height}");
        // HDR (PQ or HLG) is tone-mapped to SDR BT.709 for the H.264 rendition.
        let filter = if video.hdr {
            format!(
                "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,\
                 tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p,{scale}"
            )
        } else {
            format!("{scale},format=yuv420p")
        };
        let keyframes = format!("expr:gte(t,n_forced*{segment_seconds})");
        match request.burn {
            // An image subtitle drawn over the picture before it is scaled.
            Some(subtitle) => {
                let graph = format!(
                    "[0:{}][0:{subtitle}]overlay=eof_action=pass,{filter}[v]",
                    video.index
                );
                push(&["-filter_complex", &graph, "-map", "[v]"]);
            }
            None => push(&["-map", &format!("0:{}", video.index), "-vf", &filter]),
        }
        push(&[
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-profile:v",
            "high",
            "-level:v",
            "4.0",
            "-b:v",
            &bitrate,
            "-maxrate",
            &max_rate,
            "-bufsize",
            &buffer,
            "-force_key_frames",
            &keyframes,
            "-sc_threshold",
            "0",
        ]);
    } else {
        push(&["-vn"]);
    }
    match request.audio {
        Some(index) => push(&["-map", &format!("0:{index}")]),
        None => push(&["-map", "0:a:0?"]),
    }
    let audio_bitrate = request.variant.audio_bitrate.to_string();
    let segment_time = segment_seconds.to_string();
    let start = request.segment.to_string();
    let offset = start_seconds.to_string();
    push(&[
        "-c:a",
        "aac",
        "-b:a",
        &audio_bitrate,
        "-ac",
        "2",
        "-sn",
        "-dn",
        "-f",
        "hls",
        "-hls_time",
        &segment_time,
        "-hls_playlist_type",
        "vod",
        "-hls_segment_type",
        "mpegts",
        "-start_number",
        &start,
        "-hls_flags",
        "temp_file+independent_segments",
        "-output_ts_offset",
        &offset,
        "-hls_segment_filename",
    ]);
    args.push(dir.join("%d.ts").into());
    args.push(dir.join(format!("ffmpeg-{}.m3u8", request.segment)).into());
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contexts::streaming::probe::{MediaStream, StreamKind};

    fn video_probe() -> Probe {
        Probe {
            container: "mkv".into(),
            duration_ms: Some(60_000),
            bitrate: None,
            streams: vec![MediaStream {
                default: true,
                width: Some(640),
                height: Some(360),
                ..MediaStream::new(0, StreamKind::Video, "h264")
            }],
            tags: Default::default(),
        }
    }

    /// A source ffmpeg opens and then waits on forever: a named pipe nobody writes to.
    fn stalled_source(dir: &Path) -> Option<PathBuf> {
        let fifo = dir.join("stalled.ts");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .ok()?;
        (made.success()
            && std::process::Command::new("ffmpeg")
                .arg("-version")
                .output()
                .is_ok())
        .then_some(fifo)
    }

    #[tokio::test]
    async fn a_full_house_answers_busy_and_an_idle_transcode_gives_its_slot_back() {
        let dir = tempfile::tempdir().unwrap();
        let Some(fifo) = stalled_source(dir.path()) else {
            eprintln!("mkfifo or ffmpeg missing: skipped");
            return;
        };
        let cache = Arc::new(Cache::new(dir.path().join("cache"), u64::MAX));
        let mut transcoder = Transcoder::new(cache, 1, 6, Duration::from_millis(1_000));
        transcoder.slot_wait = Duration::from_millis(200);
        transcoder.segment_wait = Duration::from_millis(1_500);
        let transcoder = Arc::new(transcoder);
        let probe = video_probe();
        let variant = super::super::variants::variants(&probe, None).remove(0);
        let waiting = {
            let (transcoder, probe, variant, fifo) = (
                transcoder.clone(),
                probe.clone(),
                variant.clone(),
                fifo.clone(),
            );
            tokio::spawn(async move {
                transcoder
                    .segment(&SegmentRequest {
                        item: &ItemId::from("stalled"),
                        source: &fifo,
                        probe: &probe,
                        variant: &variant,
                        audio: None,
                        burn: None,
                        segment: 0,
                        count: 10,
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            transcoder.counts(),
            JobCounts {
                started: 1,
                running: 1
            }
        );
        let other = transcoder
            .segment(&SegmentRequest {
                item: &ItemId::from("other"),
                source: &fifo,
                probe: &probe,
                variant: &variant,
                audio: None,
                burn: None,
                segment: 0,
                count: 10,
            })
            .await;
        assert!(
            matches!(other, Err(StreamingError::TranscodeBusy)),
            "{other:?}"
        );
        // While its request waits the job runs; once the request gives up, nobody asks for
        // anything and the job stops after the idle time, giving its slot back.
        let given_up = tokio::time::timeout(Duration::from_secs(30), waiting)
            .await
            .expect("the stalled request ends")
            .unwrap();
        assert!(
            matches!(given_up, Err(StreamingError::TranscodeFailed(_))),
            "{given_up:?}"
        );
        assert_eq!(
            transcoder.counts().running,
            1,
            "still running right after its request left"
        );
        let mut freed = false;
        for _ in 0..100 {
            if transcoder.counts().running == 0 && transcoder.slots.available_permits() == 1 {
                freed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            freed,
            "the idle transcode was stopped and its slot given back"
        );
    }

    #[test]
    fn a_job_starts_at_its_segment_with_matching_time_stamps() {
        let probe = Probe {
            container: "mkv".into(),
            duration_ms: Some(60_000),
            bitrate: None,
            streams: vec![MediaStream {
                default: true,
                width: Some(3840),
                height: Some(2160),
                bit_depth: Some(10),
                hdr: true,
                ..MediaStream::new(1, StreamKind::Video, "hevc")
            }],
            tags: Default::default(),
        };
        let variant = super::super::variants::variants(&probe, None).remove(1);
        let request = SegmentRequest {
            item: &ItemId::from("item"),
            source: Path::new("/lib/a.mkv"),
            probe: &probe,
            variant: &variant,
            audio: Some(3),
            burn: None,
            segment: 7,
            count: 10,
        };
        let args: Vec<String> = ffmpeg_args(&request, Path::new("/c/i/720p"), 6)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        let after = |flag: &str| {
            let at = args.iter().position(|a| a == flag).unwrap();
            args[at + 1].clone()
        };
        assert_eq!(after("-ss"), "42");
        assert_eq!(after("-output_ts_offset"), "42");
        assert_eq!(after("-start_number"), "7");
        assert!(after("-vf").starts_with("zscale=t=linear"));
        assert!(after("-vf").ends_with("scale=-2:720"));
        assert_eq!(after("-force_key_frames"), "expr:gte(t,n_forced*6)");
        assert!(args.contains(&"0:1".to_string()) && args.contains(&"0:3".to_string()));
        assert_eq!(args.last().unwrap(), "/c/i/720p/ffmpeg-7.m3u8");

        // An image subtitle burnt in: drawn over the picture in one filter graph.
        let burnt = SegmentRequest {
            burn: Some(5),
            ..request
        };
        let args: Vec<String> = ffmpeg_args(&burnt, Path::new("/c/i/720p-s5"), 6)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        let graph = args.iter().position(|a| a == "-filter_complex").unwrap();
        assert!(args[graph + 1].starts_with("[0:1][0:5]overlay=eof_action=pass,zscale"));
        assert!(args[graph + 1].ends_with("scale=-2:720[v]"));
        assert_eq!(args[graph + 3], "[v]");
        assert!(!args.contains(&"-vf".to_string()));
    }
}
