// Run by test/tls.test.js as a Node process of its own, started with NODE_EXTRA_CA_CERTS set
// to the test CA (Node reads it only at start): the stock clients then trust the server's
// certificate the way they would trust a public one. Given the server's https:// URL, it
// seeds two people over HTTPS, sends a message on `conversation:` with the stock phoenix
// client over wss:// while a stock graphql-ws subscription on the same server receives it,
// checks that heartbeats are answered, and prints one JSON line of what it saw.

import {
  Harness,
  collect,
  createConversation,
  gqlSubscribe,
  join,
  push,
  seed,
  sleep,
  until,
} from "./helpers.js";

const url = process.argv[2];
const address = url.replace(/^https:\/\//, "");
const server = {
  tls: true,
  address,
  url,
  socketUrl: `wss://${address}/socket`,
  graphqlWsUrl: `wss://${address}/socket/websocket`,
};

const MESSAGE_RECEIVED = `subscription ($conversationId: String!) {
  messageReceived(conversationId: $conversationId) { id body }
}`;

const h = new Harness(server);
const result = {};
try {
  const world = await seed(server, 1);
  const [ana] = world.members;
  const conv = await createConversation(server, world.admin.token, [ana.id]);
  const topic = `conversation:${conv.id}`;

  const sender = await h.connected({ token: world.admin.token, heartbeatIntervalMs: 500 });
  const receiver = await h.connected({ token: ana.token });
  const senderChannel = sender.channel(topic);
  const receiverChannel = receiver.channel(topic);
  result.joins = [(await join(senderChannel)).status, (await join(receiverChannel)).status];
  const arrived = collect(receiverChannel, "new_msg");

  const client = h.graphqlClient({ token: ana.token });
  const sub = gqlSubscribe(client, { query: MESSAGE_RECEIVED, variables: { conversationId: conv.id } });
  // graphql-ws does not say when a subscription is live: send until it has yielded once.
  let sent;
  await until(
    () => sub.items.length > 0 || sub.errored,
    5000,
    "the subscription to go live",
  ).catch(() => {});
  for (let i = 0; i < 50 && sub.items.length === 0 && !sub.errored; i++) {
    sent = await push(senderChannel, "new_msg", { body: `sobre TLS ${i}` });
    await sleep(100);
  }
  result.push = sent && sent.status;
  result.phoenixBodies = (await arrived.atLeast(1)).map((m) => m.body);
  result.graphql = sub.items.length > 0 ? sub.items[0].data.messageReceived.body : `error ${JSON.stringify(sub.error)}`;
  result.graphqlProtocol = client.sockets[0] && client.sockets[0].protocol;

  // Several heartbeats answered over TLS, and the socket still open.
  const replies = () =>
    sender.frames.filter((m) => m.topic === "phoenix" && m.event === "phx_reply" && m.payload.status === "ok").length;
  await until(() => replies() >= 3, 5000, "three heartbeat replies");
  result.heartbeatReplies = replies();
  result.stillOpen = sender.isConnected();
  result.socketUrl = sender.endPointURL();
} catch (e) {
  result.error = String((e && e.stack) || e);
} finally {
  await h.closeSockets();
}
console.log(JSON.stringify(result));
