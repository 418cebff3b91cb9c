//! Automation (Ka'a) end to end against a real Mosquitto (`TEST_MQTT_URL`, started by
//! `scripts/test`): a Home Assistant discovery config and states published with
//! `mosquitto_pub` make an entity appear and push `state_changed` on `home:{community_id}`; a
//! command goes out to the device's MQTT topic (seen by `mosquitto_sub`); a guest may look but
//! not control. Runs on both backends. Without a broker the suite is skipped, unless
//! `TEST_REQUIRE_MQTT` is set.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use taina_tests::socket::next_event;
use taina_tests::TestServer;

/// The broker's host and port, or `None` (skipped) when there is none.
fn broker() -> Option<(String, String)> {
    let url = std::env::var("TEST_MQTT_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let Some(url) = url else {
        assert!(
            std::env::var("TEST_REQUIRE_MQTT").is_err(),
            "TEST_REQUIRE_MQTT is set but TEST_MQTT_URL is not"
        );
        eprintln!("no TEST_MQTT_URL: skipped");
        return None;
    };
    let address = url.trim_start_matches("mqtt://");
    let (host, port) = address.rsplit_once(':').expect("mqtt://host:port");
    Some((host.to_string(), port.to_string()))
}

fn publish(broker: &(String, String), topic: &str, payload: &str, retain: bool) {
    let mut command = std::process::Command::new("mosquitto_pub");
    command.args(["-h", &broker.0, "-p", &broker.1, "-q", "1", "-t", topic]);
    if payload.is_empty() {
        // A zero-length (null) message: a retained one removes a discovery config.
        command.arg("-n");
    } else {
        command.args(["-m", payload]);
    }
    if retain {
        command.arg("-r");
    }
    let status = command.status().expect("mosquitto_pub is installed");
    assert!(status.success(), "mosquitto_pub {topic}");
}

async fn gql(server: &TestServer, token: &str, query: &str, variables: Value) -> Value {
    server.graphql(Some(token), query, variables).await
}

#[tokio::test]
async fn discovered_devices_report_state_to_sockets_and_take_commands() {
    let Some(broker) = broker() else { return };
    // A prefix of its own, so parallel runs on one broker never see each other's devices.
    let prefix = format!(
        "taina-test-{}",
        nanoid::nanoid!(8, &nanoid::alphabet::SAFE[2..])
    );
    let url = format!("mqtt://{}:{}", broker.0, broker.1);
    let discovery = prefix.clone();
    let server = TestServer::builder()
        .with_config(move |c| {
            c.automation.mqtt_url = Some(url);
            c.automation.discovery_prefix = discovery;
        })
        .start()
        .await;
    let admin = server.admin().await;
    let me = gql(&server, &admin, "{ me { communityId } }", json!({})).await;
    let community = me["data"]["me"]["communityId"]
        .as_str()
        .unwrap()
        .to_string();
    let state_topic = format!("{prefix}-devices/plug1/state");
    let command_topic = format!("{prefix}-devices/plug1/set");
    let config = json!({
        "name": "Desk plug", "uniq_id": "plug1", "stat_t": state_topic, "cmd_t": command_topic,
        "dev": { "ids": "plug1", "name": "Desk plug", "mf": "Tasmota", "sa": "Office" }
    });
    publish(
        &broker,
        &format!("{prefix}/switch/plug1/config"),
        &config.to_string(),
        true,
    );

    // The entity appears (the server subscribes once connected; the config is retained).
    let mut entity = Value::Null;
    for _ in 0..100 {
        let listed = gql(
            &server,
            &admin,
            "{ entities { entityId name kind state area } }",
            json!({}),
        )
        .await;
        if let Some(first) = listed["data"]["entities"].get(0) {
            entity = first.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(entity["entityId"], "switch.desk_plug", "{entity}");
    assert_eq!(entity["kind"], "SWITCH");
    assert_eq!(entity["area"], "Office");

    // Its state reaches a phoenix socket on home:{community}, with an offset.
    let topic = format!("home:{community}");
    let mut app = server.socket(&admin).await;
    app.join(&topic, json!({})).await.unwrap();
    // The state topic is subscribed right after discovery; publish until it is seen.
    let mut pushed = Value::Null;
    for _ in 0..20 {
        publish(&broker, &state_topic, "ON", false);
        match tokio::time::timeout(
            Duration::from_millis(500),
            next_event(&mut app, "state_changed"),
        )
        .await
        {
            Ok(event) => {
                pushed = event;
                break;
            }
            Err(_) => continue,
        }
    }
    assert_eq!(pushed["entity_id"], "switch.desk_plug", "{pushed}");
    assert_eq!(pushed["state"], "on");
    assert!(pushed["offset"].as_u64().is_some());

    // A command goes out on the device's command topic.
    let mut sub = tokio::process::Command::new("mosquitto_sub")
        .args([
            "-h",
            &broker.0,
            "-p",
            &broker.1,
            "-t",
            &command_topic,
            "-C",
            "1",
            "-W",
            "10",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mosquitto_sub is installed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let controlled = gql(
        &server,
        &admin,
        "mutation { controlEntity(entityId: \"switch.desk_plug\", action: TOGGLE) { entityId state } }",
        json!({}),
    )
    .await;
    assert!(controlled["errors"].is_null(), "{controlled}");
    let out = tokio::time::timeout(Duration::from_secs(15), async {
        let mut stdout = sub.stdout.take().unwrap();
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut text)
            .await
            .unwrap();
        text
    })
    .await
    .expect("the command within 15 s");
    assert_eq!(out.trim(), "OFF", "a toggle of a switch that is on");

    // A guest sees the entity but may not control it; a push with a bad action is refused.
    let guest = server.invited(&admin, "gui@example.org", "guest").await;
    let seen = gql(
        &server,
        &guest,
        "{ entities(kind: SWITCH) { entityId state } }",
        json!({}),
    )
    .await;
    assert_eq!(seen["data"]["entities"][0]["state"], "on");
    let refused = gql(
        &server,
        &guest,
        "mutation { controlEntity(entityId: \"switch.desk_plug\", action: TURN_ON) { entityId } }",
        json!({}),
    )
    .await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "forbidden");
    match app
        .push(
            &topic,
            "control",
            json!({ "entity_id": "switch.desk_plug", "action": "explode" }),
        )
        .await
    {
        Err(taina_protocol::client::ClientError::Refused(r)) => {
            assert_eq!(r["reason"], "invalid_input")
        }
        other => panic!("{other:?}"),
    }
    let history = gql(
        &server,
        &admin,
        "{ entityHistory(entityId: \"switch.desk_plug\") { state } }",
        json!({}),
    )
    .await;
    assert_eq!(history["data"]["entityHistory"][0]["state"], "on");
    publish(&broker, &format!("{prefix}/switch/plug1/config"), "", true);
}
