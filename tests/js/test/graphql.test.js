// End-to-end: the stock npm `graphql-ws` client (6.4.2, with `graphql` 16 as its peer) and
// `POST /graphql` against the real Tainá binary, alongside the stock `phoenix` client for the
// cross-protocol cases.
//
// One server per file (fresh temp data dir), seeded with an admin and three invited members.
// Each test makes its own clients; `afterEach` disposes them (and waits for their sockets to
// close) and `after` stops the server with SIGTERM and checks it exits 0. Every graphql-ws
// client records its raw frames (`client.frames`), shown in assertion messages.

import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";

import {
  Harness,
  MAX_WAIT_MS,
  collect,
  framesOf,
  gqlFramesOf,
  gqlSubscribe,
  graphqlHttp,
  join,
  push,
  seed,
  show,
  sleep,
  until,
  within,
  stopChecked,
} from "../lib/helpers.js";

let h;
let world;

before(async () => {
  h = await Harness.start();
  // members[0] is "B" in most tests, members[1] is outside some conversations, and members[2]
  // connects for the first time in the presence test (so no earlier socket of it is still
  // within the offline debounce).
  world = await seed(h.server, 3);
});

afterEach(async () => {
  await h.closeSockets();
});

after(async () => {
  await stopChecked(h);
});

// ---------------------------------------------------------------------------------------------

const ME = "query { me { id email role communityId } }";
const MESSAGE_RECEIVED = `subscription ($conversationId: String!, $since: SinceInput) {
  messageReceived(conversationId: $conversationId, since: $since) { id body offset epoch senderId }
}`;
const SEND_MESSAGE = `mutation ($conversationId: String!, $body: String!, $clientId: String) {
  sendMessage(conversationId: $conversationId, body: $body, clientId: $clientId) {
    id body offset epoch conversationId senderId
  }
}`;
const USER_PRESENCE = `subscription ($communityId: String!) {
  userPresence(communityId: $communityId) { userId online at }
}`;

/** A close event or a GraphQL error list, readably (ws CloseEvents keep code/reason in getters). */
function describe(value) {
  if (value && typeof value === "object" && !Array.isArray(value) && "code" in value) {
    return show({ code: value.code, reason: value.reason, wasClean: value.wasClean });
  }
  return show(value);
}

/** A group conversation made with the GraphQL mutation over HTTP, by the admin. */
async function conversationOf(participantIds, token = world.admin.token) {
  const r = await graphqlHttp(
    h.server,
    `mutation ($ids: [String!]!) {
      createConversation(kind: GROUP, name: "graphql test", participantIds: $ids) { id epoch lastOffset }
    }`,
    { ids: participantIds },
    token,
  );
  assert.equal(r.status, 200, show(r));
  assert.equal(r.body.errors, undefined, show(r.body));
  const conv = r.body.data.createConversation;
  assert.equal(typeof conv.id, "string");
  assert.equal(typeof conv.epoch, "string");
  assert.equal(typeof conv.lastOffset, "number");
  return conv;
}

/** A phoenix socket of `user`, joined to `conversation:<id>`. */
async function phoenixIn(user, conversationId) {
  const socket = await h.connected({ token: user.token });
  const channel = socket.channel(`conversation:${conversationId}`);
  const joined = await join(channel, undefined, () => framesOf(socket));
  assert.equal(joined.status, "ok", `${show(joined)}\n${framesOf(socket)}`);
  return { socket, channel };
}

/** Pushes `new_msg` and returns the stored message from the ok reply. */
async function phoenixSend({ socket, channel }, body, clientId) {
  const r = await push(channel, "new_msg", { body, client_id: clientId }, undefined, () => framesOf(socket));
  assert.equal(r.status, "ok", `${show(r)}\n${framesOf(socket)}`);
  return r.response;
}

