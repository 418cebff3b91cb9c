//! `@name` mentions. A word after `@` names a participant when it equals, ignoring case and
//! accents, their display name without spaces (`@AnaSilva`), its first word (`@ana`) or
//! their email's local part. Each participant named (other than the sender) gets
//! `message.mentioned`, pushed to their `user:` topic as `mention`.

use super::events::{ChatEvent, Mention};
use super::search::terms::fold;
use super::{ChatService, Message};
use crate::contexts::auth::{Principal, User};
use crate::ids::CommunityId;

/// Characters of the message a mention carries.
const PREVIEW_CHARS: usize = 140;
/// Mentions handled per message at most.
const MAX_MENTIONS: usize = 20;

/// The folded words written after `@` in `body`.
pub fn mentioned_names(body: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (i, _) in body.match_indices('@') {
        // An `@` inside a word is an email address, not a mention.
        if body[..i]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric)
        {
            continue;
        }
        let name: String = body[i + 1..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
            .collect();
        let name = fold(name.trim_end_matches(['.', '-', '_']));
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
        if names.len() == MAX_MENTIONS {
            break;
        }
    }
    names
}

/// Whether `name` (folded) names `user`.
fn names(user: &User, name: &str) -> bool {
    let local = user.email.split('@').next().unwrap_or_default();
    let display = user.display_name.as_deref().unwrap_or_default();
    let whole: String = display.split_whitespace().collect();
    let first = display.split_whitespace().next().unwrap_or_default();
    [local, whole.as_str(), first]
        .iter()
        .any(|candidate| !candidate.is_empty() && fold(candidate) == name)
}

impl ChatService {
    /// Publishes `message.mentioned` for each participant the message names.
    pub(super) async fn notify_mentions(
        &self,
        by: &Principal,
        community_id: &CommunityId,
        message: &Message,
    ) {
        let wanted = mentioned_names(&message.body);
        if wanted.is_empty() {
            return;
        }
        let participants = match self.store().conversation(&message.conversation_id).await {
            Ok(Some(conversation)) => conversation.participant_ids,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "mentions not sent");
                return;
            }
        };
        let preview: String = message.body.chars().take(PREVIEW_CHARS).collect();
        for user_id in participants.iter().filter(|p| **p != by.user_id) {
            let Ok(user) = self.inner.auth.user(user_id).await else {
                continue;
            };
            if wanted.iter().any(|name| names(&user, name)) {
                let mention = Mention {
                    conversation_id: message.conversation_id.clone(),
                    message_id: message.id.clone(),
                    sender_id: by.user_id.clone(),
                    offset: message.offset,
                    preview: preview.clone(),
                };
                self.inner
                    .bus
                    .publish(ChatEvent::mentioned(community_id, user_id, &mention));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_after_an_at_sign_are_found_but_not_email_addresses() {
        assert_eq!(
            mentioned_names("oi @Ana, fala com @joão.silva. mail ana@example.org @ana"),
            ["ana", "joao.silva"]
        );
        assert!(mentioned_names("nobody @ here").is_empty());
    }

    #[test]
    fn a_name_matches_the_display_name_its_first_word_or_the_email() {
        let user = User {
            id: "u".into(),
            email: "joao.silva@example.org".into(),
            role: crate::contexts::auth::Role::Member,
            community_id: "c".into(),
            display_name: Some("João Pedro".into()),
            totp_enabled: false,
            created_at: chrono::Utc::now(),
            disabled: false,
            email_confirmed: true,
        };
        for name in ["joao", "joaopedro", "joao.silva"] {
            assert!(names(&user, name), "{name}");
        }
        assert!(!names(&user, "pedro"));
    }
}
