//! Service tests on `db::testing`'s fixture (SQLite in memory, or PostgreSQL with
//! `TEST_DATABASE_URL`): MQTT messages handed to the service as the client hands them over
//! (the broker itself is in the end-to-end suite).

use super::events::{StateChanged, ENTITY_STATE_CHANGED};
use super::*;
use crate::config::AutomationConfig;
use crate::contexts::auth::{Principal, Role};
use crate::db::testing::Fixture;

async fn setup() -> (Fixture, AutomationService, Principal) {
    let fixture = Fixture::new().await;
    let service = AutomationService::new(
        fixture.db.clone(),
        fixture.auth.clone(),
        fixture.chat(),
        fixture.bus.clone(),
        AutomationConfig::default(),
    );
    let admin = fixture.sign_up("ana@example.org", Some("Casa")).await;
    (fixture, service, admin)
}

const THERMOMETER: &str = r#"{
    "name": "Temperature", "uniq_id": "0x00158d_temperature", "stat_t": "zigbee2mqtt/Living room sensor",
    "val_tpl": "{{ value_json.temperature }}", "unit_of_meas": "°C", "dev_cla": "temperature",
    "stat_cla": "measurement", "json_attr_t": "zigbee2mqtt/Living room sensor",
    "dev": {"ids": ["zigbee2mqtt_0x00158d"], "name": "Living room sensor", "mf": "Aqara",
            "mdl": "WSDCGQ11LM", "sa": "Living room"}
}"#;

#[tokio::test]
async fn a_discovered_sensor_appears_and_its_states_are_stored_and_published() {
    let (fixture, service, admin) = setup().await;
    service
        .handle_message(
            "homeassistant/sensor/0x00158d/temperature/config",
            THERMOMETER.as_bytes(),
        )
        .await;
    let entities = service.entities(&admin, None, None).await.unwrap();
    assert_eq!(entities.len(), 1);
    let sensor = &entities[0];
    assert_eq!(sensor.entity_id, "sensor.living_room_sensor_temperature");
    assert_eq!(sensor.name, "Living room sensor Temperature");
    assert_eq!(
        (sensor.kind, sensor.unit.as_deref()),
        (EntityKind::Sensor, Some("°C"))
    );
    assert_eq!(sensor.area.as_deref(), Some("Living room"));
    assert_eq!(sensor.state, None);
    let devices = service.devices(&admin).await.unwrap();
    assert_eq!(devices[0].model.as_deref(), Some("WSDCGQ11LM"));

    let mut events = fixture.bus.subscribe();
    service
        .handle_message(
            "zigbee2mqtt/Living room sensor",
            br#"{"temperature": 21.5, "humidity": 40, "battery": 97}"#,
        )
        .await;
    let sensor = service
        .entity(&admin, "sensor.living_room_sensor_temperature")
        .await
        .unwrap();
    assert_eq!(sensor.state.as_deref(), Some("21.5"));
    assert_eq!(sensor.attributes["battery"], 97);
    let event = events.try_recv().unwrap();
    assert_eq!(event.kind, ENTITY_STATE_CHANGED);
    assert_eq!(event.community_id.as_ref(), Some(&admin.community_id));
    let changed: StateChanged = event.data_as().unwrap();
    assert_eq!(
        (changed.state.as_deref(), changed.old_state),
        (Some("21.5"), None)
    );

    // A second state, then the history holds both, oldest first.
    service
        .handle_message(
            "zigbee2mqtt/Living room sensor",
            br#"{"temperature": 22.0}"#,
        )
        .await;
    let from = chrono::Utc::now() - chrono::Duration::hours(1);
    let to = chrono::Utc::now() + chrono::Duration::seconds(1);
    let history = service
        .history(
            &admin,
            "sensor.living_room_sensor_temperature",
            from,
            to,
            None,
        )
        .await
        .unwrap();
    let states: Vec<_> = history.iter().map(|h| h.state.as_deref()).collect();
    assert_eq!(states, [Some("21.5"), Some("22.0")]);

    // Rediscovery updates in place; an empty config removes the entity.
    service
        .handle_message(
            "homeassistant/sensor/0x00158d/temperature/config",
            THERMOMETER.replace("°C", "K").as_bytes(),
        )
        .await;
    let again = service.entities(&admin, None, None).await.unwrap();
    assert_eq!((again.len(), again[0].unit.as_deref()), (1, Some("K")));
    assert_eq!(again[0].state.as_deref(), Some("22.0"));
    service
        .handle_message("homeassistant/sensor/0x00158d/temperature/config", b"")
        .await;
    assert!(service
        .entities(&admin, None, None)
        .await
        .unwrap()
        .is_empty());
    // Its topic no longer routes anywhere.
    while events.try_recv().is_ok() {}
    service
        .handle_message("zigbee2mqtt/Living room sensor", br#"{"temperature": 30}"#)
        .await;
    assert!(events.try_recv().is_err());
}

#[tokio::test]
async fn bad_messages_change_nothing_and_commands_need_a_broker_and_a_member() {
    let (fixture, service, admin) = setup().await;
    for (topic, payload) in [
        ("homeassistant/sensor/x/config", "{not json"),
        ("homeassistant/sensor/x/config", "[1, 2]"),
        ("homeassistant/vacuum/x/config", "{}"),
        ("somewhere/else", "21"),
    ] {
        service.handle_message(topic, payload.as_bytes()).await;
    }
    assert!(service
        .entities(&admin, None, None)
        .await
        .unwrap()
        .is_empty());
    service
        .handle_message(
            "homeassistant/switch/plug/config",
            br#"{"name": "Plug", "stat_t": "plug/state", "cmd_t": "plug/set"}"#,
        )
        .await;
    service.handle_message("plug/state", b"garbage").await;
    let plug = service.entity(&admin, "switch.plug").await.unwrap();
    assert_eq!(plug.state, None, "an unknown payload is not a state");
    let guest = fixture
        .invited(&admin, "gui@example.org", Role::Guest)
        .await;
    assert_eq!(
        service
            .entities(&guest, None, Some(EntityKind::Switch))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        service
            .control(&guest, "switch.plug", &Command::TurnOff)
            .await,
        Err(AutomationError::Forbidden(_))
    ));
    assert!(matches!(
        service
            .control(&admin, "switch.plug", &Command::TurnOff)
            .await,
        Err(AutomationError::NotConnected)
    ));
    assert!(matches!(
        service
            .control(&admin, "switch.nope", &Command::TurnOff)
            .await,
        Err(AutomationError::NotFound)
    ));
}

