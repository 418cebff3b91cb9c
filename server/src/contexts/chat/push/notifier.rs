//! The notifier: reads `message.sent` from the bus; for each participant with no socket
//! open it records a notification and queues a push to each of their browsers. Pushes go
//! through a bounded queue to a few senders, so a slow push service never holds the bus
//! back: when the queue is full the push is dropped (the record stays) and a warning logged.
//! The messages waiting on the bus are taken together and their records written in one
//! transaction, so a busy community's notifications keep up with its messages.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc;

use super::send::{self, Outcome};
use super::store::PushStore;
use super::{PushError, Recipients, Vapid};
use crate::config::ChatConfig;
use crate::contexts::auth::Principal;
use crate::contexts::chat::events::{
    CONVERSATION_CREATED, MESSAGE_SENT, PARTICIPANT_ADDED, PARTICIPANT_REMOVED,
};
use crate::contexts::chat::{ChatError, ChatService, Conversation, Message};
use crate::db::Db;
use crate::events::EventBus;
use crate::ids::{ConversationId, MessageId, UserId};

/// Pushes waiting for a sender at most.
const QUEUE: usize = 1024;
/// Messages taken from the bus at once, their notifications recorded in one transaction.
const BATCH: usize = 256;
/// Conversations (with their participants) the notifier remembers between batches; it
/// forgets them all at any membership change it sees, and when it lags.
const MAX_CACHED_CONVERSATIONS: usize = 10_000;
/// Events after which who takes part in a conversation must be read again.
const MEMBERSHIP_CHANGES: [&str; 3] =
    [PARTICIPANT_ADDED, PARTICIPANT_REMOVED, CONVERSATION_CREATED];

type Conversations = HashMap<ConversationId, Option<Conversation>>;

/// Pushes in flight at once.
const SENDERS: usize = 4;
/// Failed deliveries in a row after which a subscription is dropped.
const MAX_FAILURES: i64 = 5;
/// Characters of the body a push shows.
const PREVIEW_CHARS: usize = 100;

/// A browser subscribed for Web Push.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    pub id: String,
    pub user_id: UserId,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
}

/// A message someone received while away.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Notification {
    pub id: String,
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub created_at: DateTime<Utc>,
    /// How many of the user's browsers the push reached.
    pub pushed: u32,
}

/// What a browser's service worker receives (decrypted), as JSON.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct PushPayload {
    pub kind: String,
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub sender_id: UserId,
    pub offset: u64,
    /// The body's first characters; none for an encrypted conversation.
    pub preview: Option<String>,
}

struct Job {
    notification_id: String,
    subscriptions: Vec<Subscription>,
    payload: Vec<u8>,
}

#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    store: PushStore,
    chat: ChatService,
    vapid: Vapid,
    http: reqwest::Client,
    plain_http_hosts: Vec<String>,
    keep_days: u32,
    recipients: OnceLock<Arc<dyn Recipients>>,
}

impl Notifier {
    pub fn new(db: Db, chat: ChatService, vapid: Vapid, config: &ChatConfig) -> Self {
        Notifier {
            inner: Arc::new(Inner {
                store: PushStore::new(db),
                chat,
                vapid,
                http: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap_or_default(),
                plain_http_hosts: config.push_plain_http_hosts.clone(),
                keep_days: config.notification_keep_days,
                recipients: OnceLock::new(),
            }),
        }
    }

    /// Who is online, and whether this node sends (set once, when the hub exists).
    pub fn set_recipients(&self, recipients: Arc<dyn Recipients>) {
        let _ = self.inner.recipients.set(recipients);
    }

    /// The VAPID public key browsers subscribe with.
    pub fn public_key(&self) -> &str {
        self.inner.vapid.public_key()
    }

    pub async fn subscribe(
        &self,
        by: &Principal,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
    ) -> Result<(), ChatError> {
        send::check(endpoint, p256dh, auth, &self.inner.plain_http_hosts)
            .map_err(|e| ChatError::Invalid(e.to_string()))?;
        self.inner
            .store
            .subscribe(&by.user_id, endpoint, p256dh, auth, Utc::now())
            .await?;
        Ok(())
    }

