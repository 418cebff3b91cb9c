//! `taina import`: an export into this server, through the services: the community and its
//! users are created (with new random passwords), conversations started and messages sent in
//! order by their senders, photos uploaded by their owners (renditions follow from the media
//! worker), albums rebuilt. A community of the same name must not exist yet.

use crate::ids::{PhotoId, UserId};
use std::collections::HashMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::format::*;
use super::{acting_as, io, ExportError};
use crate::contexts::auth::{AuthService, Role, User};
use crate::contexts::chat::{ChatService, ConversationKind, NewConversation, NewMessage};
use crate::contexts::media::MediaService;

/// What an import created (and what it had to leave out).
#[derive(Clone, Debug, Default)]
pub struct Imported {
    pub community: String,
    /// Each user's email and the new password they were given.
    pub passwords: Vec<(String, String)>,
    pub conversations: usize,
    pub messages: usize,
    pub photos: usize,
    pub albums: usize,
    /// Things that could not be brought over, one line each.
    pub skipped: Vec<String>,
}

fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Result<T, ExportError> {
    let path = dir.join(name);
    let text = std::fs::read(&path).map_err(io("cannot read", &path))?;
    serde_json::from_slice(&text).map_err(|e| ExportError::Format {
        file: name.to_string(),
        error: e.to_string(),
    })
}

/// Imports the export at `from`.
pub async fn import_community(
    auth: &AuthService,
    chat: &ChatService,
    media: &MediaService,
    from: &Path,
) -> Result<Imported, ExportError> {
    if !from.join(HEADER_FILE).is_file() {
        return Err(ExportError::NotAnExport(from.to_path_buf()));
    }
    let header: Header = read_json(from, HEADER_FILE)?;
    if header.format != FORMAT {
        return Err(ExportError::Invalid(format!(
            "export format {} (this version reads {FORMAT})",
            header.format
        )));
    }
    let users: Vec<ExportedUser> = read_json(from, USERS_FILE)?;
    let conversations: Vec<ExportedConversation> = read_json(from, CONVERSATIONS_FILE)?;
    let photos: Vec<ExportedPhoto> = read_json(from, PHOTOS_FILE)?;
    let albums: Vec<ExportedAlbum> = read_json(from, ALBUMS_FILE)?;
    if auth.find_community_id(&header.name).await.is_ok() {
        return Err(ExportError::Invalid(format!(
            "a community named {:?} exists already on this server",
            header.name
        )));
    }
    let mut imported = Imported {
        community: header.name.clone(),
        ..Imported::default()
    };

    // Admins first, so the community is created by one of them.
    let mut ordered: Vec<&ExportedUser> = users.iter().collect();
    ordered.sort_by_key(|u| u.role != "admin");
    let mut people: HashMap<&str, User> = HashMap::new();
    for user in ordered {
        let role: Role = user.role.parse().map_err(|_| {
            ExportError::Invalid(format!("{}: unknown role {}", user.email, user.role))
        })?;
        let password = nanoid::nanoid!(20);
        let created = auth
            .create_user(&user.email, password.clone(), role, &header.name)
            .await?;
        imported.passwords.push((created.email.clone(), password));
        people.insert(user.id.as_str(), created);
    }
    let admin = people
        .values()
        .find(|u| u.role == Role::Admin)
        .cloned()
        .ok_or_else(|| ExportError::Invalid("the export has no admin".into()))?;
    // Who acts for someone who may not (a guest cannot upload or own albums): the admin.
    let able = |id: &UserId| -> User {
        people
            .get(id.as_str())
            .filter(|u| u.role != Role::Guest)
            .cloned()
            .unwrap_or_else(|| admin.clone())
    };

    for conversation in &conversations {
        let participants: Vec<&User> = conversation
            .participant_ids
            .iter()
            .filter_map(|id| people.get(id.as_str()))
            .collect();
        let Some(creator) = participants.iter().find(|u| u.role != Role::Guest) else {
            imported.skipped.push(format!(
                "conversation {}: no participant may start it",
                conversation.id
            ));
            continue;
        };
        let request = NewConversation {
            kind: if conversation.kind == "direct" {
                ConversationKind::Direct
            } else {
                ConversationKind::Group
            },
            name: conversation.name.clone(),
            participant_ids: participants
                .iter()
                .filter(|u| u.id != creator.id)
                .map(|u| u.id.clone())
                .collect(),
            encrypted: conversation.encrypted,
        };
        let created = match chat.create_conversation(&acting_as(creator), request).await {
            Ok(created) => created,
            Err(e) => {
                imported
                    .skipped
                    .push(format!("conversation {}: {e}", conversation.id));
                continue;
            }
        };
        imported.conversations += 1;
        let mut messages = conversation.messages.clone();
        messages.sort_by_key(|m| m.offset);
        for message in messages {
            let Some(sender) = people.get(message.sender_id.as_str()) else {
                imported.skipped.push(format!(
                    "message {}: its sender is not in the export",
                    message.id
                ));
                continue;
            };
            let new = NewMessage {
                body: message.body.clone(),
                client_id: message.client_id.clone(),
                ..Default::default()
            };
            match chat
                .send_message(&acting_as(sender), &created.id, new)
                .await
            {
                Ok(_) => imported.messages += 1,
                Err(e) => imported
                    .skipped
                    .push(format!("message {}: {e}", message.id)),
            }
        }
    }

    let mut photo_ids: HashMap<&PhotoId, PhotoId> = HashMap::new();
    for photo in &photos {
        let path = from.join(ORIGINALS_DIR).join(&photo.sha256);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(io("cannot read", &path))?;
        if hex::encode(Sha256::digest(&bytes)) != photo.sha256 {
            imported.skipped.push(format!(
                "photo {}: its original does not match its SHA-256",
                photo.id
            ));
            continue;
        }
        let owner = acting_as(&able(&photo.user_id));
        let mut ingest = media.begin_ingest(&owner).await?;
        ingest.write(&bytes).await?;
        let ingested = ingest.finish().await?;
        let (stored, _new) = media
            .store_ingested(&owner, ingested, &photo.original_filename)
            .await?;
        photo_ids.insert(&photo.id, stored.id);
        imported.photos += 1;
    }

    for album in &albums {
        let owner = acting_as(&able(&album.owner_id));
        let created = media
            .create_album(
                &owner,
                &album.name,
                album.description.clone(),
                album.is_public,
            )
            .await?;
        for id in &album.photo_ids {
            if let Some(new_id) = photo_ids.get(id) {
                media.add_to_album(&owner, &created.id, new_id).await?;
            }
        }
        if let Some(new_cover) = album
            .cover_photo_id
            .as_ref()
            .and_then(|id| photo_ids.get(id))
        {
            media
                .set_album_cover(&owner, &created.id, new_cover)
                .await?;
        }
        imported.albums += 1;
    }
    Ok(imported)
}
