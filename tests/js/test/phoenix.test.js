// End-to-end: the stock npm `phoenix` client (1.8.16) against the real Tainá binary.
//
// One server per file (fresh temp data dir), seeded with an admin and two invited members.
// Each test makes its own sockets; `afterEach` disconnects them and `after` stops the server
// with SIGTERM and checks it exits 0.

import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import { Presence } from "phoenix";

import {
  Harness,
  bytes,
  collect,
  createConversation,
  framesOf,
  join,
  leave,
  push,
  range,
  rawUpgrade,
  seed,
  show,
  signIn,
  signOut,
  sleep,
  toHex,
  until,
  within,
  stopChecked,
} from "../lib/helpers.js";

let h;
let world;

before(async () => {
  h = await Harness.start();
  world = await seed(h.server, 2);
});

afterEach(async () => {
  await h.closeSockets();
});

after(async () => {
  await stopChecked(h);
});

/** A fresh group conversation of the admin and the first member. */
async function groupConversation() {
  const [m] = world.members;
  return createConversation(h.server, world.admin.token, [m.id]);
}

// ---------------------------------------------------------------------------------------------

test("a. join and leave user:<own id>", async () => {
  const { admin } = world;
  const socket = await h.connected({ token: admin.token });
  const channel = socket.channel(`user:${admin.id}`);
  const joined = await join(channel, undefined, () => framesOf(socket));
  assert.equal(joined.status, "ok", `join reply: ${show(joined)}\n${framesOf(socket)}`);
  assert.equal(typeof joined.response.epoch, "string", `epoch in ${show(joined.response)}`);
  assert.ok(joined.response.epoch.length > 0, "epoch is not empty");
  assert.equal(typeof joined.response.offset, "number", `offset in ${show(joined.response)}`);
  assert.ok(Number.isInteger(joined.response.offset) && joined.response.offset >= 0);
  assert.equal(joined.response.recovered, undefined, "no `recovered` without `since`");
  assert.equal(channel.state, "joined");

  const left = await leave(channel);
  assert.equal(left, "ok", framesOf(socket));
  assert.equal(channel.state, "closed");
  // The server also confirms with phx_close for the join_ref.
  await until(
    () => socket.frames.some((m) => m.topic === channel.topic && m.event === "phx_close"),
    2000,
    "phx_close after phx_leave",
    () => framesOf(socket),
  );
});

test("a2. authToken option: token in the base64url.bearer.phx subprotocol", async (t) => {
  const [m] = world.members;
  // phoenix.js sends "base64url.bearer.phx." + btoa(token) without "=". `ws` (like browsers)
  // refuses a subprotocol containing "/", which btoa can produce for arbitrary strings. For a JWT
  // it cannot: JWT characters are [A-Za-z0-9_.-], so every 3rd byte's low 6 bits are never 0x3f
  // ("?" / DEL), the only source of "/" (and never 0x3e, the source of "+"). Check rather than assume.
  assert.match(m.token, /^[A-Za-z0-9_.-]+$/, "session tokens are JWTs");
  const encoded = btoa(m.token).replace(/=/g, "");
  if (encoded.includes("/")) {
    t.skip(`btoa(token) contains "/", which ws refuses as a subprotocol: ${encoded}`);
    return;
  }
  const socket = await h.connected({ authToken: m.token });
  assert.equal(socket.conn.protocol, "phoenix", "the server answers the `phoenix` subprotocol");
  assert.ok(!/token=/.test(socket.endPointURL()), "the token is not in the URL");
  const channel = socket.channel(`user:${m.id}`);
  const joined = await join(channel);
  assert.equal(joined.status, "ok", `${show(joined)}\n${framesOf(socket)}`);
  assert.equal(typeof joined.response.epoch, "string");
  assert.equal(typeof joined.response.offset, "number");

  // With params.token the client offers no subprotocol and the server must answer none.
  const plain = await h.connected({ token: m.token });
  assert.equal(plain.conn.protocol, "", "no subprotocol when none was offered");
});

