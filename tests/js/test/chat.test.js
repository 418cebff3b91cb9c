// Chat beyond sending, with the stock npm clients: reactions, edits and deletes pushed on
// `conversation:{id}` with offsets and replayed by recovery (`phoenix`), read positions live
// on the conversation and on the reader's `user:` topic, mentions and new conversations on
// `user:`, and `searchMessages` / `messageActivity` over GraphQL (`graphql-ws`).

import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";

import {
  Harness,
  PASSWORD,
  collect,
  createConversation,
  createInvite,
  framesOf,
  graphqlHttp,
  join,
  push,
  seed,
  show,
  signIn,
  signUp,
  sleep,
  within,
  stopChecked,
} from "../lib/helpers.js";
import { gradientPng } from "../lib/png.js";

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

async function joined(token, topic, params) {
  const socket = await h.connected({ token });
  const channel = socket.channel(topic, params);
  return { socket, channel };
}

test("reactions, edits and deletes reach the others live and a rejoin replays them in order", async () => {
  const { admin } = world;
  const [ana] = world.members;
  const conv = await createConversation(h.server, admin.token, [ana.id]);
  const topic = `conversation:${conv.id}`;

  const a = await joined(admin.token, topic);
  assert.equal((await join(a.channel)).status, "ok");
  const b = await joined(ana.token, topic);
  const seen = {
    reaction: collect(b.channel, "reaction"),
    message_edited: collect(b.channel, "message_edited"),
    message_deleted: collect(b.channel, "message_deleted"),
    new_msg: collect(b.channel, "new_msg"),
  };
  assert.equal((await join(b.channel)).status, "ok");

  const sent = await push(a.channel, "new_msg", { body: "o açaí chegou" });
  assert.equal(sent.status, "ok", show(sent));
  const message = sent.response;
  await seen.new_msg.atLeast(1, 5000, () => framesOf(b.socket));
  const noted = { epoch: message.epoch, offset: message.offset };

  // Ana goes away; the admin reacts, edits and the two of them react again.
  await within(new Promise((resolve) => b.socket.disconnect(resolve)), 5000, "disconnect");
  const reacted = await push(a.channel, "react", { message_id: message.id, emoji: "🎉" });
  assert.equal(reacted.status, "ok", show(reacted));
  assert.equal(reacted.response.added, true);
  assert.equal(reacted.response.offset, message.offset + 1);
  const edited = await push(a.channel, "edit", { message_id: message.id, body: "a tapioca chegou" });
  assert.equal(edited.status, "ok", show(edited));
  // Bad pushes get clear errors and change nothing.
  const notAnEmoji = await push(a.channel, "react", { message_id: message.id, emoji: "ok" });
  assert.equal(notAnEmoji.status, "error");
  assert.equal(notAnEmoji.response.reason, "invalid_input", show(notAnEmoji));
  const unknownField = await push(a.channel, "edit", { message_id: message.id, text: "x" });
  assert.equal(unknownField.response.reason, "invalid_input", show(unknownField));
  const missing = await push(a.channel, "delete", { message_id: "nosuchmessage00000000" });
  assert.equal(missing.response.reason, "not_found", show(missing));

  // Back on a new socket with `since`: the missed activity comes in offset order.
  const b2 = await joined(ana.token, topic, { since: noted });
  const replay = [];
  for (const event of ["reaction", "message_edited", "message_deleted", "new_msg"]) {
    b2.channel.on(event, (payload) => replay.push([event, payload]));
  }
  const rejoin = await join(b2.channel, undefined, () => framesOf(b2.socket));
  assert.equal(rejoin.response.recovered, true, show(rejoin.response));
  await sleep(300);
  assert.deepEqual(
    replay.map(([event, p]) => [event, p.offset]),
    [["reaction", message.offset + 1], ["message_edited", message.offset + 2]],
    framesOf(b2.socket),
  );
  assert.equal(replay[1][1].body, "a tapioca chegou");

  // Live: Ana's own reaction reaches the admin; she cannot edit or delete his message.
  const adminSees = collect(a.channel, "reaction");
  const hers = await push(b2.channel, "react", { message_id: message.id, emoji: "🎉" });
  assert.equal(hers.status, "ok", show(hers));
  const [live] = await adminSees.atLeast(1, 5000, () => framesOf(a.socket));
  assert.equal(live.user_id, ana.id);
  assert.equal(live.emoji, "🎉");
  const notHers = await push(b2.channel, "edit", { message_id: message.id, body: "mine now" });
  assert.equal(notHers.response.reason, "forbidden", show(notHers));

  const deletedSeen = collect(b2.channel, "message_deleted");
  const deleted = await push(a.channel, "delete", { message_id: message.id });
  assert.equal(deleted.status, "ok", show(deleted));
  const [gone] = await deletedSeen.atLeast(1, 5000, () => framesOf(b2.socket));
  assert.equal(gone.message_id, message.id);

  // History shows the tombstone without its body or reactions.
  const { body } = await graphqlHttp(
    h.server,
    `query ($c: String!) { messages(conversationId: $c) { messages { id body deleted edited reactions { emoji count } } } }`,
    { c: conv.id },
    ana.token,
  );
  const [tomb] = body.data.messages.messages;
  assert.deepEqual(tomb, { id: message.id, body: "", deleted: true, edited: true, reactions: [] }, show(body));
});

