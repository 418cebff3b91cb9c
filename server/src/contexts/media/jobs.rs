//! The processing queue: a persisted job per new file, taken from `pending` to `ready`,
//! `failed` (with the reason) or `unprocessed` (a video without ffmpeg installed). Jobs left
//! running by a stopped server are queued again at start-up.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::json;
use taina_imaging::{DecodeLimits, ExifInfo, ImagingError, Renditions};

use crate::ids::PhotoId;

use super::blob::{blob_key, rendition_key};
use super::events::MediaEvent;
use super::service::MediaService;
use super::store::Processed;
use super::{MediaError, Photo, Rendition};

/// How long the worker sleeps when the queue is empty and nobody wakes it.
const IDLE_POLL: Duration = Duration::from_secs(2);
/// How often a running job's lease is renewed, and how often a node sharing the queue looks
/// for lapsed ones.
const LEASE_RENEWAL: Duration = Duration::from_secs(60);
/// A running job not renewed for this long belongs to a node that died: it is queued again.
const JOB_LEASE: Duration = Duration::from_secs(180);

impl MediaService {
    /// Runs the processing worker until the service is dropped. `shared` says other nodes
    /// work the same queue: then only jobs whose lease lapsed ([`JOB_LEASE`] without a renewal)
    /// are taken back, at start and every [`LEASE_RENEWAL`], never another live node's; alone,
    /// every job left running at start is a stopped server's and starts over at once.
    pub fn spawn_worker(&self, shared: bool) {
        let service = std::sync::Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut last_sweep: Option<std::time::Instant> = None;
            loop {
                let Some(inner) = service.upgrade() else {
                    return;
                };
                let media = MediaService { inner };
                if last_sweep.is_none_or(|at| shared && at.elapsed() >= LEASE_RENEWAL) {
                    let now = Utc::now();
                    let stale_before = if shared {
                        now - chrono::Duration::from_std(JOB_LEASE).expect("a short lease")
                    } else {
                        now
                    };
                    match media
                        .inner
                        .store
                        .requeue_running_jobs(stale_before, now)
                        .await
                    {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(jobs = n, "requeued unfinished processing jobs"),
                        Err(e) => tracing::error!(error = %e, "cannot requeue processing jobs"),
                    }
                    last_sweep = Some(std::time::Instant::now());
                }
                match media.inner.store.claim_job(Utc::now()).await {
                    Ok(Some((job, file))) => {
                        let started = std::time::Instant::now();
                        let error = media.process_renewing(&job, &file).await;
                        media
                            .inner
                            .job_durations
                            .observe(started.elapsed().as_secs_f64());
                        if let Some(error) = &error {
                            tracing::warn!(file = %file, error = %error, "processing job failed");
                        }
                        if let Err(e) = media
                            .inner
                            .store
                            .finish_job(&job, error.as_deref(), Utc::now())
                            .await
                        {
                            tracing::error!(error = %e, "cannot record a finished job");
                        }
                    }
                    Ok(None) => {
                        let inner = media.inner.clone();
                        drop(media);
                        let _ = tokio::time::timeout(IDLE_POLL, inner.work.notified()).await;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot claim a processing job");
                        drop(media);
                        tokio::time::sleep(IDLE_POLL).await;
                    }
                }
            }
        });
    }

    /// Processes a file, renewing the job's lease every [`LEASE_RENEWAL`] meanwhile (a long
    /// video must not look abandoned to the other nodes). The error text, if it failed.
    async fn process_renewing(&self, job: &str, file: &PhotoId) -> Option<String> {
        let work = self.process(file);
        tokio::pin!(work);
        let mut renew = tokio::time::interval(LEASE_RENEWAL);
        renew.tick().await;
        loop {
            tokio::select! {
                result = &mut work => return result.err().map(|e| e.to_string()),
                _ = renew.tick() => {
                    if let Err(e) = self.inner.store.touch_job(job, Utc::now()).await {
                        tracing::warn!(error = %e, "cannot renew a processing job's lease");
                    }
                }
            }
        }
    }

    fn limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_width: self.inner.config.max_image_side,
            max_height: self.inner.config.max_image_side,
            max_alloc_bytes: self.inner.config.max_decode_mib * 1024 * 1024,
        }
    }

    /// Processes one file. A file that cannot be decoded is marked `failed` with the reason
    /// (that is a result, not an error of the job); errors are storage or database trouble.
    async fn process(&self, file_id: &PhotoId) -> Result<(), MediaError> {
        let Some(photo) = self.inner.store.file(file_id).await? else {
            return Ok(());
        };
        let outcome = if taina_imaging::is_video(&photo.mime_type) {
            self.process_video(&photo).await?
        } else {
            self.process_image(&photo).await?
        };
        let status = outcome.status;
        let tags = taina_imaging::auto_tags(
            &photo.mime_type,
            &outcome.exif,
            outcome.taken_at.unwrap_or(photo.created_at),
            outcome.width,
            outcome.height,
            &photo.original_filename,
        );
        let mut metadata = json!({ "exif": outcome.exif });
        if let Some(video) = &outcome.video {
            metadata["video"] = json!(video);
        }
        self.inner
            .store
            .record_processing(
                file_id,
                &Processed {
                    status,
                    error: outcome.error.as_deref(),
                    width: outcome.width,
                    height: outcome.height,
                    duration_ms: outcome.video.as_ref().and_then(|v| v.duration_ms),
                    taken_at: outcome.taken_at,
                    metadata,
                    has_renditions: outcome.renditions,
                    tags: &tags,
                },
                Utc::now(),
            )
            .await?;
        if status == "ready" || status == "unprocessed" {
            if let Some(photo) = self.inner.store.file(file_id).await? {
                self.inner.bus.publish(MediaEvent::photo_uploaded(&photo));
            }
        }
        Ok(())
    }

    async fn store_renditions(
        &self,
        photo: &Photo,
        renditions: &Renditions,
    ) -> Result<(), MediaError> {
        for (rendition, bytes) in [
            (Rendition::Thumb, &renditions.thumb_jpeg),
            (Rendition::Large, &renditions.large_jpeg),
        ] {
            let key = rendition_key(&photo.content_hash, rendition.file_name());
            self.inner
                .blobs
                .put_bytes(&key, bytes.clone(), &self.inner.tmp_dir)
                .await?;
        }
        Ok(())
    }

    async fn process_image(&self, photo: &Photo) -> Result<Outcome, MediaError> {
        let bytes = self
            .inner
            .blobs
            .read_all(&blob_key(&photo.content_hash))
            .await?;
        let limits = self.limits();
        let (exif, rendered) = tokio::task::spawn_blocking(move || {
            let exif = taina_imaging::read_exif(&bytes);
            let rendered = taina_imaging::render(&bytes, exif.orientation, limits);
            (exif, rendered)
        })
        .await
        .map_err(|e| MediaError::Storage(format!("processing task: {e}")))?;
        let taken_at = exif.taken_at.map(|naive| Utc.from_utc_datetime(&naive));
        match rendered {
            Ok(renditions) => {
                self.store_renditions(photo, &renditions).await?;
                Ok(Outcome {
                    status: "ready",
                    error: None,
                    width: Some(renditions.width),
                    height: Some(renditions.height),
                    taken_at,
                    exif,
                    video: None,
                    renditions: true,
                })
            }
            Err(e) => Ok(Outcome::failed(e, exif, taken_at)),
        }
    }

    async fn process_video(&self, photo: &Photo) -> Result<Outcome, MediaError> {
        if !taina_imaging::tools_available().await {
            return Ok(Outcome {
                status: "unprocessed",
                error: Some(
                    "ffprobe/ffmpeg are not installed: the video is stored but not analysed".into(),
                ),
                ..Outcome::empty()
            });
        }
        let (path, temporary) = self
            .inner
            .blobs
            .local_file(&blob_key(&photo.content_hash), &self.inner.tmp_dir)
            .await?;
        let probed = taina_imaging::probe(&path).await;
        let poster = match &probed {
            Ok(_) => Some(taina_imaging::poster(&path).await),
            Err(_) => None,
        };
        if temporary {
            let _ = tokio::fs::remove_file(&path).await;
        }
        let video = match probed {
            Ok(video) => video,
            Err(e) => return Ok(Outcome::failed(e, ExifInfo::default(), None)),
        };
        let poster = match poster {
            Some(Ok(poster)) => poster,
            Some(Err(e)) => return Ok(Outcome::failed(e, ExifInfo::default(), None)),
            None => return Ok(Outcome::empty()),
        };
        let limits = self.limits();
        let rendered =
            tokio::task::spawn_blocking(move || taina_imaging::render_poster(&poster, limits))
                .await
                .map_err(|e| MediaError::Storage(format!("processing task: {e}")))?;
        let renditions = match rendered {
            Ok(renditions) => {
                self.store_renditions(photo, &renditions).await?;
                true
            }
            Err(_) => false,
        };
        Ok(Outcome {
            status: "ready",
            error: None,
            width: video.width,
            height: video.height,
            taken_at: None,
            exif: ExifInfo::default(),
            video: Some(video),
            renditions,
        })
    }
}

struct Outcome {
    status: &'static str,
    error: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    taken_at: Option<chrono::DateTime<Utc>>,
    exif: ExifInfo,
    video: Option<taina_imaging::VideoInfo>,
    renditions: bool,
}

impl Outcome {
    fn empty() -> Self {
        Outcome {
            status: "failed",
            error: None,
            width: None,
            height: None,
            taken_at: None,
            exif: ExifInfo::default(),
            video: None,
            renditions: false,
        }
    }

    fn failed(
        error: ImagingError,
        exif: ExifInfo,
        taken_at: Option<chrono::DateTime<Utc>>,
    ) -> Self {
        Outcome {
            status: "failed",
            error: Some(error.to_string()),
            exif,
            taken_at,
            ..Outcome::empty()
        }
    }
}