test("b. unauthorized and unmatched joins", async () => {
  const [m] = world.members;
  const socket = await h.connected({ token: m.token });

  const other = socket.channel(`user:${world.admin.id}`);
  const refused = await join(other, undefined, () => framesOf(socket));
  assert.equal(refused.status, "error", `${show(refused)}\n${framesOf(socket)}`);
  assert.deepEqual(refused.response, { reason: "unauthorized" });
  assert.equal(other.state, "errored");
  // The client would rejoin with backoff forever; leaving stops it.
  await leave(other);
  assert.equal(other.state, "closed");

  const lobby = socket.channel("room:lobby");
  const unmatched = await join(lobby, undefined, () => framesOf(socket));
  assert.equal(unmatched.status, "error", `${show(unmatched)}\n${framesOf(socket)}`);
  assert.deepEqual(unmatched.response, { reason: "unmatched topic" });
  await leave(lobby);
  assert.equal(lobby.state, "closed");

  // The socket is still usable after the refusals.
  const own = socket.channel(`user:${m.id}`);
  assert.equal((await join(own)).status, "ok");
});

test("c. presence on community:<id> with the JS Presence helper", async () => {
  const { admin, community } = world;
  const [m] = world.members;
  const topic = `community:${community.id}`;

  const sa = await h.connected({ token: admin.token });
  const sm = await h.connected({ token: m.token });
  const ca = sa.channel(topic, { device: "phone" });
  const cm = sm.channel(topic, { device: "phone" });
  const pa = new Presence(ca);
  const pm = new Presence(cm);
  const list = (p) => p.list((id, { metas }) => ({ id, metas }));
  const ids = (p) => list(p).map((e) => e.id).sort();
  const context = () => `admin sees ${show(list(pa))}\nmember sees ${show(list(pm))}\n${framesOf(sa, sm)}`;

  let syncsA = 0;
  let syncsM = 0;
  pa.onSync(() => syncsA++);
  pm.onSync(() => syncsM++);

  assert.equal((await join(ca)).status, "ok");
  assert.equal((await join(cm)).status, "ok");

  const both = [admin.id, m.id].sort();
  await until(
    () => JSON.stringify(ids(pa)) === JSON.stringify(both) && JSON.stringify(ids(pm)) === JSON.stringify(both),
    5000,
    "both sides to list both users",
    context,
  );
  assert.ok(syncsA > 0 && syncsM > 0, "onSync fired on both sides");
  for (const p of [pa, pm]) {
    for (const { id, metas } of list(p)) {
      assert.equal(metas.length, 1, `one meta for ${id}: ${show(metas)}`);
      const [meta] = metas;
      assert.equal(typeof meta.phx_ref, "string", `phx_ref in ${show(meta)}`);
      assert.ok(meta.phx_ref.length > 0);
      assert.ok(meta.online_at !== undefined && meta.online_at !== null, `online_at in ${show(meta)}`);
      assert.equal(meta.device, "phone", `device in ${show(meta)}`);
    }
  }
  // presence_state arrived on each socket after its join, carrying the join_ref.
  for (const [socket, channel] of [[sa, ca], [sm, cm]]) {
    const state = socket.frames.find((f) => f.topic === topic && f.event === "presence_state");
    assert.ok(state, `presence_state pushed after join\n${framesOf(socket)}`);
    assert.equal(state.join_ref, channel.joinRef());
  }

  // The member leaves; the admin's Presence drops it.
  assert.equal(await leave(cm), "ok");
  await until(
    () => JSON.stringify(ids(pa)) === JSON.stringify([admin.id]),
    5000,
    "the admin's presence to drop the member",
    context,
  );
  const diff = sa.frames.find(
    (f) => f.topic === topic && f.event === "presence_diff" && f.payload.leaves && f.payload.leaves[m.id],
  );
  assert.ok(diff, `a presence_diff with the member in leaves\n${framesOf(sa)}`);
});