/**
 * graphql-ws gives no acknowledgement that a subscription is running on the server, so a
 * message sent right after `subscribe` may be published before the resolver listens. This
 * sends probe messages until the subscription has yielded one: from then on, it is live.
 */
async function untilLive(sub, sendProbe, context) {
  const deadline = Date.now() + MAX_WAIT_MS;
  for (let i = 0; ; i++) {
    await sendProbe(i);
    const wait = Date.now() + 250;
    while (Date.now() < wait) {
      if (sub.items.length > 0) return;
      await sleep(10);
    }
    if (Date.now() >= deadline) {
      throw new Error(`the subscription yielded none of ${i + 1} probe message(s)\n${context()}`);
    }
  }
}

const received = (sub) => sub.items.map((r) => r.data && r.data.messageReceived).filter(Boolean);

// ---------------------------------------------------------------------------------------------

test("1. HTTP: signIn, then me with the token; me without a token is unauthenticated", async () => {
  const [b] = world.members;
  const signedIn = await graphqlHttp(
    h.server,
    `mutation ($email: String!, $password: String!) {
      signIn(email: $email, password: $password) { token expiresAt user { id } }
    }`,
    { email: b.email, password: "a long password for tests" },
  );
  assert.equal(signedIn.status, 200, show(signedIn));
  assert.equal(signedIn.body.errors, undefined, show(signedIn.body));
  const { token, expiresAt, user } = signedIn.body.data.signIn;
  assert.equal(typeof token, "string");
  assert.ok(token.length > 0);
  assert.ok(Date.parse(expiresAt) > Date.now(), `expiresAt in the future: ${expiresAt}`);
  assert.equal(user.id, b.id);

  const me = await graphqlHttp(h.server, ME, undefined, token);
  assert.equal(me.status, 200, show(me));
  assert.equal(me.body.errors, undefined, show(me.body));
  assert.deepEqual(me.body.data.me, { id: b.id, email: b.email, role: "MEMBER", communityId: world.community.id });

  const anonymous = await graphqlHttp(h.server, ME);
  assert.equal(anonymous.status, 200, show(anonymous));
  assert.ok(Array.isArray(anonymous.body.errors), show(anonymous.body));
  assert.equal(anonymous.body.errors[0].extensions.code, "unauthenticated", show(anonymous.body));
  assert.equal(anonymous.body.data, null, show(anonymous.body));
});

test("2. Phoenix → GraphQL: new_msg pushed by A reaches B's messageReceived", async () => {
  const { admin } = world;
  const [b] = world.members;
  const conv = await conversationOf([b.id]);
  const a = await phoenixIn(admin, conv.id);

  const client = h.graphqlClient({ token: b.token });
  const sub = gqlSubscribe(client, { query: MESSAGE_RECEIVED, variables: { conversationId: conv.id } });
  const ctx = () => `${gqlFramesOf(client)}\n${framesOf(a.socket)}`;
  await untilLive(sub, (i) => phoenixSend(a, `probe ${i}`, `p2-${i}`), ctx);
  assert.equal(client.sockets[0].protocol, "graphql-transport-ws", "the server answers graphql-transport-ws");

  const sent = await phoenixSend(a, "hello from phoenix", "t2");
  await until(() => received(sub).some((m) => m.id === sent.id), MAX_WAIT_MS, "B's subscription to yield the message", ctx);
  const got = received(sub).filter((m) => m.id === sent.id);
  assert.equal(got.length, 1, `once\n${ctx()}`);
  assert.deepEqual(got[0], {
    id: sent.id,
    body: "hello from phoenix",
    offset: sent.offset,
    epoch: sent.epoch,
    senderId: admin.id,
  });
  assert.ok(sub.items.every((r) => r.errors === undefined), `no errors\n${ctx()}`);
  assert.equal(sub.errored, false);
  assert.equal(sub.completed, false);
});