    pub async fn unsubscribe(&self, by: &Principal, endpoint: &str) -> Result<bool, ChatError> {
        Ok(self.inner.store.unsubscribe(&by.user_id, endpoint).await?)
    }

    /// The caller's notifications, newest first.
    pub async fn notifications(
        &self,
        by: &Principal,
        limit: u32,
    ) -> Result<Vec<Notification>, ChatError> {
        Ok(self
            .inner
            .store
            .notifications(&by.user_id, limit.clamp(1, 200))
            .await?)
    }

    /// Starts reading the bus and sending; runs until the bus closes.
    pub fn spawn(&self, bus: &Arc<dyn EventBus>) {
        let (jobs, queue) = mpsc::channel::<Job>(QUEUE);
        let queue = Arc::new(tokio::sync::Mutex::new(queue));
        for _ in 0..SENDERS {
            let (notifier, queue) = (self.clone(), queue.clone());
            tokio::spawn(async move {
                loop {
                    // The lock is held only while waiting for the next job, not across a send.
                    let job = queue.lock().await.recv().await;
                    let Some(job) = job else { return };
                    notifier.push(job).await;
                }
            });
        }
        let notifier = self.clone();
        let mut events = bus.subscribe();
        tokio::spawn(async move {
            let mut purged = std::time::Instant::now();
            let mut batch = Vec::with_capacity(BATCH);
            let mut conversations = Conversations::new();
            loop {
                // Wait for one event, then take every message already waiting behind it, so
                // a burst costs one transaction instead of one per away participant.
                match events.recv().await {
                    Ok(event) => batch.push(event),
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "notifier lagged behind the bus");
                        conversations.clear();
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                }
                while batch.len() < BATCH {
                    match events.try_recv() {
                        Ok(event) => batch.push(event),
                        Err(TryRecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "notifier lagged behind the bus");
                            conversations.clear();
                        }
                        Err(_) => break,
                    }
                }
                // Who takes part may have changed: ask the store again.
                if batch
                    .iter()
                    .any(|event| MEMBERSHIP_CHANGES.contains(&event.kind.as_str()))
                {
                    conversations.clear();
                }
                // Every node sees every message; one of them notifies.
                let messages: Vec<Message> = batch
                    .drain(..)
                    .filter(|event| event.kind == MESSAGE_SENT)
                    .filter_map(|event| event.data_as::<Message>().ok())
                    .collect();
                if !messages.is_empty() && notifier.sends() {
                    if let Err(e) = notifier.notify(&messages, &mut conversations, &jobs).await {
                        tracing::warn!(error = %e, "notifications not made");
                    }
                }
                if purged.elapsed() > std::time::Duration::from_secs(3600) {
                    purged = std::time::Instant::now();
                    let before =
                        Utc::now() - chrono::Duration::days(i64::from(notifier.inner.keep_days));
                    if let Err(e) = notifier.inner.store.purge(before).await {
                        tracing::warn!(error = %e, "old notifications not purged");
                    }
                }
            }
        });
    }

    fn sends(&self) -> bool {
        self.inner
            .recipients
            .get()
            .is_some_and(|r| r.sends_notifications())
    }

    fn is_online(&self, user_id: &UserId) -> bool {
        self.inner
            .recipients
            .get()
            .is_some_and(|r| r.is_online(user_id))
    }

    /// Records a notification for each away participant of each message (one transaction
    /// for them all) and queues their pushes.
    async fn notify(
        &self,
        messages: &[Message],
        conversations: &mut Conversations,
        jobs: &mpsc::Sender<Job>,
    ) -> Result<(), ChatError> {
        if conversations.len() > MAX_CACHED_CONVERSATIONS {
            conversations.clear();
        }
        let mut away = Vec::new();
        let mut payloads = Vec::new();
        for message in messages {
            if !conversations.contains_key(&message.conversation_id) {
                let conversation = self
                    .inner
                    .chat
                    .store()
                    .conversation(&message.conversation_id)
                    .await?;
                conversations.insert(message.conversation_id.clone(), conversation);
            }
            let Some(Some(conversation)) = conversations.get(&message.conversation_id) else {
                continue;
            };
            let payload = PushPayload {
                kind: "message".into(),
                conversation_id: message.conversation_id.clone(),
                message_id: message.id.clone(),
                sender_id: message.sender_id.clone(),
                offset: message.offset,
                preview: (!conversation.encrypted)
                    .then(|| message.body.chars().take(PREVIEW_CHARS).collect()),
            };
            let payload = serde_json::to_vec(&payload).unwrap_or_default();
            for user_id in &conversation.participant_ids {
                if *user_id == message.sender_id || self.is_online(user_id) {
                    continue;
                }
                away.push((
                    user_id.clone(),
                    message.conversation_id.clone(),
                    message.id.clone(),
                ));
                payloads.push(payload.clone());
            }
        }
        let ids = self.inner.store.record(&away, Utc::now()).await?;
        let mut subscriptions: HashMap<UserId, Vec<Subscription>> = HashMap::new();
        for ((user_id, ..), (notification_id, payload)) in
            away.into_iter().zip(ids.into_iter().zip(payloads))
        {
            if !subscriptions.contains_key(&user_id) {
                let theirs = self.inner.store.subscriptions(&user_id).await?;
                subscriptions.insert(user_id.clone(), theirs);
            }
            let theirs = &subscriptions[&user_id];
            if theirs.is_empty() {
                continue;
            }
            let job = Job {
                notification_id,
                subscriptions: theirs.clone(),
                payload,
            };
            if jobs.try_send(job).is_err() {
                tracing::warn!(user = %user_id, "push queue full: a push was dropped");
            }
        }
        Ok(())
    }

    async fn push(&self, job: Job) {
        let mut reached = 0;
        for subscription in &job.subscriptions {
            let outcome = send::deliver(
                &self.inner.http,
                &self.inner.vapid,
                subscription,
                &job.payload,
            )
            .await;
            let store = &self.inner.store;
            let result = match outcome {
                Outcome::Delivered => {
                    reached += 1;
                    store.delivered(&subscription.id).await
                }
                Outcome::Gone => store.remove(&subscription.id).await,
                Outcome::Failed(reason) => {
                    tracing::warn!(%reason, endpoint = %subscription.endpoint, "a push failed");
                    match store.failed(&subscription.id).await {
                        Ok(n) if n >= MAX_FAILURES => store.remove(&subscription.id).await,
                        Ok(_) => Ok(()),
                        Err(e) => Err(e),
                    }
                }
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "push bookkeeping failed");
            }
        }
        if let Err(e) = self
            .inner
            .store
            .set_pushed(&job.notification_id, reached)
            .await
        {
            tracing::warn!(error = %e, "push bookkeeping failed");
        }
    }
}