test("d. chat message between two Phoenix clients; client_id dedup; empty body", async () => {
  const { admin } = world;
  const [m] = world.members;
  const conv = await groupConversation();
  assert.deepEqual([...conv.participant_ids].sort(), [admin.id, m.id].sort());
  const topic = `conversation:${conv.id}`;

  const sa = await h.connected({ token: admin.token });
  const sb = await h.connected({ token: m.token });
  const ca = sa.channel(topic);
  const cb = sb.channel(topic);
  const atB = collect(cb, "new_msg");
  const atA = collect(ca, "new_msg");
  const ja = await join(ca);
  const jb = await join(cb);
  assert.equal(ja.status, "ok", show(ja));
  assert.equal(jb.status, "ok", show(jb));
  assert.equal(ja.response.epoch, conv.epoch, "join epoch = conversation epoch");
  assert.equal(ja.response.offset, conv.last_offset);

  const ctx = () => framesOf(sa, sb);
  const sent = await push(ca, "new_msg", { body: "hello", client_id: "c1" }, undefined, ctx);
  assert.equal(sent.status, "ok", `${show(sent)}\n${ctx()}`);
  const msg = sent.response;
  assert.equal(typeof msg.id, "string");
  assert.equal(msg.body, "hello");
  assert.equal(msg.sender_id, admin.id);
  assert.equal(typeof msg.inserted_at, "string");
  assert.ok(!Number.isNaN(Date.parse(msg.inserted_at)), `inserted_at parses: ${msg.inserted_at}`);
  assert.equal(msg.epoch, conv.epoch);
  assert.equal(typeof msg.offset, "number");
  assert.ok(msg.offset > ja.response.offset, "offset advanced past the join position");

  const [got] = await atB.atLeast(1, 5000, ctx);
  assert.equal(got.id, msg.id);
  assert.equal(got.body, "hello");
  assert.equal(got.offset, msg.offset);
  assert.equal(got.epoch, msg.epoch);
  assert.equal(got.sender_id, admin.id);

  // Same client_id again: same message, no second broadcast.
  const again = await push(ca, "new_msg", { body: "hello", client_id: "c1" }, undefined, ctx);
  assert.equal(again.status, "ok", show(again));
  assert.equal(again.response.id, msg.id, "a retried client_id answers the stored message");
  assert.equal(again.response.offset, msg.offset);
  await sleep(300);
  assert.equal(atB.items.length, 1, `no second broadcast to B\n${ctx()}`);
  assert.ok(atA.items.length <= 1, `no second broadcast to A either\n${ctx()}`);

  const empty = await push(ca, "new_msg", { body: "", client_id: "c2" }, undefined, ctx);
  assert.equal(empty.status, "error", show(empty));
  assert.equal(empty.response.reason, "empty_body", show(empty));
});