#[tokio::test]
async fn grants_hide_and_open_entities_per_person_and_follow_their_area() {
    let (fixture, service, admin) = setup().await;
    for (topic, config) in [
        (
            "homeassistant/switch/heater/config",
            r#"{"name": "Heater", "stat_t": "heater/state", "cmd_t": "heater/set"}"#,
        ),
        (
            "homeassistant/light/lamp/config",
            r#"{"name": "Lamp", "stat_t": "lamp/state", "cmd_t": "lamp/set"}"#,
        ),
    ] {
        service.handle_message(topic, config.as_bytes()).await;
    }
    let kid = fixture
        .invited(&admin, "kid@example.org", Role::Member)
        .await;
    let guest = fixture
        .invited(&admin, "gui@example.org", Role::Guest)
        .await;
    service.create_area(&admin, " Kids room ").await.unwrap();
    service
        .update_entity(&admin, "switch.heater", None, Some(Some("Kids room")))
        .await
        .unwrap();
    assert_eq!(
        service.areas(&kid).await.unwrap(),
        [("Kids room".to_string(), 1)]
    );

    // Only admins manage access.
    assert!(matches!(
        service
            .set_access(
                &kid,
                &kid.user_id,
                GrantScope::Area,
                "Kids room",
                Some(Access::None)
            )
            .await,
        Err(AutomationError::Forbidden(_))
    ));
    // Hidden: not listed, not found, not controllable, and the person's view is their own.
    service
        .set_access(
            &admin,
            &kid.user_id,
            GrantScope::Area,
            "Kids room",
            Some(Access::None),
        )
        .await
        .unwrap();
    let visible: Vec<String> = service
        .entities(&kid, None, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.entity_id)
        .collect();
    assert_eq!(visible, ["light.lamp"]);
    assert!(matches!(
        service.entity(&kid, "switch.heater").await,
        Err(AutomationError::NotFound)
    ));
    assert!(matches!(
        service
            .control(&kid, "switch.heater", &Command::TurnOn { brightness: None })
            .await,
        Err(AutomationError::NotFound)
    ));
    assert!(service.is_restricted(&kid) && !service.is_restricted(&guest));

    // A state change says who of the restricted may see it.
    let mut events = fixture.bus.subscribe();
    service.handle_message("heater/state", b"ON").await;
    let changed: StateChanged = events.try_recv().unwrap().data_as().unwrap();
    assert!(!service.may_see(&kid.user_id, Role::Member, &changed));
    assert!(service.may_see(&guest.user_id, Role::Guest, &changed));
    assert_eq!(
        (changed.viewers, changed.hidden_from),
        (vec![], vec![kid.user_id.clone()])
    );

    // The entity grant is more specific than the area's.
    service
        .set_access(
            &admin,
            &kid.user_id,
            GrantScope::Entity,
            "switch.heater",
            Some(Access::View),
        )
        .await
        .unwrap();
    let heater = service.entity(&kid, "switch.heater").await.unwrap();
    assert_eq!(service.access(&kid, &heater), Access::View);
    assert!(matches!(
        service
            .control(&kid, "switch.heater", &Command::TurnOff)
            .await,
        Err(AutomationError::Forbidden(_))
    ));

    // Guests view by default; a grant lets them control.
    assert!(matches!(
        service
            .control(&guest, "light.lamp", &Command::TurnOff)
            .await,
        Err(AutomationError::Forbidden(_))
    ));
    service
        .set_access(
            &admin,
            &guest.user_id,
            GrantScope::Entity,
            "light.lamp",
            Some(Access::Control),
        )
        .await
        .unwrap();
    assert!(matches!(
        service
            .control(&guest, "light.lamp", &Command::TurnOff)
            .await,
        Err(AutomationError::NotConnected),
    ));

    // Renaming the area carries its grants along; deleting it drops them.
    service
        .rename_area(&admin, "Kids room", Some("Ana's room"))
        .await
        .unwrap();
    let grants = service.grants(&admin, Some(&kid.user_id)).await.unwrap();
    assert!(grants
        .iter()
        .any(|g| g.scope == GrantScope::Area && g.target == "Ana's room"));
    assert_eq!(
        service
            .entity(&admin, "switch.heater")
            .await
            .unwrap()
            .area
            .as_deref(),
        Some("Ana's room")
    );
    service
        .rename_area(&admin, "Ana's room", None)
        .await
        .unwrap();
    assert_eq!(
        service.entity(&admin, "switch.heater").await.unwrap().area,
        None
    );
    assert_eq!(
        service
            .grants(&admin, Some(&kid.user_id))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        !service.is_restricted(&kid),
        "only the entity grant (view) is left"
    );
    assert!(matches!(
        service.rename_area(&admin, "Nowhere", None).await,
        Err(AutomationError::NotFound)
    ));
    // Grants for someone of another community, or an unknown entity, are refused.
    let elsewhere = crate::db::testing::insert_community(&fixture.db).await;
    let stranger = crate::db::testing::insert_user(&fixture.db, &elsewhere).await;
    assert!(matches!(
        service
            .set_access(
                &admin,
                &stranger,
                GrantScope::Entity,
                "light.lamp",
                Some(Access::View)
            )
            .await,
        Err(AutomationError::NotFound)
    ));
    assert!(matches!(
        service
            .set_access(
                &admin,
                &kid.user_id,
                GrantScope::Entity,
                "light.nope",
                Some(Access::View)
            )
            .await,
        Err(AutomationError::NotFound)
    ));
}

