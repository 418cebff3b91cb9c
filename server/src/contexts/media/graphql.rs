//! Media's GraphQL part: the timeline, photos and albums, uploads (GraphQL multipart request
//! spec, and `createUpload` for resumable socket uploads), and the `photoUploaded` subscription.

use async_graphql::{
    Context, InputObject, Object, SimpleObject, Subscription, Upload as GqlUploadFile,
};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use tokio::io::AsyncReadExt;
use tokio::sync::broadcast::error::RecvError;

use std::sync::Arc;

use super::{Album, MediaError, MediaService, Photo, PhotoFilter, Upload};
use crate::events::EventBus;
use crate::graphql::{principal, GqlError};
use crate::ids::PhotoId;

type Result<T, E = GqlError> = std::result::Result<T, E>;

#[derive(SimpleObject)]
pub struct PhotoUrls {
    original: String,
    large: Option<String>,
    thumb: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "Photo")]
pub struct GqlPhoto {
    id: String,
    user_id: String,
    filename: String,
    mime_type: String,
    file_size_bytes: u64,
    width: Option<u32>,
    height: Option<u32>,
    duration_ms: Option<u64>,
    taken_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    /// `PENDING`-style states as lowercase strings: pending, ready, failed, unprocessed.
    processing_status: String,
    processing_error: Option<String>,
    content_hash: String,
    tags: Vec<String>,
    metadata: async_graphql::Json<serde_json::Value>,
    urls: PhotoUrls,
}

impl From<Photo> for GqlPhoto {
    fn from(p: Photo) -> Self {
        let url = |name: &str| format!("/api/media/{}/{name}", p.id);
        GqlPhoto {
            urls: PhotoUrls {
                original: url("original"),
                large: p.has_renditions.then(|| url("large")),
                thumb: p.has_renditions.then(|| url("thumb")),
            },
            id: p.id.into(),
            user_id: p.user_id.into(),
            filename: p.filename,
            mime_type: p.mime_type,
            file_size_bytes: p.file_size_bytes,
            width: p.width,
            height: p.height,
            duration_ms: p.duration_ms,
            taken_at: p.taken_at,
            created_at: p.created_at,
            processing_status: p.processing_status,
            processing_error: p.processing_error,
            content_hash: p.content_hash,
            tags: p.tags,
            metadata: async_graphql::Json(p.metadata),
        }
    }
}

#[derive(SimpleObject)]
pub struct PhotoConnection {
    nodes: Vec<GqlPhoto>,
    /// Pass as `after` for the next page; null on the last page.
    end_cursor: Option<String>,
    has_next_page: bool,
}

#[derive(SimpleObject)]
#[graphql(name = "Album")]
pub struct GqlAlbum {
    id: String,
    name: String,
    slug: String,
    description: Option<String>,
    is_public: bool,
    cover_file_id: Option<String>,
    photo_count: u64,
    owner_id: String,
    created_at: DateTime<Utc>,
    /// Where anyone can read the album without signing in (`GET /albums/{id}`), when public.
    public_path: Option<String>,
}

impl From<Album> for GqlAlbum {
    fn from(a: Album) -> Self {
        GqlAlbum {
            public_path: a.is_public.then(|| format!("/albums/{}", a.id)),
            id: a.id.into(),
            name: a.name,
            slug: a.slug,
            description: a.description,
            is_public: a.is_public,
            cover_file_id: a.cover_file_id.map(Into::into),
            photo_count: a.photo_count,
            owner_id: a.owner_id.into(),
            created_at: a.created_at,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "ResumableUpload")]
pub struct GqlUpload {
    id: String,
    filename: String,
    size: u64,
    received_bytes: u64,
    expires_at: DateTime<Utc>,
    /// Join `upload:{id}` and send chunks as binary pushes.
    topic: String,
}

impl From<Upload> for GqlUpload {
    fn from(u: Upload) -> Self {
        GqlUpload {
            topic: crate::realtime::Topic::upload(&u.id),
            id: u.id.into(),
            filename: u.filename,
            size: u.size_bytes,
            received_bytes: u.received_bytes,
            expires_at: u.expires_at,
        }
    }
}

#[derive(InputObject, Default)]
pub struct PhotoFilterInput {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct MediaQuery;

#[Object]
impl MediaQuery {
    /// The community's timeline: newest `takenAt` (else upload time) first.
    #[allow(clippy::too_many_arguments)]
    async fn photos(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50, validator(minimum = 1, maximum = 200))] first: u32,
        after: Option<String>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        album_id: Option<String>,
        tag: Option<String>,
    ) -> Result<PhotoConnection> {
        let principal = principal(ctx)?;
        let filter = PhotoFilter {
            from,
            to,
            album_id: album_id.map(Into::into),
            tag,
        };
        let (photos, next) = ctx
            .data_unchecked::<MediaService>()
            .photos(principal, &filter, first, after.as_deref())
            .await?;
        Ok(PhotoConnection {
            nodes: photos.into_iter().map(Into::into).collect(),
            has_next_page: next.is_some(),
            end_cursor: next,
        })
    }