test("e. recovery after a disconnect: since {epoch, offset}", async () => {
  const { admin } = world;
  const [m] = world.members;
  const conv = await groupConversation();
  const topic = `conversation:${conv.id}`;

  const sa = await h.connected({ token: admin.token });
  const ca = sa.channel(topic);
  assert.equal((await join(ca)).status, "ok");

  // B joins, sees one message and notes where it stands.
  const sb1 = await h.connected({ token: m.token });
  const cb1 = sb1.channel(topic);
  const seen1 = collect(cb1, "new_msg");
  const jb1 = await join(cb1);
  assert.equal(jb1.status, "ok");
  const first = await push(ca, "new_msg", { body: "before", client_id: "e0" });
  assert.equal(first.status, "ok", show(first));
  const [seen] = await seen1.atLeast(1, 5000, () => framesOf(sb1));
  const noted = { epoch: seen.epoch, offset: seen.offset };
  assert.equal(noted.epoch, jb1.response.epoch);

  // B goes away; A sends three.
  await within(new Promise((resolve) => sb1.disconnect(resolve)), 5000, "B's disconnect");
  const sentIds = [];
  for (const i of [1, 2, 3]) {
    const r = await push(ca, "new_msg", { body: `missed ${i}`, client_id: `e${i}` });
    assert.equal(r.status, "ok", show(r));
    sentIds.push(r.response);
  }

  // B comes back on a new socket and asks for what it missed.
  const sb2 = await h.connected({ token: m.token });
  const cb2 = sb2.channel(topic, { since: noted });
  const replayed = collect(cb2, "new_msg");
  const jb2 = await join(cb2, undefined, () => framesOf(sb2));
  assert.equal(jb2.status, "ok", show(jb2));
  assert.equal(jb2.response.recovered, true, `join reply ${show(jb2.response)}`);
  assert.equal(jb2.response.epoch, noted.epoch);
  assert.equal(jb2.response.offset, sentIds[2].offset, "join offset = newest message");
  await replayed.atLeast(3, 5000, () => framesOf(sb2));
  await sleep(500);
  const got = replayed.items;
  assert.deepEqual(
    got.map((x) => [x.id, x.body, x.offset]),
    sentIds.map((x) => [x.id, x.body, x.offset]),
    `exactly the three missed messages, in order, once each\n${framesOf(sb2)}`,
  );
  for (let i = 1; i < got.length; i++) assert.ok(got[i].offset > got[i - 1].offset, "offsets increase");
  assert.ok(got[0].offset > noted.offset);

  // A wrong epoch cannot be recovered.
  const sb3 = await h.connected({ token: m.token });
  const cb3 = sb3.channel(topic, { since: { epoch: "not-the-epoch", offset: noted.offset } });
  const none = collect(cb3, "new_msg");
  const jb3 = await join(cb3, undefined, () => framesOf(sb3));
  assert.equal(jb3.status, "ok", show(jb3));
  assert.equal(jb3.response.recovered, false, `join reply ${show(jb3.response)}`);
  assert.equal(jb3.response.epoch, conv.epoch, "the reply names the real epoch");
  await sleep(300);
  assert.equal(none.items.length, 0, `nothing replayed without recovery\n${framesOf(sb3)}`);
});

test("f. binary: echo reply + push on user:<id>, broadcast on a conversation", async () => {
  const { admin } = world;
  const [m] = world.members;
  const data = range(1, 16);

  const sa = await h.connected({ token: admin.token });
  const cu = sa.channel(`user:${admin.id}`);
  const echoes = collect(cu, "echo");
  assert.equal((await join(cu)).status, "ok");
  const reply = await push(cu, "echo", bytes(...data), undefined, () => framesOf(sa));
  assert.equal(reply.status, "ok", show(reply));
  assert.ok(reply.response instanceof ArrayBuffer, `binary reply response: ${show(reply.response)}`);
  assert.equal(toHex(reply.response), toHex(bytes(...data)));
  const [echoed] = await echoes.atLeast(1, 5000, () => framesOf(sa));
  assert.ok(echoed instanceof ArrayBuffer, `binary push payload: ${show(echoed)}`);
  assert.equal(toHex(echoed), toHex(bytes(...data)));

  // Binary broadcast between two clients in a conversation.
  const conv = await groupConversation();
  const topic = `conversation:${conv.id}`;
  const ca = sa.channel(topic);
  const sb = await h.connected({ token: m.token });
  const cb = sb.channel(topic);
  const atB = collect(cb, "binary");
  assert.equal((await join(ca)).status, "ok");
  assert.equal((await join(cb)).status, "ok");
  const payload = bytes(0, 255, 7, 42, ...range(100, 120));
  const sent = await push(ca, "binary", payload, undefined, () => framesOf(sa));
  assert.equal(sent.status, "ok", show(sent));
  const [got] = await atB.atLeast(1, 5000, () => framesOf(sa, sb));
  assert.ok(got instanceof ArrayBuffer, `binary broadcast payload: ${show(got)}`);
  assert.equal(toHex(got), toHex(payload));
});

