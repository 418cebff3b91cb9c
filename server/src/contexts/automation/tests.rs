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
        Err(AutomationError::GuestsMayNot(_))
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