test("3. GraphQL → Phoenix: sendMessage over graphql-ws reaches B's channel as new_msg", async () => {
  const { admin } = world;
  const [b] = world.members;
  const conv = await conversationOf([b.id]);
  const bp = await phoenixIn(b, conv.id);
  const atB = collect(bp.channel, "new_msg");

  const client = h.graphqlClient({ token: admin.token });
  const ctx = () => `${gqlFramesOf(client)}\n${framesOf(bp.socket)}`;
  // A mutation over the socket with `iterate`: one result, then the iterator ends.
  const results = [];
  await within(
    (async () => {
      for await (const result of client.iterate({
        query: SEND_MESSAGE,
        variables: { conversationId: conv.id, body: "hello from graphql", clientId: "t3" },
      })) {
        results.push(result);
      }
    })(),
    MAX_WAIT_MS,
    "the sendMessage result and completion",
    ctx,
  );
  assert.equal(results.length, 1, `one result\n${ctx()}`);
  assert.equal(results[0].errors, undefined, show(results[0]));
  const sent = results[0].data.sendMessage;
  assert.equal(sent.body, "hello from graphql");
  assert.equal(sent.conversationId, conv.id);
  assert.equal(sent.senderId, admin.id);
  assert.equal(sent.epoch, conv.epoch);
  assert.equal(sent.offset, conv.lastOffset + 1);

  const [got] = await atB.atLeast(1, MAX_WAIT_MS, ctx);
  assert.equal(got.id, sent.id);
  assert.equal(got.body, sent.body);
  assert.equal(got.offset, sent.offset);
  assert.equal(got.epoch, sent.epoch);
  assert.equal(got.sender_id, admin.id);
  assert.equal(got.client_id, "t3");
});

test("4. recovery over GraphQL: since {epoch, offset}; a wrong epoch is not_recovered", async () => {
  const { admin } = world;
  const [b] = world.members;
  const conv = await conversationOf([b.id]);
  const a = await phoenixIn(admin, conv.id);

  // B listens and notes the position of the last message it saw.
  const first = h.graphqlClient({ token: b.token });
  const sub1 = gqlSubscribe(first, { query: MESSAGE_RECEIVED, variables: { conversationId: conv.id } });
  await untilLive(sub1, (i) => phoenixSend(a, `probe ${i}`, `p4-${i}`), () => gqlFramesOf(first));
  await sleep(100);
  const seen = received(sub1);
  const last = seen[seen.length - 1];
  const noted = { epoch: last.epoch, offset: last.offset };
  assert.equal(noted.epoch, conv.epoch);

  // B goes away; A sends two.
  await h.disposeGraphqlClient(first);
  assert.ok(first.sockets.every((s) => s.readyState === s.CLOSED), "B's socket is closed");
  const missed = [await phoenixSend(a, "missed 1", "m1"), await phoenixSend(a, "missed 2", "m2")];

  // B comes back with `since`: the two first, in order, then live ones.
  const second = h.graphqlClient({ token: b.token });
  const ctx2 = () => gqlFramesOf(second);
  const sub2 = gqlSubscribe(second, {
    query: MESSAGE_RECEIVED,
    variables: { conversationId: conv.id, since: noted },
  });
  await sub2.atLeast(2, MAX_WAIT_MS, ctx2);
  const live = await phoenixSend(a, "live 3", "m3");
  await sub2.atLeast(3, MAX_WAIT_MS, ctx2);
  await sleep(300);
  assert.ok(sub2.items.every((r) => r.errors === undefined), `no errors\n${ctx2()}`);
  const expected = [...missed, live].map((m) => ({
    id: m.id,
    body: m.body,
    offset: m.offset,
    epoch: m.epoch,
    senderId: admin.id,
  }));
  assert.deepEqual(received(sub2), expected, `the two missed, in order, then the live one, once each\n${ctx2()}`);
  assert.ok(received(sub2)[0].offset > noted.offset);

  // A wrong epoch: the first result is the not_recovered notice, then live messages go on.
  const third = h.graphqlClient({ token: b.token });
  const ctx3 = () => gqlFramesOf(third);
  const sub3 = gqlSubscribe(third, {
    query: MESSAGE_RECEIVED,
    variables: { conversationId: conv.id, since: { epoch: "not-the-epoch", offset: noted.offset } },
  });
  const [notice] = await sub3.atLeast(1, MAX_WAIT_MS, ctx3);
  assert.ok(Array.isArray(notice.errors) && notice.errors.length > 0, `errors in the first result\n${ctx3()}`);
  assert.equal(notice.errors[0].extensions.code, "not_recovered", ctx3());
  assert.equal(notice.data == null || notice.data.messageReceived == null, true, `no message with the notice\n${ctx3()}`);
  assert.equal(sub3.errored, false, `the subscription goes on\n${ctx3()}`);
  const later = await phoenixSend(a, "after the notice", "m4");
  await sub3.atLeast(2, MAX_WAIT_MS, ctx3);
  await sleep(300);
  assert.equal(sub3.items.length, 2, `the notice, then only the live message\n${ctx3()}`);
  assert.equal(sub3.items[1].errors, undefined, ctx3());
  assert.deepEqual(sub3.items[1].data.messageReceived, {
    id: later.id,
    body: "after the notice",
    offset: later.offset,
    epoch: later.epoch,
    senderId: admin.id,
  });
});