#[tokio::test]
async fn statistics_compile_means_and_meter_sums_and_retention_keeps_the_hours() {
    use chrono::{Duration, TimeZone, Utc};
    let (_fixture, service, admin) = setup().await;
    for (topic, config) in [
        (
            "homeassistant/sensor/t/config",
            r#"{"name": "Temperature", "stat_t": "t", "unit_of_meas": "°C", "stat_cla": "measurement"}"#,
        ),
        (
            "homeassistant/sensor/e/config",
            r#"{"name": "Energy", "stat_t": "e", "unit_of_meas": "kWh", "dev_cla": "energy", "stat_cla": "total_increasing"}"#,
        ),
        (
            "homeassistant/sensor/n/config",
            r#"{"name": "Note", "stat_t": "n"}"#,
        ),
    ] {
        service.handle_message(topic, config.as_bytes()).await;
    }
    let base = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
    let store = service.store();
    let id = |entity_id: &'static str| {
        let service = service.clone();
        let admin = admin.clone();
        async move { service.entity(&admin, entity_id).await.unwrap().id }
    };
    let (temperature, energy) = (id("sensor.temperature").await, id("sensor.energy").await);
    let empty = serde_json::Map::new();
    // Temperature: 20 at 10:00, 22 at 10:30, 24 at 11:30.
    for (minutes, value) in [(0, "20"), (30, "22"), (90, "24")] {
        let at = base + Duration::minutes(minutes);
        store
            .set_state(&temperature, Some(value), &empty, true, at)
            .await
            .unwrap();
    }
    // Energy: 100 → 101 → a reset to 0.2 → 1.2 kWh.
    for (minutes, value) in [(0, "100"), (20, "101"), (70, "0.2"), (100, "1.2")] {
        let at = base + Duration::minutes(minutes);
        store
            .set_state(&energy, Some(value), &empty, true, at)
            .await
            .unwrap();
    }
    let now = base + Duration::hours(2) + Duration::minutes(1);
    let reached = service.compile_statistics(now).await.unwrap();
    assert_eq!(reached, Some(base + Duration::hours(2)));
    // Compiling again adds nothing.
    assert_eq!(service.compile_statistics(now).await.unwrap(), reached);

    let read = |entity_id: &'static str, resolution| {
        let service = service.clone();
        let admin = admin.clone();
        async move {
            service
                .statistics(
                    &admin,
                    entity_id,
                    resolution,
                    base,
                    base + Duration::hours(3),
                )
                .await
                .unwrap()
        }
    };
    let five = read("sensor.temperature", Resolution::FiveMinutes).await;
    assert_eq!(five.len(), 24, "two hours of 5-minute rows");
    assert_eq!(five[5].0.mean, Some(20.0));
    assert_eq!(five[6].0.mean, Some(22.0));
    let hours = read("sensor.temperature", Resolution::Hour).await;
    assert_eq!(hours.len(), 2);
    assert_eq!(
        hours[0].0.mean,
        Some(21.0),
        "half an hour of 20, half of 22"
    );
    assert_eq!((hours[1].0.min, hours[1].0.max), (Some(22.0), Some(24.0)));

    let meter = read("sensor.energy", Resolution::Hour).await;
    let sums: Vec<f64> = meter.iter().map(|(r, _)| r.sum.unwrap()).collect();
    assert!((sums[0] - 1.0).abs() < 1e-9, "{sums:?}");
    assert!(
        (sums[1] - 2.2).abs() < 1e-9,
        "the reset counts from zero: {sums:?}"
    );
    assert!(
        (meter[1].1.unwrap() - 1.2).abs() < 1e-9,
        "the second hour used 1.2 kWh"
    );
    let days = read("sensor.energy", Resolution::Day).await;
    assert_eq!(days.len(), 1);
    assert!((days[0].0.sum.unwrap() - 2.2).abs() < 1e-9);
    // A sensor without a state class has none.
    assert!(read("sensor.note", Resolution::Hour).await.is_empty());

    // Eleven days later raw states and 5-minute rows are gone, hourly rows stay.
    let (states, rows) = service
        .purge_history(now + Duration::days(11))
        .await
        .unwrap();
    assert_eq!(states, 7);
    assert_eq!(rows, 48);
    assert_eq!(read("sensor.energy", Resolution::Hour).await.len(), 2);
    assert!(read("sensor.temperature", Resolution::FiveMinutes)
        .await
        .is_empty());
    assert!(matches!(
        service
            .statistics(
                &admin,
                "sensor.energy",
                Resolution::FiveMinutes,
                base,
                base + Duration::days(40)
            )
            .await,
        Err(AutomationError::Invalid(_))
    ));
}

