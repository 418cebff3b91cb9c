// End-to-end: the smart home (Ka'a) with the stock `phoenix` client against the real Tainá
// binary and a real Mosquitto (`TEST_MQTT_URL`, started by scripts/test): a Home Assistant
// discovery config and a state published with `mosquitto_pub` reach the phoenix channel on
// `home:{community_id}` as `state_changed`, and a `control` push goes out to the device's
// command topic (seen by `mosquitto_sub`); a member from whom an admin hid an area never gets
// its entities, and when the admin opens one to them their channel errors and the stock client
// rejoins by itself into the wider view; a rule "the door opens after 22:00 → an alert and a
// chat message" fires, seen on system:alerts and on the conversation by the stock client; a
// device agent signs in with its device token, pushes states as JSON and as MessagePack, and
// receives a command when an admin controls its switch.
// Skipped without a broker unless TEST_REQUIRE_MQTT.
//
// One server per file; `after` stops it with SIGTERM and checks it exits 0.

import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";

import { encode } from "@msgpack/msgpack";

import { Harness, MAX_WAIT_MS, collect, createConversation, framesOf, graphqlHttp, join, push, seed, show, sleep, until, stopChecked } from "../lib/helpers.js";

const url = process.env.TEST_MQTT_URL;
if (!url && process.env.TEST_REQUIRE_MQTT) throw new Error("TEST_REQUIRE_MQTT is set but TEST_MQTT_URL is not");
const skip = url ? false : "no TEST_MQTT_URL";
const [host, port] = (url ?? "mqtt://127.0.0.1:1883").replace("mqtt://", "").split(":");
// A prefix of this file's own, so other runs on the same broker never meet its devices.
const prefix = `taina-js-${process.pid}-${Date.now()}`;

let h;
let world;

before(async () => {
  if (skip) return;
  h = await Harness.start({
    env: { TAINA_AUTOMATION__MQTT_URL: url, TAINA_AUTOMATION__DISCOVERY_PREFIX: prefix },
  });
  world = await seed(h.server, 1);
});

afterEach(async () => {
  if (h) await h.closeSockets();
});

after(async () => {
  await stopChecked(h);
});

function mosquittoPub(topic, message, retain = false) {
  const args = ["-h", host, "-p", port, "-q", "1", "-t", topic];
  if (message === "") args.push("-n");
  else args.push("-m", message);
  if (retain) args.push("-r");
  execFileSync("mosquitto_pub", args);
}

test("a discovered lamp's state reaches phoenix on home: and a control push reaches MQTT", { skip }, async () => {
  const { admin } = world;
  const stateTopic = `${prefix}-dev/lamp/state`;
  const commandTopic = `${prefix}-dev/lamp/set`;
  mosquittoPub(
    `${prefix}/light/lamp/config`,
    JSON.stringify({ name: "Reading lamp", schema: "json", stat_t: stateTopic, cmd_t: commandTopic, uniq_id: "lamp" }),
    true,
  );
  const entities = async () =>
    (await graphqlHttp(h.server, "{ entities { entityId kind state } }", {}, admin.token)).body.data.entities;
  // The config is retained: it arrives once the server has subscribed to the prefix.
  let listed = [];
  for (let i = 0; i < 100 && listed.length === 0; i++) {
    listed = await entities();
    if (listed.length === 0) await sleep(100);
  }
  assert.deepEqual(listed, [{ entityId: "light.reading_lamp", kind: "LIGHT", state: null }]);

  const me = await graphqlHttp(h.server, "{ me { communityId } }", {}, admin.token);
  const socket = await h.connected({ token: admin.token });
  const channel = socket.channel(`home:${me.body.data.me.communityId}`, {});
  const changes = collect(channel, "state_changed");
  const joined = await join(channel, undefined, () => framesOf(socket));
  assert.equal(joined.status, "ok", show(joined));

  // Published until the server's subscription to the state topic is in place.
  for (let i = 0; changes.items.length === 0 && i < 20; i++) {
    mosquittoPub(stateTopic, JSON.stringify({ state: "ON", brightness: 200 }));
    await sleep(250);
  }
  const [changed] = await changes.atLeast(1, MAX_WAIT_MS, () => framesOf(socket));
  assert.equal(changed.entity_id, "light.reading_lamp");
  assert.equal(changed.state, "on");
  assert.equal(changed.attributes.brightness, 200);
  assert.equal(typeof changed.offset, "number");

  // A control push: the JSON body goes out on the command topic.
  const sub = spawn("mosquitto_sub", ["-h", host, "-p", port, "-t", commandTopic, "-C", "1", "-W", "10"]);
  let out = "";
  sub.stdout.on("data", (d) => (out += d));
  await sleep(500);
  const reply = await push(channel, "control", { entity_id: "light.reading_lamp", action: "turn_on", brightness: 51 });
  assert.equal(reply.status, "ok", show(reply));
  await until(() => out.includes("}"), MAX_WAIT_MS * 2, "the command on MQTT", () => out);
  assert.deepEqual(JSON.parse(out), { state: "ON", brightness: 51 });
  const refused = await push(channel, "control", { entity_id: "light.nope", action: "turn_on" });
  assert.equal(refused.status, "error");
  assert.equal(refused.response.reason, "not_found");
  mosquittoPub(`${prefix}/light/lamp/config`, "", true);
});