test("a read moves the badge on the reader's other devices and shows to the others", async () => {
  const { admin } = world;
  const [ana] = world.members;
  const conv = await createConversation(h.server, admin.token, [ana.id]);
  const topic = `conversation:${conv.id}`;
  const a = await joined(admin.token, topic);
  assert.equal((await join(a.channel)).status, "ok");
  let last;
  for (const n of [1, 2, 3]) last = (await push(a.channel, "new_msg", { body: `m${n}` })).response;

  const unread = async () => {
    const { body } = await graphqlHttp(h.server, "{ conversations { id unreadCount lastReadOffset } }", {}, ana.token);
    return body.data.conversations.find((c) => c.id === conv.id);
  };
  assert.deepEqual(await unread(), { id: conv.id, unreadCount: 3, lastReadOffset: 0 });

  // Ana's phone listens on user:, her laptop reads the conversation.
  const phone = await joined(ana.token, `user:${ana.id}`);
  const phoneReads = collect(phone.channel, "read");
  assert.equal((await join(phone.channel)).status, "ok");
  const laptop = await joined(ana.token, topic);
  assert.equal((await join(laptop.channel)).status, "ok");
  const adminReads = collect(a.channel, "read");
  const read = await push(laptop.channel, "read", { offset: last.offset });
  assert.deepEqual(read, { status: "ok", response: { offset: last.offset } });
  const [onPhone] = await phoneReads.atLeast(1, 5000, () => framesOf(phone.socket));
  assert.deepEqual([onPhone.conversation_id, onPhone.offset], [conv.id, last.offset]);
  const [onAdmin] = await adminReads.atLeast(1, 5000, () => framesOf(a.socket));
  assert.equal(onAdmin.user_id, ana.id);
  assert.deepEqual(await unread(), { id: conv.id, unreadCount: 0, lastReadOffset: last.offset });
  const bad = await push(laptop.channel, "read", { offset: "three" });
  assert.equal(bad.response.reason, "invalid_input", show(bad));
});

test("a new conversation and a mention reach the user's devices on user:", async () => {
  const { admin } = world;
  const [ana, bia] = world.members;
  const phone = await joined(bia.token, `user:${bia.id}`);
  const created = collect(phone.channel, "conversation_created");
  const mentions = collect(phone.channel, "mention");
  assert.equal((await join(phone.channel)).status, "ok");
  const conv = await createConversation(h.server, admin.token, [ana.id, bia.id]);
  const [appeared] = await created.atLeast(1, 5000, () => framesOf(phone.socket));
  assert.equal(appeared.id, conv.id);

  const { body: me } = await graphqlHttp(h.server, "{ me { email } }", {}, bia.token);
  const handle = me.data.me.email.split("@")[0];
  const a = await joined(admin.token, `conversation:${conv.id}`);
  assert.equal((await join(a.channel)).status, "ok");
  const sent = await push(a.channel, "new_msg", { body: `@${handle} olha isso` });
  const [mention] = await mentions.atLeast(1, 5000, () => framesOf(phone.socket));
  assert.equal(mention.message_id, sent.response.id);
  assert.equal(mention.sender_id, admin.id);
});

