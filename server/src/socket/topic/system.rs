//! `system:alerts`: every signed-in user joins the one topic name, but each community's
//! subscribers are kept under their own hub key ([`Topic::alerts_key`]) with their own offsets:
//! what a subscriber receives, and what a rejoin with `since` recovers, is its community's
//! stream only.
//!
//! - A community admin pushes `alert` `{…}` (a JSON object of at most
//!   `Hub::max_publication_bytes`, else `payload_too_large`): it reaches that community only,
//!   as `{…, from: <admin's user id>, scope: "community"}`, and is answered `{epoch, offset}`.
//!   Members and guests get `forbidden`.
//! - Instance-wide alerts come from the server or the operator only, as `alert.raised` events
//!   (`contexts/monitoring`) that the bridge publishes to every community's key.

use serde_json::{json, Map, Value};
use taina_protocol::phoenix::Payload;

use super::{decode, Authorized, Channel, JoinRefusal, Reply, Subscription};
use crate::contexts::auth::{Principal, Role};
use crate::realtime::{Logged, Topic};

/// An alert, both ways.
pub const ALERT: &str = "alert";

pub fn authorize() -> Result<Authorized, JoinRefusal> {
    Ok(Authorized::Subscription(Subscription::default()))
}

/// Only admins publish alerts (to their community).
fn may_publish_alerts(principal: &Principal) -> bool {
    principal.role == Role::Admin
}

pub async fn handle(channel: Channel<'_>, event: &str, payload: &Payload) -> Reply {
    match (event, payload) {
        (ALERT, Payload::Json(alert)) => publish_alert(channel, alert).await,
        _ => Reply::unknown_event(),
    }
}

async fn publish_alert(channel: Channel<'_>, alert: &Value) -> Reply {
    if !may_publish_alerts(channel.principal) {
        return Reply::error("forbidden");
    }
    let Ok(mut alert) = decode::<Map<String, Value>>(alert) else {
        return Reply::invalid("an alert is a JSON object");
    };
    let size = serde_json::to_string(&alert).map_or(0, |text| text.len());
    let hub = &channel.state.hub;
    let limit = hub.max_publication_bytes();
    if size > limit {
        return Reply::refused(
            "payload_too_large",
            format!("the alert is {size} bytes, over the limit of {limit}"),
        );
    }
    // A community admin's alert reaches their community only, marked as such.
    alert.insert("from".into(), json!(channel.principal.user_id));
    alert.insert("scope".into(), json!("community"));
    let published = hub
        .publish_logged_acked(Logged::new(
            &Topic::alerts_key(&channel.principal.community_id),
            Topic::SYSTEM_ALERTS,
            ALERT,
            alert,
        ))
        .await;
    match published {
        Ok(position) => Reply::Ok(json!({ "epoch": position.epoch, "offset": position.offset })),
        Err(error) => {
            tracing::warn!(%error, "an alert was not published");
            Reply::error("unavailable")
        }
    }
}
