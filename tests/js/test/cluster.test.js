// End-to-end across two nodes: two `taina serve` processes sharing one data directory (SQLite,
// or TAINA_DATABASE_URL) and one NATS (TEST_NATS_URL, started by scripts/test). The stock
// `phoenix` client on node A and the stock `graphql-ws` client on node B in one conversation:
// what one sends, the other receives, through NATS.
//
// Without TEST_NATS_URL the file is skipped, unless TEST_REQUIRE_NATS is set (scripts/test
// sets both), in which case it fails.

import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";

import {
  Harness,
  MAX_WAIT_MS,
  collect,
  framesOf,
  gqlFramesOf,
  gqlSubscribe,
  join,
  push,
  seed,
  show,
  sleep,
  until,
  api,
} from "../lib/helpers.js";

const natsUrl = process.env.TEST_NATS_URL;
if (!natsUrl && process.env.TEST_REQUIRE_NATS) {
  throw new Error("TEST_REQUIRE_NATS is set but TEST_NATS_URL is not");
}
const skip = natsUrl ? false : "no TEST_NATS_URL (scripts/test starts nats-server)";

let a;
let b;
let world;

before(async () => {
  if (skip) return;
  const nats = { url: natsUrl, prefix: `js${crypto.randomBytes(6).toString("hex")}` };
  a = await Harness.start({ nats });
  b = await Harness.start({ nats, dataDir: a.server.dataDir });
  world = await seed(a.server, 1);
});

afterEach(async () => {
  if (skip) return;
  await a.closeSockets();
  await b.closeSockets();
});

after(async () => {
  if (skip) return;
  const second = await b.stop();
  const first = await a.stop();
  for (const result of [second, first]) {
    assert.deepEqual({ code: result.code, signal: result.signal }, { code: 0, signal: null }, "server exit after SIGTERM");
  }
});

const MESSAGE_RECEIVED = `subscription ($conversationId: String!) {
  messageReceived(conversationId: $conversationId) { id body offset senderId }
}`;

test("phoenix on node A and graphql-ws on node B share a conversation", { skip }, async () => {
  const { admin } = world;
  const [member] = world.members;
  const created = await api(a.server, "POST", "/api/chat/conversations", {
    token: admin.token,
    body: { kind: "group", name: "two nodes", participant_ids: [member.id] },
  });
  assert.equal(created.status, 201, show(created));
  const conversation = created.body.id;

  // Phoenix on A.
  const socket = await a.connected({ token: admin.token });
  const channel = socket.channel(`conversation:${conversation}`, {});
  const newMsgs = collect(channel, "new_msg");
  const joined = await join(channel, undefined, () => framesOf(socket));
  assert.equal(joined.status, "ok", show(joined));

  // graphql-ws on B.
  const client = b.graphqlClient({ token: member.token });
  const sub = gqlSubscribe(client, { query: MESSAGE_RECEIVED, variables: { conversationId: conversation } });
  const received = () => sub.items.map((r) => r.data && r.data.messageReceived).filter(Boolean);
  const ctx = () => `${gqlFramesOf(client)}\n${framesOf(socket)}`;

  // A → B: probe until B's subscription is live (graphql-ws does not acknowledge a subscribe).
  let sent;
  const deadline = Date.now() + MAX_WAIT_MS;
  for (let i = 0; !received().some((m) => sent && m.id === sent.id); i++) {
    assert.ok(Date.now() < deadline, `B's subscription never yielded A's message\n${ctx()}`);
    const reply = await push(channel, "new_msg", { body: `from A ${i}`, client_id: `a-${i}` });
    assert.equal(reply.status, "ok", show(reply));
    sent = reply.response;
    await sleep(100);
  }
  const got = received().find((m) => m.id === sent.id);
  assert.equal(got.body, sent.body);
  assert.equal(got.offset, sent.offset);
  assert.equal(got.senderId, admin.id);

  // B → A: a mutation over B's graphql-ws client reaches A's phoenix channel as new_msg.
  const mutation = gqlSubscribe(client, {
    query: `mutation ($c: String!) { sendMessage(conversationId: $c, body: "from B") { id offset } }`,
    variables: { c: conversation },
  });
  await until(() => mutation.items.length > 0, MAX_WAIT_MS, "the mutation's result", ctx);
  const stored = mutation.items[0].data.sendMessage;
  await until(() => newMsgs.items.some((m) => m.id === stored.id), MAX_WAIT_MS, "A's channel to get B's message", ctx);
  const onA = newMsgs.items.find((m) => m.id === stored.id);
  assert.equal(onA.body, "from B");
  assert.equal(onA.offset, stored.offset);
});