test("searchMessages finds words in any form and only where the searcher takes part", async () => {
  const { admin } = world;
  const [ana, bia] = world.members;
  const withAna = await createConversation(h.server, admin.token, [ana.id]);
  const withBia = await createConversation(h.server, admin.token, [bia.id]);
  const send = (conversationId, body) =>
    graphqlHttp(
      h.server,
      `mutation ($c: String!, $b: String!) { sendMessage(conversationId: $c, body: $b) { id } }`,
      { c: conversationId, b: body },
      admin.token,
    );
  await send(withAna.id, "Comprei AÇAÍ e tapioca na feira");
  await send(withBia.id, "O açaí da Bia é segredo");
  const search = (token, query, conversationId) =>
    graphqlHttp(
      h.server,
      `query ($q: String!, $c: ID) { searchMessages(query: $q, conversationId: $c, first: 10) { nodes { id body conversationId snippet } pageInfo { hasNextPage } } }`,
      { q: query, c: conversationId },
      token,
    );
  const mine = (await search(admin.token, "acai")).body.data.searchMessages.nodes;
  assert.equal(mine.length, 2, show(mine));
  const anas = (await search(ana.token, "acai")).body.data.searchMessages.nodes;
  assert.deepEqual(anas.map((n) => n.conversationId), [withAna.id], "Ana finds only her conversation");
  assert.match(anas[0].snippet, /<mark>AÇAÍ<\/mark>/);
  const phrase = (await search(admin.token, '"acai e tapioca"')).body.data.searchMessages.nodes;
  assert.equal(phrase.length, 1, show(phrase));
  const filtered = (await search(admin.token, "açaí", withBia.id)).body.data.searchMessages.nodes;
  assert.deepEqual(filtered.map((n) => n.conversationId), [withBia.id]);
  const empty = await search(admin.token, "  !! ");
  assert.equal(empty.body.errors[0].extensions.code, "invalid_input", show(empty.body));
});

test("messageActivity streams reactions to a graphql-ws subscriber", async () => {
  const { admin } = world;
  const [ana] = world.members;
  const conv = await createConversation(h.server, admin.token, [ana.id]);
  const client = h.graphqlClient({ token: ana.token });
  const got = [];
  let ready;
  const first = new Promise((resolve) => (ready = resolve));
  const stop = client.subscribe(
    { query: `subscription ($c: String!) { messageActivity(conversationId: $c) { event emoji added userId offset } }`, variables: { c: conv.id } },
    { next: (value) => { got.push(value); ready(); }, error: (e) => got.push({ error: e }), complete: () => {} },
  );
  await sleep(300);
  const { body } = await graphqlHttp(
    h.server,
    `mutation ($c: String!) { sendMessage(conversationId: $c, body: "oi") { id offset } }`,
    { c: conv.id },
    admin.token,
  );
  const message = body.data.sendMessage;
  await graphqlHttp(
    h.server,
    `mutation ($c: String!, $m: String!) { reactToMessage(conversationId: $c, messageId: $m, emoji: "❤️") { offset } }`,
    { c: conv.id, m: message.id },
    admin.token,
  );
  await within(first, 5000, "messageActivity", () => client.frames.join("\n"));
  stop();
  assert.deepEqual(got[0].data.messageActivity, {
    event: "reaction",
    emoji: "❤️",
    added: true,
    userId: admin.id,
    offset: message.offset + 1,
  });
});

