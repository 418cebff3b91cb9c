//! `messageReceived` over the socket, served in groups: the subscribers of one conversation who
//! sent the same document, operation name and variables form a group, which renders each
//! message once, through the schema (so a result is what the subscription's own execution
//! gives), and sends it to every member. An idle subscriber is its membership here and its
//! socket's operation: no task, no stream, none of async-graphql's per-operation state (which
//! cost ~15 KB a subscription; docs/performance.md). A group renders on the task that hands it
//! the item (the chat feed's), and runs a task of its own only while it waits for storage.
//!
//! A member joins before its resolver reads the conversation's position, and waits: results
//! rendered meanwhile are kept until the resolver's own (the recovery prefix) are out, then
//! those past its position follow, and later only those. A group keeps the conversation's last
//! offset and fills a gap in it from storage (messages and activity share offsets).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;
use dashmap::DashMap;
use futures_util::StreamExt;

use super::graphql::GqlMessage;
use super::{ChatError, ChatService, FeedItem, LogEntry, Message};
use crate::graphql::{AppSchema, GqlError};
use crate::ids::{ConversationId, UserId};
use crate::socket::{Handover, Rendered, Sent, Served, SocketOperation};
use crate::task::run_or_spawn;

/// Items a group may have waiting to be rendered. Beyond it the newest message or activity
/// takes the place of the one queued last, whose gap is then filled from storage.
const MAILBOX: usize = 1024;

/// In a render's request data: the one result the resolver yields.
pub(super) struct Render(Mutex<Option<Result<GqlMessage, GqlError>>>);

impl Render {
    pub(super) fn take(&self) -> Option<Result<GqlMessage, GqlError>> {
        self.0.lock().expect("render lock").take()
    }
}

/// The groups, by conversation; a group goes when its last member leaves.
#[derive(Default)]
pub(super) struct SubscriptionGroups {
    groups: DashMap<ConversationId, Vec<Arc<Group>>>,
    next_member: AtomicU64,
}

struct Group {
    conversation: ConversationId,
    query: Box<str>,
    /// The query parsed: each render runs a copy rather than parsing it again.
    document: Arc<ExecutableDocument>,
    operation_name: Option<Box<str>>,
    variables: Box<str>,
    schema: AppSchema,
    chat: ChatService,
    recovery_max: u32,
    position: Mutex<Position>,
    members: Mutex<Vec<Member>>,
    mailbox: Mutex<Mailbox>,
}

#[derive(Default)]
struct Position {
    /// Known from the first member's read of the conversation.
    epoch: Option<String>,
    /// The last offset the group handled.
    last: Option<u64>,
}

#[derive(Default)]
struct Mailbox {
    items: VecDeque<FeedItem>,
    /// A task is rendering them.
    scheduled: bool,
}

struct Member {
    id: u64,
    user: UserId,
    operation: Arc<SocketOperation>,
    /// The conversation's position when the member joined: nothing up to it is sent live.
    after: Option<u64>,
    /// Until the resolver's own results are out: what to send then.
    waiting: Option<Vec<Waited>>,
}

enum Waited {
    Result(u64, Arc<Rendered>),
    End(Arc<Rendered>),
}

/// One subscriber's place in a group: what serves its operation.
pub(super) struct Membership {
    groups: Arc<SubscriptionGroups>,
    group: Arc<Group>,
    member: u64,
}

impl SubscriptionGroups {
    /// Whether any group listens to this conversation.
    pub(super) fn watches(&self, conversation: &str) -> bool {
        self.groups.contains_key(conversation)
    }

    /// Adds a waiting member to the group its request belongs to (made if there is none).
    pub(super) fn join(
        self: &Arc<Self>,
        chat: &ChatService,
        conversation: &ConversationId,
        user: &UserId,
        handover: &Handover,
        recovery_max: u32,
    ) -> Arc<Membership> {
        let member = Member {
            id: self.next_member.fetch_add(1, Ordering::Relaxed),
            user: user.clone(),
            operation: handover.operation.clone(),
            after: None,
            waiting: Some(Vec::new()),
        };
        let id = member.id;
        let mut groups = self.groups.entry(conversation.clone()).or_default();
        let group = match groups.iter().find(|group| group.serves(handover)) {
            Some(group) => group.clone(),
            None => {
                let group = Arc::new(Group {
                    conversation: conversation.clone(),
                    query: handover.query.clone(),
                    document: handover.document.clone(),
                    operation_name: handover.operation_name.clone(),
                    variables: handover.variables.clone(),
                    schema: handover.schema.clone(),
                    chat: chat.clone(),
                    recovery_max,
                    position: Mutex::default(),
                    members: Mutex::new(Vec::with_capacity(1)),
                    mailbox: Mutex::default(),
                });
                groups.push(group.clone());
                group
            }
        };
        group.members.lock().expect("members lock").push(member);
        drop(groups);
        Arc::new(Membership {
            groups: self.clone(),
            group,
            member: id,
        })
    }