/// A time zone whose clock now reads between 22:00 and 06:00 (`night`) or between 10:00 and
/// 18:00 (`day`): fixed-offset zones cover every hour, so a rule's time condition is tested
/// against the real clock.
fn zone_where(night: bool) -> String {
    use chrono::Timelike;
    for offset in -12i32..=14 {
        // Etc/GMT+N is N hours *behind* UTC.
        let name = match offset {
            0 => "Etc/GMT".to_string(),
            o if o < 0 => format!("Etc/GMT+{}", -o),
            o => format!("Etc/GMT-{o}"),
        };
        let hour = (chrono::Utc::now() + chrono::Duration::hours(i64::from(offset))).hour();
        // Well inside the window, so the test never runs across its edge.
        let fits = if night {
            (23..24).contains(&hour) || (0..5).contains(&hour)
        } else {
            (11..17).contains(&hour)
        };
        if fits {
            return name;
        }
    }
    unreachable!("some offset puts the clock in any 6-hour window")
}

/// A group conversation of the admin and a new member.
async fn group(
    fixture: &Fixture,
    admin: &Principal,
    name: &str,
) -> (crate::contexts::chat::Conversation, Principal) {
    use crate::contexts::chat::{ConversationKind, NewConversation};
    let member = fixture
        .invited(admin, "mem@example.org", Role::Member)
        .await;
    let conversation = fixture
        .chat()
        .create_conversation(
            admin,
            NewConversation {
                kind: ConversationKind::Group,
                name: Some(name.into()),
                participant_ids: vec![member.user_id.clone()],
                encrypted: false,
            },
        )
        .await
        .unwrap();
    (conversation, member)
}

