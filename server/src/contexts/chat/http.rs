//! Chat's REST routes under `/api/chat`. The socket carries the same operations live.

use std::sync::Arc;

use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::Config;
use crate::contexts::auth::AuthService;
use crate::error::AppError;
use crate::http::{ApiJson, AuthUser};
use crate::ids::{ConversationId, MessageId, UserId};

use super::{
    Activity, ChatService, Conversation, Message, MessageView, NewConversation, NewMessage,
    SearchFilter, SearchHit,
};

type Result<T, E = AppError> = std::result::Result<T, E>;

/// The routes, under any router state that hands over the [`ChatService`], the
/// [`AuthService`] (for [`AuthUser`]) and the configuration (for [`ApiJson`]).
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    ChatService: FromRef<S>,
    AuthService: FromRef<S>,
    Arc<Config>: FromRef<S>,
{
    Router::new()
        .route(
            "/conversations",
            get(list_conversations).post(create_conversation),
        )
        .route("/conversations/{id}", get(conversation).patch(rename))
        .route(
            "/conversations/{id}/messages",
            get(messages).post(send_message),
        )
        .route(
            "/conversations/{id}/messages/{message_id}",
            patch(edit_message).delete(delete_message),
        )
        .route(
            "/conversations/{id}/messages/{message_id}/reactions",
            post(react),
        )
        .route(
            "/conversations/{id}/messages/{message_id}/thread",
            get(thread),
        )
        .route("/conversations/{id}/read", post(mark_read))
        .route("/conversations/{id}/participants", post(add_participants))
        .route(
            "/conversations/{id}/participants/{user_id}",
            delete(remove_participant).put(set_role),
        )
        .route("/search", get(search))
}

/// # `POST /api/chat/conversations`
async fn create_conversation(
    State(chat): State<ChatService>,
    AuthUser(principal): AuthUser,
    ApiJson(request): ApiJson<NewConversation>,
) -> Result<(StatusCode, Json<Conversation>)> {
    Ok((
        StatusCode::CREATED,
        Json(chat.create_conversation(&principal, request).await?),
    ))
}

/// # `GET /api/chat/conversations`
async fn list_conversations(
    State(chat): State<ChatService>,
    AuthUser(principal): AuthUser,
) -> Result<Json<Value>> {
    Ok(Json(
        json!({ "conversations": chat.conversations(&principal).await? }),
    ))
}

/// # `GET /api/chat/conversations/{id}`
async fn conversation(
    State(chat): State<ChatService>,
    AuthUser(principal): AuthUser,
    Path(id): Path<ConversationId>,
) -> Result<Json<Conversation>> {
    Ok(Json(chat.conversation_for(&principal.user_id, &id).await?))
}

#[derive(Deserialize)]
struct Page {
    before: Option<u64>,
    limit: Option<u32>,
}

/// # `GET /api/chat/conversations/{id}/messages?before=OFFSET&limit=N` (newest first)
async fn messages(
    State(chat): State<ChatService>,
    AuthUser(principal): AuthUser,
    Path(id): Path<ConversationId>,
    Query(page): Query<Page>,
) -> Result<Json<Value>> {
    let messages = chat
        .messages(&principal, &id, page.before, page.limit)
        .await?;
    let next = messages.last().map(|m| m.offset);
    let messages = chat.views(messages).await?;
    Ok(Json(json!({ "messages": messages, "next_before": next })))
}

/// # `POST /api/chat/conversations/{id}/messages`
async fn send_message(
    State(chat): State<ChatService>,
    AuthUser(principal): AuthUser,
    Path(id): Path<ConversationId>,
    ApiJson(message): ApiJson<NewMessage>,
) -> Result<(StatusCode, Json<Message>)> {
    let (message, created) = chat.send_message(&principal, &id, message).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(message)))
}