    /// Hands an item of a conversation to its groups; those idle render it at once.
    pub(super) fn deliver(self: &Arc<Self>, conversation: &str, item: &FeedItem) {
        let Some(groups) = self.groups.get(conversation).map(|groups| groups.clone()) else {
            return;
        };
        for group in groups {
            // A render waits on nothing (filling a gap from storage does), so it runs on this
            // task and reaches the members without a trip through the runtime's queue.
            if group.enqueue(item) {
                run_or_spawn(group.drain(self.clone()));
            }
        }
    }

    fn leave(&self, group: &Group, member: u64) {
        let empty = {
            let mut members = group.members.lock().expect("members lock");
            members.retain(|m| m.id != member);
            members.is_empty()
        };
        if empty {
            self.remove_if_empty(group);
        }
    }

    /// Forgets a group whose members all left. Under the map's entry, as `join` adds members,
    /// so a member joining meanwhile keeps the group.
    fn remove_if_empty(&self, group: &Group) {
        let Some(mut groups) = self.groups.get_mut(&group.conversation) else {
            return;
        };
        if group.members.lock().expect("members lock").is_empty() {
            groups.retain(|g| !std::ptr::eq(Arc::as_ptr(g), group));
        }
        let none = groups.is_empty();
        drop(groups);
        if none {
            self.groups
                .remove_if(&group.conversation, |_, groups| groups.is_empty());
        }
    }
}

impl Group {
    fn serves(&self, handover: &Handover) -> bool {
        self.query == handover.query
            && self.operation_name == handover.operation_name
            && self.variables == handover.variables
    }

    /// Queues an item; true when no task renders this group's items yet.
    fn enqueue(&self, item: &FeedItem) -> bool {
        let droppable = |item: &FeedItem| !matches!(item, FeedItem::ParticipantRemoved(_));
        let mut mailbox = self.mailbox.lock().expect("mailbox lock");
        if mailbox.items.len() >= MAILBOX && droppable(item) {
            // The newest offset stays queued, so a gap up to it is read from storage.
            if let Some(last) = mailbox.items.iter().rposition(droppable) {
                tracing::warn!(conversation = %self.conversation, "messageReceived group fell behind; refilling from storage");
                mailbox.items.remove(last);
            }
        }
        mailbox.items.push_back(item.clone());
        !std::mem::replace(&mut mailbox.scheduled, true)
    }

    async fn drain(self: Arc<Self>, groups: Arc<SubscriptionGroups>) {
        loop {
            let item = {
                let mut mailbox = self.mailbox.lock().expect("mailbox lock");
                match mailbox.items.pop_front() {
                    Some(item) => item,
                    None => {
                        mailbox.scheduled = false;
                        // An idle group keeps no room from its last burst.
                        mailbox.items = VecDeque::new();
                        return;
                    }
                }
            };
            self.handle(item, &groups).await;
        }
    }

    async fn handle(&self, item: FeedItem, groups: &SubscriptionGroups) {
        match item {
            FeedItem::Message(message) => {
                if self.advance(message.offset, groups).await {
                    let rendered = self
                        .render(Ok(GqlMessage::from(Message::clone(&message))))
                        .await;
                    self.deliver(message.offset, &rendered, groups);
                }
            }
            FeedItem::Activity(activity) => {
                self.advance(activity.offset, groups).await;
            }
            FeedItem::ParticipantRemoved(user) => {
                let affected = {
                    let members = self.members.lock().expect("members lock");
                    members.iter().any(|m| m.user == user)
                };
                if affected {
                    let rendered = self.render(Err(ChatError::NotFound.into())).await;
                    self.end(|member| member.user == user, &rendered, groups);
                }
            }
        }
    }

    /// Moves the group's position to `offset`, first sending what a gap before it missed;
    /// false when the group handled that offset already.
    async fn advance(&self, offset: u64, groups: &SubscriptionGroups) -> bool {
        let (epoch, handled) = {
            let position = self.position.lock().expect("position lock");
            (position.epoch.clone(), position.last)
        };
        if handled.is_some_and(|last| offset <= last) {
            return false;
        }
        // Before the group handled anything, its members' positions are where it starts.
        let from = handled.or_else(|| {
            let members = self.members.lock().expect("members lock");
            members.iter().filter_map(|m| m.after).min()
        });
        if let (Some(from), Some(epoch)) = (from, epoch) {
            if offset > from + 1 && !self.fill(&epoch, from, offset - 1, groups).await {
                return false;
            }
        }
        let mut position = self.position.lock().expect("position lock");
        position.last = Some(position.last.map_or(offset, |last| last.max(offset)));
        true
    }