async fn runs_until(
    service: &AutomationService,
    admin: &Principal,
    rule: &crate::ids::RuleId,
    done: impl Fn(&[rules::Run]) -> bool,
) -> Vec<rules::Run> {
    for _ in 0..200 {
        let runs = service.runs(admin, rule, Some(100)).await.unwrap();
        if done(&runs) {
            return runs;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{:?}", service.runs(admin, rule, Some(100)).await.unwrap());
}

fn finished(outcome: rules::RunOutcome) -> impl Fn(&[rules::Run]) -> bool {
    move |runs| runs.first().is_some_and(|r| r.outcome == outcome)
}

#[tokio::test]
async fn a_door_opening_at_night_raises_an_alert_and_posts_in_the_chat() {
    use serde_json::json;
    let (fixture, service, admin) = setup().await;
    service.start().await;
    service
        .handle_message(
            "homeassistant/binary_sensor/door/config",
            br#"{"name": "Front door", "stat_t": "door/state", "dev_cla": "door"}"#,
        )
        .await;
    let chat = fixture.chat();
    let (family, member) = group(&fixture, &admin, "Family").await;
    service
        .set_settings(
            &admin,
            rules::Settings {
                time_zone: zone_where(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let definition = json!({
        "triggers": [{ "type": "state", "entity_id": "binary_sensor.front_door", "to": "on" }],
        "conditions": [{ "type": "time", "after": "22:00", "before": "06:00" }],
        "actions": [
            { "type": "alert", "level": "critical", "message": "{{ trigger.entity_id }} opened" },
            { "type": "message", "conversation_id": family.id, "text": "The front door opened at {{ time }}" },
            { "type": "choose",
              "options": [{ "conditions": [{ "type": "presence", "present": false }],
                            "actions": [{ "type": "delay", "seconds": 0 }] }] }
        ]
    });
    // Members may not write rules; rules may only name entities that exist.
    assert!(matches!(
        service
            .create_rule(&member, "Door", definition.clone(), true)
            .await,
        Err(AutomationError::Forbidden(_))
    ));
    let mut typo = definition.clone();
    typo["triggers"][0]["entity_id"] = json!("binary_sensor.back_door");
    assert!(matches!(
        service.create_rule(&admin, "Door", typo, true).await,
        Err(AutomationError::Invalid(e)) if e.contains("binary_sensor.back_door")
    ));
    let rule = service
        .create_rule(&admin, " Door at night ", definition, true)
        .await
        .unwrap();
    assert_eq!(rule.name, "Door at night");

    let mut events = fixture.bus.subscribe();
    service.handle_message("door/state", b"ON").await;
    let runs = runs_until(
        &service,
        &admin,
        &rule.id,
        finished(rules::RunOutcome::Done),
    )
    .await;
    assert_eq!(runs[0].trigger["to_state"], "on");
    let steps = runs[0].steps.as_array().unwrap();
    assert_eq!(
        steps
            .iter()
            .map(|s| s["action"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["alert", "message", "choose", "delay"]
    );
    let messages = chat.messages(&admin, &family.id, None, None).await.unwrap();
    assert!(
        messages[0].body.starts_with("The front door opened at "),
        "{messages:?}"
    );
    let alert = loop {
        let event = events.recv().await.unwrap();
        if event.kind == events::RULE_ALERT {
            break event.data_as::<events::RuleAlert>().unwrap();
        }
    };
    assert_eq!(
        (alert.level.as_str(), alert.message.as_str()),
        ("critical", "binary_sensor.front_door opened")
    );

    // In the daytime the conditions do not hold: logged, nothing done.
    service
        .set_settings(
            &admin,
            rules::Settings {
                time_zone: zone_where(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    service.handle_message("door/state", b"OFF").await;
    service.handle_message("door/state", b"ON").await;
    runs_until(
        &service,
        &admin,
        &rule.id,
        finished(rules::RunOutcome::ConditionsFalse),
    )
    .await;
    assert_eq!(
        chat.messages(&admin, &family.id, None, None)
            .await
            .unwrap()
            .len(),
        1
    );

    // Disabled, it does not fire; run by hand it does, conditions skipped if asked.
    service
        .update_rule(&admin, &rule.id, None, None, Some(false))
        .await
        .unwrap();
    service.handle_message("door/state", b"OFF").await;
    service.handle_message("door/state", b"ON").await;
    service.run_rule(&admin, &rule.id, true).await.unwrap();
    let runs = runs_until(
        &service,
        &admin,
        &rule.id,
        finished(rules::RunOutcome::Done),
    )
    .await;
    assert_eq!(runs[0].trigger["type"], "manual");
    assert_eq!(runs.len(), 3, "the disabled rule's trigger started nothing");
    service.delete_rule(&admin, &rule.id).await.unwrap();
    assert!(matches!(
        service.rule(&admin, &rule.id).await,
        Err(AutomationError::NotFound)
    ));
}

#[tokio::test]
async fn a_rule_feeding_itself_is_stopped_and_logged() {
    use serde_json::json;
    let (fixture, service, admin) = setup().await;
    service.start().await;
    let chat = fixture.chat();
    let (echo, _) = group(&fixture, &admin, "Echo").await;
    // Every message in the conversation makes another one.
    let rule = service
        .create_rule(
            &admin,
            "Echo",
            json!({
                "triggers": [{ "type": "event", "event_type": "message.sent",
                               "data": { "conversation_id": echo.id } }],
                "actions": [{ "type": "message", "conversation_id": echo.id, "text": "echo" }]
            }),
            true,
        )
        .await
        .unwrap();
    let mut events = fixture.bus.subscribe();
    chat.send_message(
        &admin,
        &echo.id,
        crate::contexts::chat::NewMessage {
            body: "hello".into(),
            client_id: None,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let runs = runs_until(&service, &admin, &rule.id, |runs| {
        runs.iter()
            .any(|r| r.outcome == rules::RunOutcome::LoopStopped)
    })
    .await;
    let done = runs
        .iter()
        .filter(|r| r.outcome == rules::RunOutcome::Done)
        .count();
    assert_eq!(done, rules::engine::MAX_RUNS_PER_WINDOW, "{runs:?}");
    // It stays stopped: no more messages after the last run.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let messages = chat
        .messages(&admin, &echo.id, None, Some(200))
        .await
        .unwrap();
    assert_eq!(messages.len(), 1 + rules::engine::MAX_RUNS_PER_WINDOW);
    let alerted =
        std::iter::from_fn(|| events.try_recv().ok()).any(|e| e.kind == events::RULE_ALERT);
    assert!(alerted, "the stop raised an alert");
}

#[tokio::test]
async fn webhooks_go_to_listed_hosts_with_retries_and_states_must_hold_for_a_while() {
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A hook answering 503 once, then 200, and recording each request's body.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (bodies, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let mut answered = 0;
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 8192];
            let n = socket.read(&mut request).await.unwrap();
            let text = String::from_utf8_lossy(&request[..n]).to_string();
            let body = text
                .split("\r\n\r\n")
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let status = if answered == 0 {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            answered += 1;
            let _ = bodies.send(body);
            let _ = socket
                .write_all(
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await;
        }
    });
    let fixture = Fixture::new().await;
    let service = AutomationService::new(
        fixture.db.clone(),
        fixture.auth.clone(),
        fixture.chat(),
        fixture.bus.clone(),
        AutomationConfig {
            webhook_hosts: vec![format!("127.0.0.1:{port}")],
            ..AutomationConfig::default()
        },
    );
    let admin = fixture.sign_up("ana@example.org", Some("Casa")).await;
    service.start().await;
    service
        .handle_message(
            "homeassistant/sensor/t/config",
            r#"{"name": "Freezer", "stat_t": "freezer/t", "unit_of_meas": "°C"}"#.as_bytes(),
        )
        .await;
    let rule = service
        .create_rule(
            &admin,
            "Freezer warm",
            json!({
                "triggers": [
                    { "type": "numeric", "entity_id": "sensor.freezer", "above": -10 },
                    { "type": "state", "entity_id": "sensor.freezer", "to": "-1", "for_seconds": 1 }
                ],
                "actions": [{ "type": "webhook", "url": format!("http://127.0.0.1:{port}/hook"),
                              "body": { "text": "{{ trigger.entity_id }} {{ trigger.type }}" } }]
            }),
            true,
        )
        .await
        .unwrap();
    assert!(matches!(
        service
            .create_rule(
                &admin,
                "Elsewhere",
                json!({ "triggers": [{ "type": "time", "at": "07:00" }],
                        "actions": [{ "type": "webhook", "url": "http://example.com/x" }] }),
                true,
            )
            .await,
        Err(AutomationError::Invalid(e)) if e.contains("webhook_hosts")
    ));
    service.handle_message("freezer/t", b"-18").await;
    service.handle_message("freezer/t", b"-5").await;
    let runs = runs_until(
        &service,
        &admin,
        &rule.id,
        finished(rules::RunOutcome::Done),
    )
    .await;
    assert!(runs[0].steps[0]["detail"]
        .as_str()
        .unwrap()
        .contains("after 2 attempt"));
    let first: serde_json::Value = serde_json::from_str(&received.recv().await.unwrap()).unwrap();
    let second: serde_json::Value = serde_json::from_str(&received.recv().await.unwrap()).unwrap();
    assert_eq!(first, second, "a retry sends the same body");
    assert_eq!(first["text"], "sensor.freezer numeric");

    // -1 for a second fires the state trigger; -1 then -2 within the second does not.
    service.handle_message("freezer/t", b"-1").await;
    service.handle_message("freezer/t", b"-2").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(service.runs(&admin, &rule.id, None).await.unwrap().len(), 1);
    service.handle_message("freezer/t", b"-1").await;
    let runs = runs_until(&service, &admin, &rule.id, |runs| {
        runs.len() == 2 && runs[0].outcome == rules::RunOutcome::Done
    })
    .await;
    assert_eq!(runs[0].trigger["for_seconds"], 1);
}

#[tokio::test]
async fn an_instance_wide_security_event_reaches_the_only_communitys_rules() {
    use serde_json::json;
    let (fixture, service, admin) = setup().await;
    service.start().await;
    let rule = service
        .create_rule(
            &admin,
            "Failed sign-ins",
            json!({
                "triggers": [{ "type": "event", "event_type": "security.signin_failed" }],
                "actions": [{ "type": "alert", "message": "sign-in failed from {{ trigger.data.address }}" }]
            }),
            true,
        )
        .await
        .unwrap();
    let mut events = fixture.bus.subscribe();
    // As monitoring publishes a stored entry without a community (an unknown email).
    fixture.bus.publish(crate::events::Event::new(
        "security.signin_failed",
        None,
        None,
        json!({ "kind": "signin_failed", "address": "203.0.113.9", "reason": "unknown email" }),
    ));
    runs_until(
        &service,
        &admin,
        &rule.id,
        finished(rules::RunOutcome::Done),
    )
    .await;
    let alert = loop {
        let event = events.recv().await.unwrap();
        if event.kind == events::RULE_ALERT {
            break event.data_as::<events::RuleAlert>().unwrap();
        }
    };
    assert_eq!(alert.message, "sign-in failed from 203.0.113.9");
}

#[tokio::test]
async fn a_device_agent_reports_states_takes_commands_and_its_token_can_be_revoked() {
    use super::agents::{AgentState, NewAgentEntity};
    use serde_json::json;
    let (fixture, service, admin) = setup().await;
    let entity = |key: &str, kind| NewAgentEntity {
        key: key.into(),
        kind,
        name: key.into(),
        unit: None,
        device_class: None,
        state_class: None,
    };
    let member = fixture
        .invited(&admin, "mem@example.org", Role::Member)
        .await;
    assert!(matches!(
        service
            .create_agent_device(
                &member,
                "Greenhouse",
                None,
                vec![entity("temp", EntityKind::Sensor)]
            )
            .await,
        Err(AutomationError::Forbidden(_))
    ));
    let (device, entities) = service
        .create_agent_device(
            &admin,
            "Greenhouse",
            Some("Garden"),
            vec![
                entity("temp", EntityKind::Sensor),
                entity("pump", EntityKind::Switch),
            ],
        )
        .await
        .unwrap();
    assert_eq!(device.source, "socket");
    let ids: Vec<&str> = entities.iter().map(|e| e.entity_id.as_str()).collect();
    assert_eq!(ids, ["sensor.greenhouse_temp", "switch.greenhouse_pump"]);

    let (token, secret) = service
        .create_device_token(&admin, &device.id, "esp32")
        .await
        .unwrap();
    assert!(secret.starts_with(agents::DEVICE_TOKEN_PREFIX));
    let agent = service.authenticate_device(&secret).await.unwrap();
    assert_eq!(
        (agent.role, agent.user_id.as_str()),
        (Role::Device, device.id.as_str())
    );
    assert!(matches!(
        service.authenticate_device("tdv_forged").await,
        Err(AutomationError::Forbidden(_))
    ));

    // States in; a bad push stores nothing.
    let mut events = fixture.bus.subscribe();
    let state = |entity: &str, state| AgentState {
        entity: entity.into(),
        state: Some(state),
        attributes: None,
    };
    assert_eq!(
        service
            .agent_states(
                &agent,
                vec![state("temp", json!(24.5)), state("pump", json!(true))]
            )
            .await
            .unwrap(),
        2
    );
    let temp = service
        .entity(&admin, "sensor.greenhouse_temp")
        .await
        .unwrap();
    assert_eq!(temp.state.as_deref(), Some("24.5"));
    assert_eq!(
        service
            .entity(&admin, "switch.greenhouse_pump")
            .await
            .unwrap()
            .state
            .as_deref(),
        Some("on")
    );
    assert_eq!(
        events.try_recv().unwrap().kind,
        events::ENTITY_STATE_CHANGED
    );
    assert!(matches!(
        service
            .agent_states(&agent, vec![state("temp", json!(1)), state("fan", json!(1))])
            .await,
        Err(AutomationError::Invalid(e)) if e.contains("fan")
    ));
    assert_eq!(
        service
            .entity(&admin, "sensor.greenhouse_temp")
            .await
            .unwrap()
            .state
            .as_deref(),
        Some("24.5")
    );
    // A user may not report for a device.
    assert!(service
        .agent_states(&admin, vec![state("temp", json!(1))])
        .await
        .is_err());

    // Controlling the pump sends the agent a command, not an MQTT message.
    while events.try_recv().is_ok() {}
    service
        .control(&admin, "switch.greenhouse_pump", &Command::TurnOff)
        .await
        .unwrap();
    let command: events::DeviceCommand = events.try_recv().unwrap().data_as().unwrap();
    assert_eq!(command.device_id, device.id);
    assert_eq!(
        command.command,
        json!({ "entity": "pump", "entity_id": "switch.greenhouse_pump", "action": "turn_off" })
    );

    // Revoked: the token no longer signs in, and its sockets are told to end.
    service
        .revoke_device_token(&admin, &token.id)
        .await
        .unwrap();
    let revoked: events::DeviceTokenRevoked = events.try_recv().unwrap().data_as().unwrap();
    assert_eq!(revoked.session_id, agents::session_of(&token.id));
    assert!(service.authenticate_device(&secret).await.is_err());
    assert!(matches!(
        service.revoke_device_token(&admin, &token.id).await,
        Err(AutomationError::NotFound)
    ));
    let listed = service.device_tokens(&admin, &device.id).await.unwrap();
    assert!(listed[0].revoked_at.is_some() && listed[0].last_used_at.is_some());

    // Deleting the device takes its entities along; members may not.
    assert!(matches!(
        service.delete_device(&member, &device.id).await,
        Err(AutomationError::Forbidden(_))
    ));
    service.delete_device(&admin, &device.id).await.unwrap();
    assert!(matches!(
        service.entity(&admin, "sensor.greenhouse_temp").await,
        Err(AutomationError::NotFound)
    ));
    assert!(service.devices(&admin).await.unwrap().is_empty());
    assert!(matches!(
        service.delete_device(&admin, &device.id).await,
        Err(AutomationError::NotFound)
    ));
}