test("hidden entities never reach a member, and a new grant reaches their channel by a rejoin", { skip }, async () => {
  const { admin, members } = world;
  const [kid] = members;
  const gql = async (query, token = admin.token) => {
    const { body } = await graphqlHttp(h.server, query, {}, token);
    assert.equal(body.errors, undefined, show(body));
    return body.data;
  };
  for (const [id, area] of [["heater", "Kids room"], ["fan", "Hall"]]) {
    mosquittoPub(
      `${prefix}/switch/${id}/config`,
      JSON.stringify({ name: id, uniq_id: id, stat_t: `${prefix}-dev/${id}/state`, cmd_t: `${prefix}-dev/${id}/set`, dev: { ids: id, name: id, sa: area } }),
      true,
    );
  }
  // The configs are retained: they arrive once the server has subscribed to the prefix.
  for (let i = 0; i < 100 && (await gql("{ entities(kind: SWITCH) { entityId } }")).entities.length < 2; i++) {
    await sleep(100);
  }
  await gql(`mutation { setEntityAccess(userId: "${kid.id}", scope: AREA, target: "Kids room", access: NONE) { target } }`);
  const seen = await gql("{ entities(kind: SWITCH) { entityId access } }", kid.token);
  assert.deepEqual(seen.entities, [{ entityId: "switch.fan", access: "CONTROL" }]);

  const community = (await gql("{ me { communityId } }")).me.communityId;
  const socket = await h.connected({ token: kid.token });
  const channel = socket.channel(`home:${community}`, {});
  const changes = collect(channel, "state_changed");
  let errors = 0;
  channel.onError(() => errors++);
  assert.equal((await join(channel, undefined, () => framesOf(socket))).status, "ok");

  // The fan's states arrive, the heater's never do.
  for (let i = 0; !changes.items.some((c) => c.entity_id === "switch.fan") && i < 20; i++) {
    mosquittoPub(`${prefix}-dev/heater/state`, "ON");
    mosquittoPub(`${prefix}-dev/fan/state`, "ON");
    await sleep(250);
  }
  await until(() => changes.items.some((c) => c.entity_id === "switch.fan"), MAX_WAIT_MS, "the fan's state", () => framesOf(socket));
  assert.deepEqual(changes.items.filter((c) => c.entity_id === "switch.heater"), [], "the hidden heater");
  assert.equal(changes.items[0].hidden_from, undefined, "who receives what is not sent");
  const refused = await push(channel, "control", { entity_id: "switch.heater", action: "turn_off" });
  assert.equal(refused.response.reason, "not_found");

  // Opening the heater to them: its next states arrive on the same join.
  await gql(`mutation { setEntityAccess(userId: "${kid.id}", scope: ENTITY, target: "switch.heater", access: VIEW) { target } }`);
  for (let i = 0; !changes.items.some((c) => c.entity_id === "switch.heater") && i < 20; i++) {
    mosquittoPub(`${prefix}-dev/heater/state`, i % 2 ? "ON" : "OFF");
    await sleep(250);
  }
  assert.ok(changes.items.some((c) => c.entity_id === "switch.heater"), show(changes.items));
  const viewOnly = await push(channel, "control", { entity_id: "switch.heater", action: "turn_off" });
  assert.equal(viewOnly.response.reason, "forbidden");
  assert.equal(errors, 0);

  // Nothing hidden any more: their join moves to the community's audience. The channel errors
  // and the stock client rejoins by itself.
  await gql(`mutation { setEntityAccess(userId: "${kid.id}", scope: AREA, target: "Kids room", access: null) { target } }`);
  await until(() => errors > 0 && channel.state === "joined", MAX_WAIT_MS * 2, "an error and a rejoin", () => framesOf(socket));
  const before = changes.items.length;
  for (let i = 0; changes.items.length === before && i < 20; i++) {
    mosquittoPub(`${prefix}-dev/fan/state`, i % 2 ? "ON" : "OFF");
    await sleep(250);
  }
  assert.ok(changes.items.length > before, "states after the rejoin");
  for (const id of ["heater", "fan"]) mosquittoPub(`${prefix}/switch/${id}/config`, "", true);
});