    async fn photo(&self, ctx: &Context<'_>, id: String) -> Result<GqlPhoto> {
        let principal = principal(ctx)?;
        let photo = ctx
            .data_unchecked::<MediaService>()
            .photo_for(Some(principal), &PhotoId::from(id))
            .await?;
        Ok(photo.into())
    }

    async fn albums(&self, ctx: &Context<'_>) -> Result<Vec<GqlAlbum>> {
        let principal = principal(ctx)?;
        let albums = ctx
            .data_unchecked::<MediaService>()
            .albums(principal)
            .await?;
        Ok(albums.into_iter().map(Into::into).collect())
    }

    async fn album(&self, ctx: &Context<'_>, slug: String) -> Result<GqlAlbum> {
        let principal = principal(ctx)?;
        Ok(ctx
            .data_unchecked::<MediaService>()
            .album_by_slug(principal, &slug)
            .await?
            .into())
    }
}

#[derive(Default)]
pub struct MediaMutation;

#[Object]
impl MediaMutation {
    /// An upload following the GraphQL multipart request spec.
    async fn upload_photo(&self, ctx: &Context<'_>, file: GqlUploadFile) -> Result<GqlPhoto> {
        let principal = principal(ctx)?;
        let media = ctx.data_unchecked::<MediaService>();
        // Reading the spooled upload failed: reported as async-graphql reports it.
        let value = file.value(ctx).map_err(async_graphql::Error::from)?;
        let filename = value.filename.clone();
        let mut content = tokio::fs::File::from_std(value.content);
        let mut ingest = media.begin_ingest(principal).await?;
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            let n = content.read(&mut buffer).await.map_err(MediaError::Io)?;
            if n == 0 {
                break;
            }
            if let Err(e) = ingest.write(&buffer[..n]).await {
                ingest.abort().await;
                return Err(e.into());
            }
        }
        let ingested = ingest.finish().await?;
        let (photo, _) = media.store_ingested(principal, ingested, &filename).await?;
        Ok(photo.into())
    }

    /// Opens a resumable upload; then join `upload:{id}` and push chunks.
    async fn create_upload(
        &self,
        ctx: &Context<'_>,
        filename: String,
        size: u64,
        sha256: String,
    ) -> Result<GqlUpload> {
        let principal = principal(ctx)?;
        let upload = ctx
            .data_unchecked::<MediaService>()
            .create_upload(principal, &filename, size, &sha256)
            .await?;
        Ok(upload.into())
    }

    async fn create_album(
        &self,
        ctx: &Context<'_>,
        name: String,
        description: Option<String>,
        #[graphql(default = false)] is_public: bool,
    ) -> Result<GqlAlbum> {
        let principal = principal(ctx)?;
        let album = ctx
            .data_unchecked::<MediaService>()
            .create_album(principal, &name, description, is_public)
            .await?;
        Ok(album.into())
    }

    async fn add_to_album(
        &self,
        ctx: &Context<'_>,
        album_id: String,
        photo_id: String,
    ) -> Result<GqlAlbum> {
        let principal = principal(ctx)?;
        Ok(ctx
            .data_unchecked::<MediaService>()
            .add_to_album(principal, &album_id.into(), &photo_id.into())
            .await?
            .into())
    }

    async fn remove_from_album(
        &self,
        ctx: &Context<'_>,
        album_id: String,
        photo_id: String,
    ) -> Result<GqlAlbum> {
        let principal = principal(ctx)?;
        Ok(ctx
            .data_unchecked::<MediaService>()
            .remove_from_album(principal, &album_id.into(), &photo_id.into())
            .await?
            .into())
    }

    async fn set_album_cover(
        &self,
        ctx: &Context<'_>,
        album_id: String,
        photo_id: String,
    ) -> Result<GqlAlbum> {
        let principal = principal(ctx)?;
        Ok(ctx
            .data_unchecked::<MediaService>()
            .set_album_cover(principal, &album_id.into(), &photo_id.into())
            .await?
            .into())
    }

    async fn delete_photo(&self, ctx: &Context<'_>, id: String) -> Result<bool> {
        let principal = principal(ctx)?;
        ctx.data_unchecked::<MediaService>()
            .delete_photo(principal, &id.into())
            .await?;
        Ok(true)
    }

    async fn delete_album(&self, ctx: &Context<'_>, id: String) -> Result<bool> {
        let principal = principal(ctx)?;
        ctx.data_unchecked::<MediaService>()
            .delete_album(principal, &id.into())
            .await?;
        Ok(true)
    }
}

#[derive(Default)]
pub struct MediaSubscription;

#[Subscription]
impl MediaSubscription {
    /// The caller's photos as they become ready (after processing).
    async fn photo_uploaded(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = GqlPhoto>> {
        let user_id = principal(ctx)?.user_id.clone();
        let mut events = ctx.data_unchecked::<Arc<dyn EventBus>>().subscribe();
        Ok(async_stream::stream! {
            loop {
                match events.recv().await {
                    Ok(event) if event.kind == super::events::PHOTO_UPLOADED && event.user_id.as_ref() == Some(&user_id) => {
                        if let Ok(photo) = serde_json::from_value::<Photo>(event.data.clone()) {
                            yield GqlPhoto::from(photo);
                        }
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }
}
