// End-to-end: the stock npm `phoenix` client's Presence helper on a topic past
// `realtime.presence_list_limit` (4 here). The fifth device empties every device's list
// (`presence_state` `{}`), `presence_summary` counts come instead of diffs, and once the topic
// is back to three quarters of the limit every list comes back whole and diffs resume.

import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import { Presence } from "phoenix";

import { Harness, createConversation, framesOf, join, leave, seed, show, until, stopChecked } from "../lib/helpers.js";

let h;
let world;

before(async () => {
  h = await Harness.start({
    env: { TAINA_REALTIME__PRESENCE_LIST_LIMIT: "4", TAINA_REALTIME__PRESENCE_SUMMARY_INTERVAL_MS: "100" },
  });
  world = await seed(h.server, 1);
});

afterEach(async () => {
  await h.closeSockets();
});

after(async () => {
  await stopChecked(h);
});

/** A device of `token` on `topic`, with the stock Presence helper and the summaries it got. */
async function device(token, topic, name) {
  const socket = await h.connected({ token });
  const channel = socket.channel(topic, { device: name });
  const presence = new Presence(channel);
  const summaries = [];
  channel.on("presence_summary", (payload) => summaries.push(payload));
  return { socket, channel, presence, summaries };
}

/** How many devices the Presence helper lists. */
const listed = (d) => d.presence.list((_id, { metas }) => metas.length).reduce((a, b) => a + b, 0);

test("a topic past the list limit: the Presence list empties, counts come instead, then the list returns", async () => {
  const { admin } = world;
  const [m] = world.members;
  const conversation = await createConversation(h.server, admin.token, [m.id]);
  const topic = `conversation:${conversation.id}`;
  const devices = [];
  for (let i = 0; i < 5; i++) devices.push(await device(admin.token, topic, `d${i}`));
  const context = () =>
    `${devices.map((d, i) => `device ${i} lists ${listed(d)}, summaries ${show(d.summaries)}`).join("\n")}\n` +
    framesOf(...devices.map((d) => d.socket));

  // Four devices: each lists the four.
  for (const d of devices.slice(0, 4)) assert.equal((await join(d.channel)).status, "ok");
  await until(() => devices.slice(0, 4).every((d) => listed(d) === 4), 5000, "four devices listing four", context);
  assert.ok(devices.every((d) => d.summaries.length === 0), `no summary while listed\n${context()}`);

  // The fifth: every list empties and every device learns the counts.
  assert.equal((await join(devices[4].channel)).status, "ok");
  await until(
    () => devices.every((d) => listed(d) === 0 && d.summaries.at(-1)?.devices === 5),
    5000,
    "every list emptied and the counts of five",
    context,
  );
  for (const d of devices) assert.deepEqual(d.summaries.at(-1), { devices: 5, users: 1 });

  // The member joins the summarized topic: counts, no list.
  const member = await device(m.token, topic, "phone");
  devices.push(member);
  assert.equal((await join(member.channel)).status, "ok");
  await until(
    () => devices.every((d) => d.summaries.at(-1)?.users === 2 && d.summaries.at(-1)?.devices === 6),
    5000,
    "every device counting six devices of two users",
    context,
  );
  assert.ok(devices.every((d) => listed(d) === 0), `nothing listed while summarized\n${context()}`);

  // Three leave: three devices is three quarters of the limit, so the rest list again.
  for (const d of devices.splice(2, 3)) assert.equal(await leave(d.channel), "ok");
  await until(() => devices.every((d) => listed(d) === 3), 5000, "the three left listing three", context);
  const ids = member.presence.list((id) => id).sort();
  assert.deepEqual(ids, [admin.id, m.id].sort());

  // Diffs again: one more leaves and the others drop it.
  const diffs = (d) => d.socket.frames.filter((f) => f.topic === topic && f.event === "presence_diff").length;
  const diffsBefore = devices.map(diffs);
  assert.equal(await leave(devices[0].channel), "ok");
  await until(() => devices.slice(1).every((d) => listed(d) === 2), 5000, "the two left listing two", context);
  assert.ok(
    devices.slice(1).every((d, i) => diffs(d) > diffsBefore[i + 1]),
    `a presence_diff carried the last leave\n${context()}`,
  );
});
