// End-to-end: the streaming library (Araci) with the stock clients against the real Tainá
// binary. The `graphql-ws` client watches a scan on `libraryChanged` and reports progress with
// `reportProgress`; the stock `phoenix` client, as a TV on the same account, gets it at once as
// `watch_progress` on `user:{id}`, resumes there, and reports its own stop with a `watch`
// push (answered with the stored progress, written to the watch history). The media file is
// made here by ffmpeg.
//
// One server per file; `after` stops it with SIGTERM and checks it exits 0.

import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

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
  until,
  stopChecked,
} from "../lib/helpers.js";

let h;
let world;
let root;

before(async () => {
  h = await Harness.start();
  world = await seed(h.server, 0);
  root = mkdtempSync(path.join(tmpdir(), "taina-library-"));
  execFileSync("ffmpeg", [
    "-nostdin", "-v", "error", "-y",
    "-f", "lavfi", "-i", "testsrc=duration=4:size=320x240:rate=25",
    "-f", "lavfi", "-i", "sine=frequency=440:duration=4",
    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
    path.join(root, "Filme de Teste (2024).mp4"),
  ]);
});

afterEach(async () => {
  await h.closeSockets();
});

after(async () => {
  if (root) rmSync(root, { recursive: true, force: true });
  await stopChecked(h);
});

async function gql(query, variables) {
  const reply = await graphqlHttp(h.server, query, variables, world.admin.token);
  assert.equal(reply.status, 200, show(reply));
  assert.equal(reply.body.errors, undefined, show(reply.body));
  return reply.body.data;
}

test("a scan on libraryChanged, then a pause on one device reaches the other at once", async () => {
  const { admin } = world;
  const phone = h.graphqlClient({ token: admin.token });
  const changes = gqlSubscribe(phone, {
    query: "subscription { libraryChanged { libraryId change counts { found added } item { id title } } }",
  });
  // graphql-ws does not acknowledge a subscribe: a round trip on the same socket first.
  const probe = gqlSubscribe(phone, { query: "{ libraries { id } }" });
  await probe.atLeast(1);

  const added = await gql(
    `mutation ($p: String!) { addLibrary(name: "Filmes", path: $p, kind: MOVIES) { id } }`,
    { p: root },
  );
  const libraryId = added.addLibrary.id;
  const events = () => changes.items.map((r) => r.data.libraryChanged);
  await until(() => events().some((c) => c.change === "SCAN_FINISHED"), 30_000, "the scan to finish", () => gqlFramesOf(phone));
  assert.equal(events()[0].change, "SCAN_STARTED");
  const itemAdded = events().find((c) => c.change === "ITEM_ADDED");
  assert.equal(itemAdded.libraryId, libraryId);
  assert.equal(itemAdded.item.title, "Filme de Teste");
  const item = itemAdded.item.id;
  const listed = await gql(
    `query ($l: ID!) { libraryItems(libraryId: $l, first: 10) { nodes { id title kind } } }`,
    { l: libraryId },
  );
  assert.deepEqual(listed.libraryItems.nodes, [{ id: item, title: "Filme de Teste", kind: "MOVIE" }]);

  // The TV: the stock phoenix client on the user's own topic.
  const tv = await h.connected({ token: admin.token });
  const channel = tv.channel(`user:${admin.id}`, {});
  const progress = collect(channel, "watch_progress");
  const joined = await join(channel, undefined, () => framesOf(tv));
  assert.equal(joined.status, "ok", show(joined));

  // The phone pauses at 2.5 s over graphql-ws: the TV has it at once.
  const reported = gqlSubscribe(phone, {
    query: `mutation ($i: ID!) { reportProgress(itemId: $i, positionMs: 2500, state: PAUSED, device: "phone") { positionMs played } }`,
    variables: { i: item },
  });
  const [result] = await reported.atLeast(1);
  assert.deepEqual(result.data.reportProgress, { positionMs: 2500, played: false });
  const [pushed] = await progress.atLeast(1, MAX_WAIT_MS, () => framesOf(tv));
  assert.equal(pushed.item_id, item);
  assert.equal(pushed.position_ms, 2500);
  assert.equal(pushed.state, "paused");
  assert.equal(pushed.device, "phone");
  assert.equal(typeof pushed.offset, "number");

  // The TV resumes there and plays on; its own report comes back to it too.
  const info = await gql(
    `query ($i: ID!, $p: JSON!) { playbackInfo(itemId: $i, deviceProfile: $p) { method resumePositionMs url } }`,
    { i: item, p: { containers: ["mp4"], videoCodecs: ["h264"], audioCodecs: ["aac"] } },
  );
  assert.equal(info.playbackInfo.method, "DIRECT_PLAY");
  assert.equal(info.playbackInfo.resumePositionMs, 2500);
  const file = await fetch(`${h.server.url}${info.playbackInfo.url}`, { headers: { range: "bytes=0-99" } });
  assert.equal(file.status, 206);
  assert.equal((await file.arrayBuffer()).byteLength, 100);
  const stopped = await push(channel, "watch", { item_id: item, position_ms: 3990, state: "stopped", device: "tv" });
  assert.equal(stopped.status, "ok", show(stopped));
  assert.equal(stopped.response.played, true);
  await progress.atLeast(2);
  assert.equal(progress.items[1].played, true);
  const refused = await push(channel, "watch", { item_id: item });
  assert.equal(refused.status, "error");
  assert.equal(refused.response.reason, "invalid_input");
  const history = await gql("{ watchHistory { itemId played device } }", {});
  assert.deepEqual(history.watchHistory[0], { itemId: item, played: true, device: "tv" });
});