    /// Sends the messages of `(from, up_to]` from storage, in chunks of the recovery limit;
    /// false when storage failed (the members that needed them are ended).
    async fn fill(
        &self,
        epoch: &str,
        mut from: u64,
        up_to: u64,
        groups: &SubscriptionGroups,
    ) -> bool {
        while from < up_to {
            let log = self
                .chat
                .log_between(&self.conversation, epoch, from, up_to, self.recovery_max)
                .await;
            let entries = match log {
                Ok(entries) => entries,
                Err(error) => {
                    let rendered = self.render(Err(error.into())).await;
                    // Members already past the gap lose nothing and go on.
                    self.end(
                        |member| member.after.is_none_or(|after| after < up_to),
                        &rendered,
                        groups,
                    );
                    return false;
                }
            };
            let Some(last) = entries.last().map(LogEntry::offset) else {
                break;
            };
            for entry in entries {
                if let LogEntry::Message(message) = entry {
                    let at = message.offset;
                    let rendered = self.render(Ok(GqlMessage::from(message))).await;
                    self.deliver(at, &rendered, groups);
                }
            }
            if last <= from {
                break;
            }
            from = last;
        }
        true
    }

    /// Runs the subscriber's document on one result, as its own execution would. No caller
    /// in it: what `Message` shows does not depend on who asks (a plain `SimpleObject`), which
    /// is what lets one result serve every member.
    async fn render(&self, result: Result<GqlMessage, GqlError>) -> Arc<Rendered> {
        let variables = serde_json::from_str(&self.variables).unwrap_or_default();
        let mut request = async_graphql::Request::new(&*self.query)
            .variables(async_graphql::Variables::from_json(variables))
            .data(Render(Mutex::new(Some(result))));
        request.set_parsed_query(ExecutableDocument::clone(&self.document));
        if let Some(name) = &self.operation_name {
            request = request.operation_name(&**name);
        }
        let response = self.schema.execute_stream(request).next().await;
        let response = response.unwrap_or_else(|| {
            async_graphql::Response::from_errors(vec![async_graphql::ServerError::new(
                "the subscription gave no result",
                None,
            )])
        });
        Arc::new(Rendered::of(&response))
    }

    /// Sends a result at `offset` to the members past it (kept for those still waiting).
    fn deliver(&self, offset: u64, rendered: &Arc<Rendered>, groups: &SubscriptionGroups) {
        let empty = {
            let mut members = self.members.lock().expect("members lock");
            members.retain_mut(|member| match &mut member.waiting {
                Some(waiting) => {
                    waiting.push(Waited::Result(offset, rendered.clone()));
                    true
                }
                None if member.after.is_some_and(|after| offset <= after) => true,
                None => {
                    let goes_on = member.operation.send(rendered) == Sent::Continues;
                    if !goes_on {
                        member.operation.let_go();
                    }
                    goes_on
                }
            });
            members.is_empty()
        };
        if empty {
            groups.remove_if_empty(self);
        }
    }

    /// Ends the operations of the members `which` picks with a last result.
    fn end(
        &self,
        which: impl Fn(&Member) -> bool,
        rendered: &Arc<Rendered>,
        groups: &SubscriptionGroups,
    ) {
        let empty = {
            let mut members = self.members.lock().expect("members lock");
            members.retain_mut(|member| {
                if !which(member) {
                    return true;
                }
                match &mut member.waiting {
                    Some(waiting) => {
                        waiting.push(Waited::End(rendered.clone()));
                        true
                    }
                    None => {
                        finish(&member.operation, rendered);
                        false
                    }
                }
            });
            members.is_empty()
        };
        if empty {
            groups.remove_if_empty(self);
        }
    }
}

/// Sends a last result, then `complete` unless that result ended the operation already.
fn finish(operation: &SocketOperation, rendered: &Rendered) {
    if operation.send(rendered) == Sent::Continues {
        operation.complete();
    }
    operation.let_go();
}

impl Membership {
    /// The conversation's position read after joining: where live results begin.
    pub(super) fn set_position(&self, epoch: &str, last_offset: u64) {
        {
            let mut position = self.group.position.lock().expect("position lock");
            if position.epoch.is_none() {
                position.epoch = Some(epoch.to_string());
            }
        }
        let mut members = self.group.members.lock().expect("members lock");
        if let Some(member) = members.iter_mut().find(|m| m.id == self.member) {
            member.after = Some(last_offset);
        }
    }
}

impl Served for Membership {
    fn start(&self) {
        let ended = {
            let mut members = self.group.members.lock().expect("members lock");
            let Some(index) = members.iter().position(|m| m.id == self.member) else {
                return;
            };
            let member = &mut members[index];
            let waited = member.waiting.take().unwrap_or_default();
            let mut ended = false;
            for item in waited {
                match item {
                    Waited::Result(offset, _) if member.after.is_some_and(|a| offset <= a) => {}
                    Waited::Result(_, rendered) => {
                        if member.operation.send(&rendered) == Sent::Ended {
                            member.operation.let_go();
                            ended = true;
                            break;
                        }
                    }
                    Waited::End(rendered) => {
                        finish(&member.operation, &rendered);
                        ended = true;
                        break;
                    }
                }
            }
            ended
        };
        if ended {
            self.stop();
        }
    }

    fn stop(&self) {
        self.groups.leave(&self.group, self.member);
    }
}