impl From<PushError> for ChatError {
    fn from(e: PushError) -> Self {
        ChatError::Invalid(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    //! A local push service stands in for the browser vendor's: it takes the POST, and the
    //! test decrypts the body with the subscriber's private key following RFC 8291 step by
    //! step (ECDH, the two HKDF rounds, AES-128-GCM, the padding delimiter) — written here
    //! from the RFC, independent of the crate that encrypted it.

    use super::*;
    use crate::contexts::auth::Role;
    use crate::contexts::chat::{ConversationKind, NewConversation, NewMessage};
    use crate::db::testing::Fixture;
    use aes_gcm::aead::{Aead, KeyInit};
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
    use base64::Engine;
    use hkdf::Hkdf;
    use sha2::Sha256;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    struct Away {
        online: Mutex<Vec<UserId>>,
        sends: AtomicBool,
    }

    impl Recipients for Away {
        fn is_online(&self, user_id: &UserId) -> bool {
            self.online.lock().unwrap().contains(user_id)
        }
        fn sends_notifications(&self) -> bool {
            self.sends.load(Ordering::SeqCst)
        }
    }

    /// RFC 8291 §3.4 and RFC 8188 §2, receiver side.
    fn decrypt(ua_secret: &p256::SecretKey, auth: &[u8; 16], body: &[u8]) -> Vec<u8> {
        let salt = &body[..16];
        let id_len = body[20] as usize;
        let as_public = &body[21..21 + id_len];
        let ciphertext = &body[21 + id_len..];
        let server = p256::PublicKey::from_sec1_bytes(as_public).unwrap();
        let shared = p256::ecdh::diffie_hellman(ua_secret.to_nonzero_scalar(), server.as_affine());
        let ua_public = ua_secret.public_key().to_sec1_bytes();
        let mut key_info = b"WebPush: info\0".to_vec();
        key_info.extend_from_slice(&ua_public);
        key_info.extend_from_slice(as_public);
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes())
            .expand(&key_info, &mut ikm)
            .unwrap();
        let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
        prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
            .unwrap();
        prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
            .unwrap();
        let cipher = aes_gcm::Aes128Gcm::new_from_slice(&cek).unwrap();
        let mut plain = cipher
            .decrypt(&aes_gcm::Nonce::from(nonce), ciphertext)
            .expect("the push decrypts with the subscriber's keys");
        while plain.last() == Some(&0) {
            plain.pop();
        }
        assert_eq!(plain.pop(), Some(2), "the last record's delimiter");
        plain
    }

    type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

    /// A push service on a free local port: answers 201, or 410 for `/gone`.
    async fn push_service() -> (String, Received) {
        let received: Received = Arc::default();
        let kept = received.clone();
        let app = axum::Router::new()
            .route(
                "/push/{id}",
                axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                    let kept = kept.clone();
                    async move {
                        kept.lock().unwrap().push((headers, body));
                        StatusCode::CREATED
                    }
                }),
            )
            .route("/gone", axum::routing::post(|| async { StatusCode::GONE }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (address.to_string(), received)
    }

    /// A group of `admin` with `members`.
    async fn group_of(
        chat: &ChatService,
        admin: &Principal,
        members: &[&Principal],
    ) -> crate::contexts::chat::Conversation {
        let new = NewConversation {
            kind: ConversationKind::Group,
            name: None,
            participant_ids: members.iter().map(|m| m.user_id.clone()).collect(),
            encrypted: false,
        };
        chat.create_conversation(admin, new).await.unwrap()
    }

    #[tokio::test]
    async fn an_away_participant_gets_a_record_and_an_encrypted_push_their_browser_can_read() {
        let fx = Fixture::new().await;
        let chat = fx.chat();
        let admin = fx.sign_up("admin@example.org", None).await;
        let ana = fx.invited(&admin, "ana@example.org", Role::Member).await;
        let bia = fx.invited(&admin, "bia@example.org", Role::Member).await;
        let (host, received) = push_service().await;
        let config = ChatConfig {
            push_plain_http_hosts: vec![host.clone()],
            ..ChatConfig::default()
        };
        let vapid = Vapid::load_or_create(
            &fx.data_dir.path().join("vapid.pem"),
            "mailto:ops@example.org",
        )
        .unwrap();
        let notifier = Notifier::new(fx.db.clone(), chat.clone(), vapid, &config);
        let recipients = Arc::new(Away {
            online: Mutex::new(vec![bia.user_id.clone()]),
            sends: AtomicBool::new(true),
        });
        notifier.set_recipients(recipients.clone());
        notifier.spawn(&fx.bus);

        // Ana's browser subscribes; a bad subscription is refused.
        let ua_secret = p256::SecretKey::from_slice(&[42u8; 32]).unwrap();
        let auth = [9u8; 16];
        let p256dh = B64URL.encode(ua_secret.public_key().to_sec1_bytes());
        let endpoint = format!("http://{host}/push/ana");
        notifier
            .subscribe(&ana, &endpoint, &p256dh, &B64URL.encode(auth))
            .await
            .unwrap();
        let refused = notifier
            .subscribe(
                &ana,
                "https://push.example.net/x",
                "AAAA",
                &B64URL.encode(auth),
            )
            .await;
        assert!(matches!(refused, Err(ChatError::Invalid(_))), "{refused:?}");
        let gone = format!("http://{host}/gone");
        notifier
            .subscribe(&ana, &gone, &p256dh, &B64URL.encode(auth))
            .await
            .unwrap();

        let group = group_of(&chat, &admin, &[&ana, &bia]).await;
        let (message, _) = chat
            .send_message(
                &admin,
                &group.id,
                NewMessage {
                    body: "o açaí chegou".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();

        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while received.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "no push arrived");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let (headers, body) = received.lock().unwrap()[0].clone();
        assert_eq!(headers["content-encoding"], "aes128gcm");
        let authorization = headers["authorization"].to_str().unwrap();
        assert!(authorization.starts_with("vapid t="), "{authorization}");
        assert!(authorization.ends_with(&format!("k={}", notifier.public_key())));
        let payload: PushPayload =
            serde_json::from_slice(&decrypt(&ua_secret, &auth, &body)).unwrap();
        assert_eq!(payload.message_id, message.id);
        assert_eq!(payload.preview.as_deref(), Some("o açaí chegou"));

        // Ana has a record; Bia (online) and the sender have none. The 410 endpoint is gone.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let records = notifier.notifications(&ana, 10).await.unwrap();
            if records.first().is_some_and(|n| n.pushed == 1)
                && notifier
                    .inner
                    .store
                    .subscriptions(&ana.user_id)
                    .await
                    .unwrap()
                    .len()
                    == 1
            {
                assert_eq!(records[0].message_id, message.id);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{records:?}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(notifier.notifications(&bia, 10).await.unwrap().is_empty());
        assert!(notifier.notifications(&admin, 10).await.unwrap().is_empty());

        // A node that is not the sender makes no records.
        recipients.sends.store(false, Ordering::SeqCst);
        chat.send_message(
            &admin,
            &group.id,
            NewMessage {
                body: "de novo".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(notifier.notifications(&ana, 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_burst_of_messages_is_recorded_for_every_away_participant_exactly_once_and_newcomers_too(
    ) {
        let fx = Fixture::new().await;
        let chat = fx.chat();
        let admin = fx.sign_up("admin@example.org", None).await;
        let ana = fx.invited(&admin, "ana@example.org", Role::Member).await;
        let bia = fx.invited(&admin, "bia@example.org", Role::Member).await;
        let vapid = Vapid::load_or_create(
            &fx.data_dir.path().join("vapid.pem"),
            "mailto:ops@example.org",
        )
        .unwrap();
        let notifier = Notifier::new(fx.db.clone(), chat.clone(), vapid, &ChatConfig::default());
        notifier.set_recipients(Arc::new(Away {
            online: Mutex::new(vec![bia.user_id.clone()]),
            sends: AtomicBool::new(true),
        }));
        notifier.spawn(&fx.bus);
        let mut conversations = Vec::new();
        for _ in 0..3 {
            conversations.push(group_of(&chat, &admin, &[&ana, &bia]).await.id);
        }
        // More messages than one batch, sent at once from several tasks.
        const SENT: usize = 600;
        let sends = (0..SENT).map(|i| {
            let (chat, admin, id) = (chat.clone(), admin.clone(), conversations[i % 3].clone());
            tokio::spawn(async move {
                let message = NewMessage {
                    body: format!("message {i}"),
                    ..Default::default()
                };
                chat.send_message(&admin, &id, message).await.unwrap().0.id
            })
        });
        let mut sent = Vec::new();
        for send in sends {
            sent.push(send.await.unwrap().to_string());
        }
        let recorded = || async {
            crate::db::query_as::<(String, String)>(
                "SELECT user_id, message_id FROM chat.notifications",
            )
            .fetch_all(&fx.db)
            .await
            .unwrap()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while recorded().await.len() < SENT {
            assert!(
                std::time::Instant::now() < deadline,
                "notifications fell behind"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let rows = recorded().await;
        // Ana (away) once per message; Bia (online) and the sender never.
        assert_eq!(rows.len(), SENT);
        assert!(rows
            .iter()
            .all(|(user, _)| user.as_str() == ana.user_id.as_str()));
        let mut messages: Vec<String> = rows.into_iter().map(|(_, message)| message).collect();
        messages.sort();
        sent.sort();
        assert_eq!(messages, sent);

        // Someone added later is notified too: the notifier does not go by who took part
        // when it first saw the conversation.
        let carla = fx.invited(&admin, "carla@example.org", Role::Member).await;
        chat.add_participants(
            &admin,
            &conversations[0],
            std::slice::from_ref(&carla.user_id),
        )
        .await
        .unwrap();
        let message = NewMessage {
            body: "bem-vinda".into(),
            ..Default::default()
        };
        chat.send_message(&admin, &conversations[0], message)
            .await
            .unwrap();
        while !recorded()
            .await
            .iter()
            .any(|(user, _)| user.as_str() == carla.user_id.as_str())
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the new participant was not notified"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