/** A fixed-offset zone whose clock now reads between 23:00 and 05:00. */
function nightZone() {
  for (let offset = -12; offset <= 14; offset++) {
    const hour = (new Date().getUTCHours() + offset + 24) % 24;
    if (hour >= 23 || hour < 5) return offset === 0 ? "Etc/GMT" : offset < 0 ? `Etc/GMT+${-offset}` : `Etc/GMT-${offset}`;
  }
  throw new Error("no zone");
}

test("the door opening at night raises an alert and posts in the family chat", { skip }, async () => {
  const { admin, members } = world;
  const gql = async (query, variables = {}) => {
    const { body } = await graphqlHttp(h.server, query, variables, admin.token);
    assert.equal(body.errors, undefined, show(body));
    return body.data;
  };
  mosquittoPub(
    `${prefix}/binary_sensor/door/config`,
    JSON.stringify({ name: "Front door", uniq_id: "door", dev_cla: "door", stat_t: `${prefix}-dev/door/state` }),
    true,
  );
  for (let i = 0; i < 100 && (await gql("{ entities(kind: BINARY_SENSOR) { entityId } }")).entities.length === 0; i++) {
    await sleep(100);
  }
  const family = await createConversation(h.server, admin.token, [members[0].id], "Family");
  await gql(`mutation($tz: String!) { setHomeSettings(timeZone: $tz) { timeZone } }`, { tz: nightZone() });
  const { createRule } = await gql(
    `mutation($definition: JSON!) { createRule(name: "Door at night", definition: $definition) { id enabled } }`,
    {
      definition: {
        triggers: [{ type: "state", entity_id: "binary_sensor.front_door", to: "on" }],
        conditions: [{ type: "time", after: "22:00", before: "06:00" }],
        actions: [
          { type: "alert", level: "critical", message: "{{ trigger.entity_id }} opened at night" },
          { type: "message", conversation_id: family.id, text: "The front door opened at {{ time }}" },
        ],
      },
    },
  );
  assert.equal(createRule.enabled, true);

  // The member's phone: the stock client on system:alerts and the family conversation.
  const socket = await h.connected({ token: members[0].token });
  const alerts = socket.channel("system:alerts", {});
  const chat = socket.channel(`conversation:${family.id}`, {});
  const raised = collect(alerts, "alert");
  const posted = collect(chat, "new_msg");
  assert.equal((await join(alerts, undefined, () => framesOf(socket))).status, "ok");
  assert.equal((await join(chat, undefined, () => framesOf(socket))).status, "ok");

  for (let i = 0; raised.items.length === 0 && i < 20; i++) {
    mosquittoPub(`${prefix}-dev/door/state`, "OFF");
    mosquittoPub(`${prefix}-dev/door/state`, "ON");
    await sleep(250);
  }
  const [alert] = await raised.atLeast(1, MAX_WAIT_MS, () => framesOf(socket));
  assert.equal(alert.message, "binary_sensor.front_door opened at night");
  assert.equal(alert.level, "critical");
  assert.equal(alert.scope, "community");
  assert.equal(alert.from, "rule");
  const [message] = await posted.atLeast(1, MAX_WAIT_MS, () => framesOf(socket));
  assert.match(message.body, /^The front door opened at \d\d:\d\d$/);
  assert.equal(message.sender_id, admin.id, "sent as the rule's author");

  const { ruleRuns } = await gql(`query($id: ID!) { ruleRuns(id: $id) { outcome trigger steps } }`, { id: createRule.id });
  assert.equal(ruleRuns.at(-1).outcome, "done", show(ruleRuns));
  assert.deepEqual(ruleRuns.at(-1).steps.map((s) => s.action), ["alert", "message"]);
  mosquittoPub(`${prefix}/binary_sensor/door/config`, "", true);
});

