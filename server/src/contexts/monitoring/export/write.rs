//! `taina export`: a community through the services' own reads, as the community's first
//! admin would see it, into a directory of JSON files and original photos.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::format::*;
use super::{acting_as, io, ExportError};
use crate::contexts::auth::{AuthService, Role};
use crate::contexts::chat::{ChatService, ConversationKind};
use crate::contexts::media::{MediaService, PhotoFilter, Rendition};

/// Messages and photos read per call.
const PAGE: u32 = 500;

/// What an export wrote.
#[derive(Clone, Debug)]
pub struct Exported {
    pub path: PathBuf,
    pub users: usize,
    pub conversations: usize,
    pub messages: usize,
    pub photos: usize,
    pub albums: usize,
    pub original_bytes: u64,
}

/// Exports the community `community` (slug, name or id) into the new directory `to`.
pub async fn export_community(
    auth: &AuthService,
    chat: &ChatService,
    media: &MediaService,
    community: &str,
    to: &Path,
) -> Result<Exported, ExportError> {
    let community_id = match auth.community_id_by_slug(community).await? {
        Some(id) => id,
        None => auth.find_community_id(community).await?,
    };
    let community = auth.community(&community_id).await?;
    if std::fs::read_dir(to).is_ok_and(|mut e| e.next().is_some()) {
        return Err(ExportError::Invalid(format!(
            "{} is not empty",
            to.display()
        )));
    }
    let originals = to.join(ORIGINALS_DIR);
    std::fs::create_dir_all(&originals).map_err(io("cannot create", &originals))?;

    let users = auth.list_users(Some(&community_id)).await?;
    let admin = users
        .iter()
        .find(|u| u.role == Role::Admin)
        .ok_or_else(|| ExportError::Invalid("the community has no admin".into()))?;
    let viewer = acting_as(admin);
    let exported_users: Vec<ExportedUser> = users
        .iter()
        .map(|u| ExportedUser {
            id: u.id.clone(),
            email: u.email.clone(),
            role: u.role.to_string(),
            display_name: u.display_name.clone(),
            created_at: u.created_at,
        })
        .collect();

    let mut conversations = Vec::new();
    let mut message_count = 0;
    for conversation in chat.community_conversations(&community_id).await? {
        let mut messages = Vec::new();
        let mut after = 0;
        while after < conversation.last_offset {
            let page = chat
                .messages_between(&conversation, after, conversation.last_offset, PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = last.offset;
            // A deleted message is a tombstone with nothing left to export.
            let kept = page.into_iter().filter(|m| m.deleted_at.is_none());
            messages.extend(kept.map(|m| ExportedMessage {
                id: m.id,
                sender_id: m.sender_id,
                body: m.body,
                client_id: m.client_id,
                offset: m.offset,
                sent_at: m.inserted_at,
            }));
        }
        message_count += messages.len();
        conversations.push(ExportedConversation {
            id: conversation.id,
            kind: match conversation.kind {
                ConversationKind::Direct => "direct".into(),
                ConversationKind::Group => "group".into(),
            },
            name: conversation.name,
            participant_ids: conversation.participant_ids,
            created_at: conversation.created_at,
            encrypted: conversation.encrypted,
            messages,
        });
    }

    let mut photos = Vec::new();
    let mut written = HashSet::new();
    let mut original_bytes = 0;
    let mut after: Option<String> = None;
    loop {
        let (page, next) = media
            .photos(&viewer, &PhotoFilter::default(), PAGE, after.as_deref())
            .await?;
        for photo in page {
            if written.insert(photo.content_hash.clone()) {
                let path = originals.join(&photo.content_hash);
                original_bytes += copy_original(media, &photo, &path).await?;
            }
            photos.push(ExportedPhoto {
                id: photo.id,
                user_id: photo.user_id,
                original_filename: photo.original_filename,
                mime_type: photo.mime_type,
                bytes: photo.file_size_bytes,
                sha256: photo.content_hash,
                width: photo.width,
                height: photo.height,
                taken_at: photo.taken_at,
                tags: photo.tags,
                created_at: photo.created_at,
            });
        }
        match next {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }

    let mut albums = Vec::new();
    for album in media.albums(&viewer).await? {
        let filter = PhotoFilter {
            album_id: Some(album.id.clone()),
            ..PhotoFilter::default()
        };
        let mut photo_ids = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (page, next) = media
                .photos(&viewer, &filter, PAGE, after.as_deref())
                .await?;
            photo_ids.extend(page.into_iter().map(|p| p.id));
            match next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        albums.push(ExportedAlbum {
            id: album.id,
            owner_id: album.owner_id,
            name: album.name,
            description: album.description,
            is_public: album.is_public,
            cover_photo_id: album.cover_file_id,
            photo_ids,
            created_at: album.created_at,
        });
    }

    let header = Header {
        format: FORMAT,
        exported_at: chrono::Utc::now(),
        taina_version: env!("CARGO_PKG_VERSION").to_string(),
        community_id: community.id,
        name: community.name,
        slug: community.slug,
    };
    write_json(to, USERS_FILE, &exported_users)?;
    write_json(to, CONVERSATIONS_FILE, &conversations)?;
    write_json(to, PHOTOS_FILE, &photos)?;
    write_json(to, ALBUMS_FILE, &albums)?;
    let readme = to.join("README.md");
    std::fs::write(&readme, README).map_err(io("cannot write", &readme))?;
    // Last: a directory with a header is a finished export.
    write_json(to, HEADER_FILE, &header)?;
    Ok(Exported {
        path: to.to_path_buf(),
        users: exported_users.len(),
        conversations: conversations.len(),
        messages: message_count,
        photos: photos.len(),
        albums: albums.len(),
        original_bytes,
    })
}

fn write_json(dir: &Path, name: &str, value: &impl serde::Serialize) -> Result<(), ExportError> {
    let path = dir.join(name);
    let text = serde_json::to_vec_pretty(value).map_err(|e| ExportError::Format {
        file: name.to_string(),
        error: e.to_string(),
    })?;
    std::fs::write(&path, text).map_err(io("cannot write", &path))
}

async fn copy_original(
    media: &MediaService,
    photo: &crate::contexts::media::Photo,
    path: &Path,
) -> Result<u64, ExportError> {
    let mut read = media.read(photo, Rendition::Original, None).await?;
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(io("cannot create", path))?;
    let mut bytes = 0;
    while let Some(chunk) = read.stream.next().await {
        let chunk = chunk?;
        bytes += chunk.len() as u64;
        file.write_all(&chunk)
            .await
            .map_err(io("cannot write", path))?;
    }
    file.flush().await.map_err(io("cannot write", path))?;
    Ok(bytes)
}
