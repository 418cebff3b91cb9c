//! Files as media's [`UploadPlacement`]: a socket upload opened for a space
//! ([`FilesService::create_socket_upload`]) becomes a version of the file at its path, by the
//! same rules as every other write, instead of a photo.

use std::sync::Weak;

use async_trait::async_trait;

use super::service::{FilesService, Inner};
use super::FilesError;
use crate::contexts::auth::Principal;
use crate::contexts::media::{Ingested, MediaError, Placement, Upload, UploadPlacement};

/// Weak, because media (which holds this) is held by the service.
pub(super) struct FilesPlacement(pub Weak<Inner>);

/// Files' refusals as media errors, keeping those media has a code for.
fn to_media(e: FilesError) -> MediaError {
    match e {
        FilesError::NotFound => MediaError::NotFound,
        FilesError::Forbidden => MediaError::Forbidden,
        FilesError::GuestsMayNot(what) => MediaError::GuestsMayNot(what),
        FilesError::Media(e) => e,
        FilesError::Auth(e) => MediaError::Auth(e),
        FilesError::Database(e) => MediaError::Database(e),
        other => MediaError::Invalid(format!("the file cannot be stored: {other}")),
    }
}

#[async_trait]
impl UploadPlacement for FilesPlacement {
    async fn place(
        &self,
        by: &Principal,
        upload: &Upload,
        ingested: Ingested,
    ) -> Result<Placement, MediaError> {
        let Some(inner) = self.0.upgrade() else {
            return Ok(Placement::NotMine(ingested));
        };
        let files = FilesService::from_inner(inner);
        files
            .place_socket_upload(by, &upload.id, ingested)
            .await
            .map_err(to_media)
    }
}