test("5. a bad token in connectionParams: close 4403, the sink gets the error", async () => {
  const closed = [];
  const client = h.graphqlClient({ token: "not-a-valid-token", on: { closed: (e) => closed.push(e) } });
  const ctx = () => gqlFramesOf(client);
  const sub = gqlSubscribe(client, { query: ME });
  await sub.ended(MAX_WAIT_MS, ctx);
  await until(() => closed.length > 0, MAX_WAIT_MS, "the closed event", ctx);
  assert.equal(closed[0].code, 4403, `close code\n${ctx()}`);
  assert.equal(sub.errored, true, `the sink's error, not complete\n${ctx()}`);
  assert.equal(sub.error && sub.error.code, 4403, `the sink got ${describe(sub.error)}\n${ctx()}`);
  assert.equal(sub.items.length, 0);
  assert.equal(client.connections, 0, "never acknowledged");
  assert.equal(client.sockets.length, 1, `no retry\n${ctx()}`);
  assert.ok(!client.frames.some((f) => f.includes('"connection_ack"')), ctx());
});

test("6. a subscription to someone else's conversation errors; the client stays usable", async () => {
  const [b, outsider] = world.members;
  const own = await conversationOf([b.id]);
  const foreign = await conversationOf([outsider.id]);

  const client = h.graphqlClient({ token: b.token });
  const ctx = () => gqlFramesOf(client);
  // A long-lived operation holds the (lazy) socket open, so the next ones share it.
  const holder = gqlSubscribe(client, { query: MESSAGE_RECEIVED, variables: { conversationId: own.id } });
  await until(() => client.connections === 1, MAX_WAIT_MS, "the connection_ack", ctx);

  const refused = gqlSubscribe(client, { query: MESSAGE_RECEIVED, variables: { conversationId: foreign.id } });
  await refused.ended(MAX_WAIT_MS, ctx);
  assert.equal(refused.errored, true, `error, not complete\n${ctx()}`);
  assert.ok(Array.isArray(refused.error), `graphql-ws delivers the protocol error as an array: ${describe(refused.error)}\n${ctx()}`);
  assert.equal(refused.error[0].extensions.code, "not_found", ctx());
  assert.equal(refused.items.length, 0, ctx());
  assert.ok(
    client.frames.some((f) => f.startsWith("<- ") && /"type":"error"/.test(f)),
    `an \`error\` message on the wire\n${ctx()}`,
  );

  // Same socket, another operation.
  const me = gqlSubscribe(client, { query: ME });
  await me.ended(MAX_WAIT_MS, ctx);
  assert.equal(me.completed, true, ctx());
  assert.equal(me.items.length, 1, ctx());
  assert.equal(me.items[0].errors, undefined, ctx());
  assert.equal(me.items[0].data.me.id, b.id);
  assert.deepEqual(client.closes, [], `no close\n${ctx()}`);
  assert.equal(client.sockets.length, 1, `one socket throughout\n${ctx()}`);
  assert.equal(client.connections, 1);
  assert.equal(holder.errored, false, ctx());
  assert.equal(holder.completed, false, ctx());
});