/// # `DELETE /api/chat/conversations/{id}/participants/{user_id}`
async fn remove_participant(
    State(chat): State<ChatService>,
    AuthUser(principal): AuthUser,
    Path((id, user_id)): Path<(ConversationId, UserId)>,
) -> Result<StatusCode> {
    chat.remove_participant(&principal, &id, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rename {
    name: String,
}

/// # `PATCH /api/chat/conversations/{id}` `{name}` (a group's admins)
async fn rename(
    State(chat): State<ChatService>,
    AuthUser(principal): AuthUser,
    Path(id): Path<ConversationId>,
    ApiJson(body): ApiJson<Rename>,
) -> Result<Json<Conversation>> {
    Ok(Json(
        chat.rename_conversation(&principal, &id, &body.name)
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Emoji {
    emoji: String,
}

/// # `POST /api/chat/conversations/{id}/messages/{message_id}/reactions` `{emoji}` (toggles)
async fn react(
    State(chat): State<ChatService>,
    AuthUser(principal): AuthUser,
    Path((id, message_id)): Path<(ConversationId, MessageId)>,
    ApiJson(body): ApiJson<Emoji>,
) -> Result<Json<Activity>> {
    Ok(Json(
        chat.react(&principal, &id, &message_id, &body.emoji)
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Edit {
    body: String,
}

/// # `PATCH /api/chat/conversations/{id}/messages/{message_id}` `{body}` (its sender)
async fn edit_message(
    State(chat): State<ChatService>,
    AuthUser(principal): AuthUser,
    Path((id, message_id)): Path<(ConversationId, MessageId)>,
    ApiJson(body): ApiJson<Edit>,
) -> Result<Json<Activity>> {
    Ok(Json(
        chat.edit_message(&principal, &id, &message_id, &body.body)
            .await?,
    ))
}

/// # `DELETE /api/chat/conversations/{id}/messages/{message_id}` (its sender, a group admin)
async fn delete_message(
    State(chat): State<ChatService>,
    AuthUser(principal): AuthUser,
    Path((id, message_id)): Path<(ConversationId, MessageId)>,
) -> Result<Json<Activity>> {
    Ok(Json(
        chat.delete_message(&principal, &id, &message_id).await?,
    ))
}

#[derive(Deserialize)]
struct ThreadPage {
    after: Option<u64>,
    limit: Option<u32>,
}

/// # `GET /api/chat/conversations/{id}/messages/{message_id}/thread?after=OFFSET&limit=N`
async fn thread(
    State(chat): State<ChatService>,
    AuthUser(principal): AuthUser,
    Path((id, message_id)): Path<(ConversationId, MessageId)>,
    Query(page): Query<ThreadPage>,
) -> Result<Json<Vec<MessageView>>> {
    Ok(Json(
        chat.thread(&principal, &id, &message_id, page.after, page.limit)
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadUpTo {
    offset: u64,
}

/// # `POST /api/chat/conversations/{id}/read` `{offset}` → `{offset}` (the read position)
async fn mark_read(
    State(chat): State<ChatService>,
    AuthUser(principal): AuthUser,
    Path(id): Path<ConversationId>,
    ApiJson(body): ApiJson<ReadUpTo>,
) -> Result<Json<Value>> {
    let offset = chat.mark_read(&principal, &id, body.offset).await?;
    Ok(Json(json!({ "offset": offset })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewParticipants {
    user_ids: Vec<UserId>,
}

/// # `POST /api/chat/conversations/{id}/participants` `{user_ids}` (a group's admins)
async fn add_participants(
    State(chat): State<ChatService>,
    AuthUser(principal): AuthUser,
    Path(id): Path<ConversationId>,
    ApiJson(body): ApiJson<NewParticipants>,
) -> Result<Json<Conversation>> {
    Ok(Json(
        chat.add_participants(&principal, &id, &body.user_ids)
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    role: GroupRole,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum GroupRole {
    Admin,
    Member,
}

/// # `PUT /api/chat/conversations/{id}/participants/{user_id}` `{role: "admin"|"member"}`
async fn set_role(
    State(chat): State<ChatService>,
    AuthUser(principal): AuthUser,
    Path((id, user_id)): Path<(ConversationId, UserId)>,
    ApiJson(body): ApiJson<RoleChange>,
) -> Result<Json<Conversation>> {
    let admin = body.role == GroupRole::Admin;
    Ok(Json(
        chat.set_participant_role(&principal, &id, &user_id, admin)
            .await?,
    ))
}

#[derive(Deserialize)]
struct Search {
    q: String,
    conversation_id: Option<ConversationId>,
    sender_id: Option<UserId>,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
    first: Option<u32>,
    skip: Option<u32>,
}

/// # `GET /api/chat/search?q=…&conversation_id&sender_id&from&to&first&skip`
async fn search(
    State(chat): State<ChatService>,
    AuthUser(principal): AuthUser,
    Query(search): Query<Search>,
) -> Result<Json<Vec<SearchHit>>> {
    let filter = SearchFilter {
        conversation_id: search.conversation_id,
        sender_id: search.sender_id,
        from: search.from,
        to: search.to,
        ..SearchFilter::for_user(principal.user_id.clone())
    };
    let hits = chat
        .search_messages(
            &principal,
            &search.q,
            filter,
            search.skip.unwrap_or(0),
            search.first.unwrap_or(20),
        )
        .await?;
    Ok(Json(hits))
}