test("attachments: participants read the photo and the file a message carries, others do not", async () => {
  const { admin } = world;
  const [ana, bia] = world.members;
  // A guest of the community: guests see no photos but public albums' and their shares.
  const invite = await createInvite(h.server, admin.token, { role: "guest", max_uses: 1 });
  const guestEmail = `guest-${Date.now()}@example.org`;
  const up = await signUp(h.server, { email: guestEmail, password: PASSWORD, invite_code: invite.code });
  const guest = { id: up.user.id, token: (await signIn(h.server, guestEmail)).token };

  // Ana uploads a photo and puts a file in her personal space.
  const form = new FormData();
  form.append("file", new Blob([gradientPng(64, 48)], { type: "image/png" }), "gradient.png");
  const uploaded = await fetch(`${h.server.url}/api/media`, {
    method: "POST",
    headers: { authorization: `Bearer ${ana.token}` },
    body: form,
  });
  assert.ok(uploaded.status === 201 || uploaded.status === 200, `photo upload: ${uploaded.status}`);
  const { photo } = await uploaded.json();
  const spaces = await graphqlHttp(h.server, "{ spaces { id kind } }", {}, ana.token);
  const space = spaces.body.data.spaces.find((s) => s.kind === "PERSONAL").id;
  const put = await fetch(`${h.server.url}/api/files/spaces/${space}/content/receita.txt`, {
    method: "PUT",
    headers: { authorization: `Bearer ${ana.token}` },
    body: "tapioca: goma, água, sal",
  });
  assert.equal(put.status, 201);
  const file = (await put.json());
  const fileId = file.node?.id;
  assert.ok(fileId, `the stored file: ${show(file)}`);

  const read = (token, path) =>
    fetch(`${h.server.url}${path}`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
  const fileUrl = `/api/files/nodes/${fileId}/content`;
  const photoUrl = `/api/media/${photo.id}/original`;
  assert.equal(await read(bia.token, fileUrl), 404, "Bia cannot read Ana's personal file yet");
  assert.equal(await read(guest.token, photoUrl), 404, "the guest cannot see the photo yet");

  const conv = await createConversation(h.server, ana.token, [bia.id, guest.id]);
  const a = await h.connected({ token: ana.token });
  const channel = a.channel(`conversation:${conv.id}`);
  assert.equal((await join(channel)).status, "ok");
  // Bia's own items are not Ana's to attach; a folder is no attachment.
  const refused = await push(channel, "new_msg", { body: "", attachments: [{ kind: "file", id: "nosuchnode0000000000x" }] });
  assert.equal(refused.response.reason, "invalid_input", show(refused));
  const sent = await push(channel, "new_msg", {
    body: "",
    attachments: [{ kind: "photo", id: photo.id }, { kind: "file", id: fileId }],
  });
  assert.equal(sent.status, "ok", show(sent));
  assert.equal(sent.response.message_type, "file");
  const described = sent.response.metadata.attachments;
  assert.deepEqual(described.map((x) => [x.kind, x.id]), [["photo", photo.id], ["file", fileId]]);
  assert.equal(described[0].thumb, `/api/media/${photo.id}/thumb`);

  assert.equal(await read(bia.token, fileUrl), 200, "Bia reads the file through the conversation");
  assert.equal(await read(guest.token, photoUrl), 200, "the guest sees the photo through the conversation");
  assert.equal(await read(admin.token, fileUrl), 404, "the admin takes no part in the conversation");
  const change = await fetch(`${h.server.url}/api/files/spaces/${space}/content/receita.txt`, {
    method: "PUT",
    headers: { authorization: `Bearer ${bia.token}` },
    body: "mine now",
  });
  assert.ok(change.status === 404 || change.status === 403, `Bia may only read: ${change.status}`);

  // Deleting the message takes the access away.
  const deleted = await push(channel, "delete", { message_id: sent.response.id });
  assert.equal(deleted.status, "ok", show(deleted));
  assert.equal(await read(bia.token, fileUrl), 404, "gone with the message");
  assert.equal(await read(guest.token, photoUrl), 404, "gone with the message");
});