test("7. userPresence: B sees itself online, then A's phoenix socket come online", async () => {
  const [b, , a] = world.members;
  const client = h.graphqlClient({ token: b.token });
  const sub = gqlSubscribe(client, { query: USER_PRESENCE, variables: { communityId: world.community.id } });
  const events = () => sub.items.map((r) => r.data && r.data.userPresence).filter(Boolean);
  const ctx = () => gqlFramesOf(client);

  await until(() => events().some((e) => e.userId === b.id), MAX_WAIT_MS, "B's own online item", ctx);
  assert.ok(sub.items.every((r) => r.errors === undefined), ctx());
  const self = events().find((e) => e.userId === b.id);
  assert.equal(self.online, true, ctx());
  assert.ok(!Number.isNaN(Date.parse(self.at)), `at parses: ${self.at}`);
  assert.ok(events().every((e) => e.online === true), `the initial items are all online: true\n${ctx()}`);
  assert.ok(!events().some((e) => e.userId === a.id), `A is not online yet\n${ctx()}`);

  const socket = await h.connected({ token: a.token });
  await until(() => events().some((e) => e.userId === a.id), MAX_WAIT_MS, "A's online item", () =>
    `${ctx()}\n${framesOf(socket)}`,
  );
  const online = events().filter((e) => e.userId === a.id);
  assert.equal(online.length, 1, ctx());
  assert.equal(online[0].online, true);
  assert.ok(!Number.isNaN(Date.parse(online[0].at)), `at parses: ${online[0].at}`);
});

test("8. signOut over HTTP closes B's graphql-ws socket with 4403", async () => {
  const [b] = world.members;
  // Its own session, so the other tests' tokens stay valid.
  const signedIn = await graphqlHttp(
    h.server,
    "mutation ($e: String!, $p: String!) { signIn(email: $e, password: $p) { token } }",
    { e: b.email, p: "a long password for tests" },
  );
  assert.equal(signedIn.body.errors, undefined, show(signedIn.body));
  const { token } = signedIn.body.data.signIn;

  const closed = [];
  const client = h.graphqlClient({ token, on: { closed: (e) => closed.push(e) } });
  const ctx = () => gqlFramesOf(client);
  const sub = gqlSubscribe(client, { query: USER_PRESENCE, variables: { communityId: world.community.id } });
  // The first item proves the subscription runs.
  await sub.atLeast(1, MAX_WAIT_MS, ctx);

  const started = Date.now();
  const out = await graphqlHttp(h.server, "mutation { signOut }", undefined, token);
  assert.equal(out.status, 200, show(out));
  assert.deepEqual(out.body, { data: { signOut: true } });
  await until(() => closed.length > 0, 2000, "the closed event after sign-out", ctx);
  assert.ok(Date.now() - started <= 2500);
  assert.equal(closed[0].code, 4403, `close code (reason ${JSON.stringify(closed[0].reason)})\n${ctx()}`);
  await sub.ended(MAX_WAIT_MS, ctx);
  assert.equal(sub.errored, true, `the sink's error\n${ctx()}`);
  assert.equal(sub.error && sub.error.code, 4403, describe(sub.error));

  // The token no longer works over HTTP either.
  const me = await graphqlHttp(h.server, ME, undefined, token);
  assert.equal(me.status, 401, show(me));
});
