//! Chat's REST routes under `/api/chat`. The socket carries the same operations live.

use std::sync::Arc;

use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::Config;
use crate::contexts::auth::AuthService;
use crate::error::AppError;
use crate::http::{ApiJson, AuthUser};
use crate::ids::{ConversationId, UserId};

use super::{ChatService, Conversation, Message, NewConversation, NewMessage};

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
        .route("/conversations/{id}", get(conversation))
        .route(
            "/conversations/{id}/messages",
            get(messages).post(send_message),
        )
        .route(
            "/conversations/{id}/participants/{user_id}",
            delete(remove_participant),
        )
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
    let next = messages
        .last()
        .map(|m| m.offset)
        .filter(|_| !messages.is_empty());
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