test("g. sign-out closes a live socket with phx_close and 4403", async () => {
  const [, other] = world.members;
  // Its own session, so the other tests' tokens stay valid.
  const session = await signIn(h.server, other.email);
  const socket = await h.connected({ token: session.token });
  const channel = socket.channel(`user:${other.id}`);
  assert.equal((await join(channel)).status, "ok");

  const channelClosed = new Promise((resolve) => channel.onClose(resolve));
  const socketClosed = new Promise((resolve) =>
    socket.onClose((event) => {
      // Stop the client from reconnecting with the revoked token.
      socket.disconnect();
      resolve(event);
    }),
  );
  const started = Date.now();
  await signOut(h.server, session.token);
  await within(channelClosed, 2000, "channel.onClose after sign-out", () => framesOf(socket));
  const event = await within(socketClosed, 2000, "socket.onClose after sign-out", () => framesOf(socket));
  assert.ok(Date.now() - started <= 2500);
  assert.equal(event.code, 4403, `close code (reason ${JSON.stringify(event.reason)})\n${framesOf(socket)}`);
  assert.ok(
    socket.frames.some((f) => f.topic === channel.topic && f.event === "phx_close"),
    `phx_close frame seen\n${framesOf(socket)}`,
  );
  assert.equal(channel.state, "closed");

  // A reconnect with that token is refused at the upgrade with 403, as Phoenix does.
  const retry = await rawUpgrade(h.server, `token=${encodeURIComponent(session.token)}&vsn=2.0.0`);
  assert.deepEqual(retry, { open: false, status: 403 });
});

test("h. heartbeat: socket.ping reports a round trip", async () => {
  const [m] = world.members;
  const socket = await h.connected({ token: m.token });
  const rtt = await within(
    new Promise((resolve) => assert.equal(socket.ping(resolve), true)),
    5000,
    "the ping reply",
    () => framesOf(socket),
  );
  assert.equal(typeof rtt, "number");
  assert.ok(rtt >= 0 && rtt < 5000, `rtt ${rtt}`);
});

test("h2. the client's own heartbeats keep the socket open", async () => {
  const [m] = world.members;
  const socket = await h.connected({ token: m.token, heartbeatIntervalMs: 300 });
  const channel = socket.channel(`user:${m.id}`);
  assert.equal((await join(channel)).status, "ok");
  await sleep(1500);
  const replies = socket.frames.filter((f) => f.topic === "phoenix" && f.event === "phx_reply");
  assert.ok(replies.length >= 3, `heartbeat replies: ${replies.length}\n${framesOf(socket)}`);
  assert.ok(replies.every((f) => f.payload.status === "ok" && f.join_ref === null));
  assert.deepEqual(socket.closes, [], "no close, so no heartbeat timeout");
  assert.equal(channel.state, "joined");
});

test("i. typing relayed to others, not echoed to the sender", async () => {
  const { admin } = world;
  const [m] = world.members;
  const conv = await groupConversation();
  const topic = `conversation:${conv.id}`;
  const sa = await h.connected({ token: admin.token });
  const sb = await h.connected({ token: m.token });
  const ca = sa.channel(topic);
  const cb = sb.channel(topic);
  const typingA = collect(ca, "typing");
  const typingB = collect(cb, "typing");
  assert.equal((await join(ca)).status, "ok");
  assert.equal((await join(cb)).status, "ok");

  const r = await push(ca, "typing", {}, undefined, () => framesOf(sa));
  assert.equal(r.status, "ok", show(r));
  const [got] = await typingB.atLeast(1, 5000, () => framesOf(sa, sb));
  assert.equal(got.user_id, admin.id);
  assert.equal(got.typing, true);
  await sleep(300);
  assert.equal(typingA.items.length, 0, `A got its own typing\n${framesOf(sa)}`);
  assert.equal(typingB.items.length, 1);
});