test("a device agent reports over the socket in JSON and MessagePack and receives commands", { skip }, async () => {
  const { admin } = world;
  const gql = async (query, variables = {}, token = admin.token) => {
    const { body } = await graphqlHttp(h.server, query, variables, token);
    assert.equal(body.errors, undefined, show(body));
    return body.data;
  };
  const { createAgentDevice } = await gql(`mutation {
    createAgentDevice(name: "Greenhouse", area: "Garden", entities: [
      { key: "temp", kind: SENSOR, unit: "°C", stateClass: "measurement" },
      { key: "pump", kind: SWITCH }
    ]) { device { id source } entities { entityId } } }`);
  const deviceId = createAgentDevice.device.id;
  assert.equal(createAgentDevice.device.source, "socket");
  const { createDeviceToken } = await gql(
    `mutation($id: ID!) { createDeviceToken(deviceId: $id, name: "esp32") { token deviceToken { id } } }`,
    { id: deviceId },
  );
  const token = createDeviceToken.token;
  assert.match(token, /^tdv_/);

  // The agent: the stock client with the device token. Its own topic only.
  const socket = await h.connected({ token });
  const channel = socket.channel(`device:${deviceId}`, {});
  const commands = collect(channel, "command");
  assert.equal((await join(channel, undefined, () => framesOf(socket))).status, "ok");
  const elsewhere = socket.channel(`home:${(await gql("{ me { communityId } }")).me.communityId}`, {});
  const refused = await join(elsewhere, undefined, () => framesOf(socket));
  assert.equal(refused.status, "error");
  assert.equal(refused.response.reason, "unauthorized");

  const json = await push(channel, "state", { entity: "temp", state: 19.5, attributes: { battery: 88 } });
  assert.equal(json.status, "ok", show(json));
  assert.deepEqual(json.response, { stored: 1 });
  const packed = encode({ states: [{ entity: "temp", state: 20.25 }, { entity: "pump", state: true }] });
  const binary = await push(channel, "state", packed.buffer.slice(packed.byteOffset, packed.byteOffset + packed.byteLength));
  assert.equal(binary.status, "ok", show(binary));
  assert.deepEqual(binary.response, { stored: 2 });
  const bad = await push(channel, "state", { entity: "fan", state: 1 });
  assert.equal(bad.response.reason, "invalid_input");

  const { entity } = await gql(`{ entity(entityId: "sensor.greenhouse_temp") { state attributes } }`);
  assert.equal(entity.state, "20.25");
  assert.equal(entity.attributes.battery, 88);

  // An admin switches the pump off: the agent gets the command.
  await gql(`mutation { controlEntity(entityId: "switch.greenhouse_pump", action: TURN_OFF) { entityId } }`);
  const [command] = await commands.atLeast(1, MAX_WAIT_MS, () => framesOf(socket));
  assert.deepEqual(command, { entity: "pump", entity_id: "switch.greenhouse_pump", action: "turn_off" });

  // Revoking the token closes the agent's socket.
  let closed = false;
  socket.onClose(() => (closed = true));
  await gql(`mutation($id: ID!) { revokeDeviceToken(id: $id) }`, { id: createDeviceToken.deviceToken.id });
  await until(() => closed, MAX_WAIT_MS, "the agent's socket to close");
});
