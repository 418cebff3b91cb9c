// End-to-end: resumable chunked uploads and credit-based streaming with the stock npm `phoenix`
// client (1.8.16) against the real Tainá binary.
//
// Chunks travel as phoenix binary pushes (`channel.push("chunk", arrayBuffer)`) whose payload is
// a MessagePack map `{offset, data}` with `data` as MessagePack bin; stream data arrives the same
// way as binary `data` pushes. The uploaded file is a real PNG made here (no binary fixtures).
//
// One server per file; `afterEach` disconnects every socket and `after` stops the server with
// SIGTERM and checks it exits 0.

import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { decode, encode } from "@msgpack/msgpack";

import {
  Harness,
  MAX_WAIT_MS,
  briefFramesOf,
  collect,
  getBytes,
  join,
  leave,
  push,
  recordSent,
  seed,
  show,
  sleep,
  until,
  within,
  stopChecked,
} from "../lib/helpers.js";
import { gradientPng } from "../lib/png.js";

const CHUNK = 16 * 1024;
const WINDOW = 4;

let h;
let world;
/** The photo uploaded by test 1 and the PNG bytes it holds; test 3 streams it. */
let uploaded = null;

before(async () => {
  h = await Harness.start();
  world = await seed(h.server, 1);
});

afterEach(async () => {
  await h.closeSockets();
});

after(async () => {
  await stopChecked(h);
});


const sha256Hex = (bytes) => createHash("sha256").update(bytes).digest("hex");

// ---------------------------------------------------------------------------------------------
// Transfer chunks: MessagePack `{offset, data}` in an ArrayBuffer of its own (the phoenix
// serializer sends a payload as binary only when `payload.constructor === ArrayBuffer`).

function encodeChunk(offset, data) {
  const packed = encode({ offset, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
  return packed.buffer.slice(packed.byteOffset, packed.byteOffset + packed.byteLength);
}

function decodeChunk(arrayBuffer) {
  const value = decode(new Uint8Array(arrayBuffer));
  assert.ok(value && typeof value === "object", `a MessagePack map: ${show(value)}`);
  assert.deepEqual(Object.keys(value).sort(), ["data", "offset"], `keys of a data payload`);
  assert.ok(value.data instanceof Uint8Array, "data is MessagePack bin");
  assert.equal(typeof value.offset, "number");
  return value;
}

/** Shows binary payloads in diagnostics as decoded chunks when they are ones. */
function binaryChunkSummary(buffer) {
  try {
    const { offset, data } = decode(new Uint8Array(buffer));
    if (typeof offset === "number" && data instanceof Uint8Array) {
      return `<chunk offset ${offset}, ${data.byteLength} bytes>`;
    }
  } catch {
    // not a chunk
  }
  return `<binary ${buffer.byteLength} bytes>`;
}

const framesText = (...sockets) => briefFramesOf(sockets, { binary: binaryChunkSummary });

/** A connected socket that also records what it sends. */
async function mediaSocket(user) {
  return recordSent(await h.connected({ token: user.token }));
}

/**
 * Pushes one chunk without waiting. `promise` resolves `{status, response}` ("ok", "error" or
 * "timeout") and never rejects, so a chunk abandoned by a disconnect needs no awaiting.
 */
function pushChunk(channel, file, offset, size = CHUNK) {
  const data = file.subarray(offset, Math.min(offset + size, file.length));
  let pushed;
  const promise = new Promise((resolve) => {
    pushed = channel
      .push("chunk", encodeChunk(offset, data), MAX_WAIT_MS)
      .receive("ok", (response) => resolve({ status: "ok", response }))
      .receive("error", (response) => resolve({ status: "error", response }))
      .receive("timeout", () => resolve({ status: "timeout" }));
  });
  return { offset, end: offset + data.length, pushed, promise };
}

/**
 * Sends `file` from `from` in `chunkSize` chunks with up to `window` in flight, checking each
 * reply in order. Stops at the first reply that is not an ok for its chunk (`failure`), at the
 * one with `done: true` (`photo`), or at the first ok ending at or past `stopAt` (leaving the
 * later chunks in flight, in `inflight`). `log` gets one line per reply.
 */
async function sendChunks(channel, file, from, { chunkSize = CHUNK, window = WINDOW, stopAt = Infinity, context }) {
  const inflight = [];
  const log = [];
  let next = from;
  let maxInFlight = 0;
  for (;;) {
    while (inflight.length < window && next < file.length) {
      const chunk = pushChunk(channel, file, next, chunkSize);
      inflight.push(chunk);
      next = chunk.end;
    }
    maxInFlight = Math.max(maxInFlight, inflight.length);
    const head = inflight.shift();
    if (!head) return { log, next, inflight, maxInFlight, failure: { reason: "nothing left to send" } };
    const reply = await within(head.promise, MAX_WAIT_MS + 1000, `the reply to the chunk at ${head.offset}`, context);
    log.push(`chunk [${head.offset}, ${head.end}) -> ${show(reply)}`);
    const ok =
      reply.status === "ok" &&
      reply.response.next_offset === head.end &&
      reply.response.done === (head.end === file.length);
    if (!ok) return { log, next, inflight, maxInFlight, failure: { chunk: head, reply } };
    if (reply.response.done) return { log, next, inflight, maxInFlight, photo: reply.response.photo, acked: head.end };
    if (head.end >= stopAt) return { log, next, inflight, maxInFlight, acked: head.end };
  }
}

/** Stops the client-side timers of pushes that will never be answered (their socket is gone). */
function abandon(chunks) {
  for (const { pushed } of chunks) {
    pushed.cancelRefEvent();
    pushed.cancelTimeout();
  }
}

async function createUpload(socket, user, { filename, size, sha256 }) {
  const own = socket.channel(`user:${user.id}`);
  const joined = await join(own, undefined, () => framesText(socket));
  assert.equal(joined.status, "ok", `join user:<id>: ${show(joined)}\n${framesText(socket)}`);
  const created = await push(own, "create_upload", { filename, size, sha256 }, undefined, () => framesText(socket));
  assert.equal(created.status, "ok", `create_upload: ${show(created)}\n${framesText(socket)}`);
  const upload = created.response;
  assert.equal(typeof upload.upload_id, "string", show(upload));
  assert.equal(upload.topic, `upload:${upload.upload_id}`);
  assert.equal(upload.offset, 0);
  assert.ok(!Number.isNaN(Date.parse(upload.expires_at)), `expires_at parses: ${show(upload)}`);
  assert.ok(Date.parse(upload.expires_at) > Date.now(), "expires_at is in the future");
  return upload;
}

/** Uploads `file` in one go (test 3 uses it only when test 1 left no photo behind). */
async function uploadWhole(user, file) {
  const socket = await mediaSocket(user);
  const upload = await createUpload(socket, user, { filename: "whole.png", size: file.length, sha256: sha256Hex(file) });
  const channel = socket.channel(upload.topic);
  assert.equal((await join(channel)).status, "ok");
  const sent = await sendChunks(channel, file, 0, { context: () => framesText(socket) });
  assert.ok(sent.photo, `upload finished: ${sent.log.join("\n")}\n${framesText(socket)}`);
  return { photo: sent.photo, file };
}

// ---------------------------------------------------------------------------------------------

test("1. resumable chunked upload: 4 in flight, disconnect halfway, resume on a new socket", async (t) => {
  const [user] = world.members;
  const png = gradientPng(300, 200);
  assert.ok(png.length > 8 * CHUNK, `the PNG spans many chunks (${png.length} bytes)`);
  const sha256 = sha256Hex(png);

  const s1 = await mediaSocket(user);
  const upload = await createUpload(s1, user, { filename: "gradient.png", size: png.length, sha256 });

  const c1 = s1.channel(upload.topic);
  const j1 = await join(c1, undefined, () => framesText(s1));
  assert.equal(j1.status, "ok", `join ${upload.topic}: ${show(j1)}\n${framesText(s1)}`);
  assert.deepEqual(j1.response, { offset: 0, size: png.length, status: "open", file_id: null });

  // First half, pipelined; stop reading replies once half is acknowledged, with chunks still in flight.
  const half = Math.floor(png.length / 2);
  const first = await sendChunks(c1, png, 0, { stopAt: half, context: () => framesText(s1) });
  assert.equal(first.failure, undefined, `first half: ${show(first.failure)}\n${first.log.join("\n")}\n${framesText(s1)}`);
  assert.equal(first.photo, undefined);
  assert.equal(first.maxInFlight, WINDOW, `up to ${WINDOW} chunks were in flight`);
  assert.ok(first.acked >= half && first.acked < png.length);
  const unanswered = first.inflight.length;
  assert.ok(unanswered > 0, "chunks are still in flight at the disconnect");

  await within(new Promise((resolve) => s1.disconnect(resolve)), MAX_WAIT_MS, "the first socket's disconnect");
  abandon(first.inflight);

  // A new socket: the join reply says how far the server got, and the upload carries on from there.
  const s2 = await mediaSocket(user);
  const c2 = s2.channel(upload.topic);
  const j2 = await join(c2, undefined, () => framesText(s2));
  assert.equal(j2.status, "ok", `rejoin ${upload.topic}: ${show(j2)}\n${framesText(s2)}`);
  const resumeAt = j2.response.offset;
  const resumed = `acknowledged ${first.acked}, sent up to ${first.next} (${unanswered} unanswered), rejoin says ${show(j2.response)}`;
  assert.equal(j2.response.status, "open", resumed);
  assert.equal(j2.response.size, png.length, resumed);
  assert.equal(j2.response.file_id, null, resumed);
  assert.ok(Number.isInteger(resumeAt), resumed);
  assert.ok(resumeAt >= first.acked && resumeAt <= first.next, `the offset lies between acknowledged and sent: ${resumed}`);
  assert.equal(resumeAt % CHUNK, 0, `the offset is a chunk boundary: ${resumed}`);

  t.diagnostic(`${png.length} bytes; ${resumed}`);

  // Going on from the client's own count instead (stale when the server took the unanswered
  // chunks; otherwise one chunk ahead) is refused and told where to go on.
  const wrongAt = resumeAt > first.acked ? first.acked : resumeAt + CHUNK;
  const wrong = await within(pushChunk(c2, png, wrongAt).promise, MAX_WAIT_MS + 1000, "the reply to a misplaced chunk");
  assert.deepEqual(wrong, { status: "error", response: { reason: "offset_mismatch", expected: resumeAt } },
    `a chunk at ${wrongAt}: ${show(wrong)}\n${framesText(s2)}`);

  const rest = await sendChunks(c2, png, resumeAt, { context: () => framesText(s2) });
  assert.equal(rest.failure, undefined, `second half: ${show(rest.failure)}\n${rest.log.join("\n")}\n${resumed}\n${framesText(s2)}`);
  assert.ok(rest.photo, `the last reply carries the photo\n${rest.log.join("\n")}`);
  const photo = rest.photo;
  assert.equal(typeof photo.id, "string", show(photo));
  assert.equal(photo.mime_type, "image/png", show(photo));
  assert.equal(photo.file_size_bytes, png.length, show(photo));

  // The upload now reads as done and names the photo.
  assert.equal(await leave(c2), "ok");
  const c3 = s2.channel(upload.topic);
  const j3 = await join(c3, undefined, () => framesText(s2));
  assert.equal(j3.status, "ok", show(j3));
  assert.deepEqual(j3.response, { offset: png.length, size: png.length, status: "done", file_id: photo.id });

  const original = await getBytes(h.server, `/api/media/${photo.id}/original`, { token: user.token });
  assert.equal(original.status, 200, `GET original: ${original.status} ${original.body.subarray(0, 200).toString()}`);
  assert.equal(original.body.length, png.length);
  assert.ok(original.body.equals(png), "GET original returns the uploaded bytes");

  uploaded = { photo, file: png };
});

test("2. a wrong SHA-256 fails the last chunk with checksum_mismatch", async () => {
  const [user] = world.members;
  const png = gradientPng(240, 160);
  const other = Buffer.from(png);
  other[other.length - 20] ^= 0xff;
  const socket = await mediaSocket(user);
  const upload = await createUpload(socket, user, {
    filename: "wrong.png",
    size: png.length,
    sha256: sha256Hex(other),
  });
  const channel = socket.channel(upload.topic);
  assert.equal((await join(channel)).status, "ok");

  const sent = await sendChunks(channel, png, 0, { context: () => framesText(socket) });
  const trace = `${sent.log.join("\n")}\n${framesText(socket)}`;
  assert.equal(sent.photo, undefined, `no photo from bytes that do not match the announced SHA-256\n${trace}`);
  assert.ok(sent.failure && sent.failure.chunk, `a chunk was refused\n${trace}`);
  assert.equal(sent.failure.chunk.end, png.length, `only the last chunk is refused\n${trace}`);
  assert.equal(sent.failure.reply.status, "error", trace);
  assert.equal(sent.failure.reply.response.reason, "checksum_mismatch", trace);

  // The upload is failed for good.
  assert.equal(await leave(channel), "ok");
  const again = socket.channel(upload.topic);
  const rejoined = await join(again);
  assert.equal(rejoined.status, "ok", show(rejoined));
  assert.equal(rejoined.response.status, "failed", show(rejoined.response));
  assert.equal(rejoined.response.file_id, null, show(rejoined.response));
});

test("3. streaming with credits: nothing without credit, exactly what is granted, end, seek", async (t) => {
  const [user] = world.members;
  const { photo, file } = uploaded ?? (await uploadWhole(user, gradientPng(300, 200)));
  const socket = await mediaSocket(user);
  const channel = socket.channel(`stream:${photo.id}`, { credit: 0 });
  const received = [];
  channel.on("data", (payload) => received.push(payload));
  const ends = collect(channel, "end");
  const ctx = () => framesText(socket);

  const joined = await join(channel, undefined, ctx);
  assert.equal(joined.status, "ok", `${show(joined)}\n${ctx()}`);
  const { size, offset, mime_type: mimeType, chunk_bytes: chunkBytes } = joined.response;
  assert.deepEqual(
    { size, offset, mimeType },
    { size: file.length, offset: 0, mimeType: "image/png" },
    show(joined.response),
  );
  assert.ok(Number.isInteger(chunkBytes) && chunkBytes > 0, show(joined.response));

  const chunks = () => received.map((payload) => {
    assert.ok(payload instanceof ArrayBuffer, `data payloads are binary: ${show(payload)}`);
    return decodeChunk(payload);
  });
  const total = () => chunks().reduce((n, c) => n + c.data.byteLength, 0);

  await sleep(300);
  assert.equal(received.length, 0, `no data without credit\n${ctx()}`);

  const granted = await push(channel, "credit", { bytes: 20000 }, undefined, ctx);
  assert.equal(granted.status, "ok", `${show(granted)}\n${ctx()}`);
  await until(() => total() >= 20000, MAX_WAIT_MS, "20000 bytes of data", () => `got ${total()}\n${ctx()}`);
  await sleep(300);
  assert.equal(total(), 20000, `exactly the 20000 bytes granted\n${ctx()}`);
  assert.equal(ends.items.length, 0);

  const rest = await push(channel, "credit", { bytes: file.length - 20000 }, undefined, ctx);
  assert.equal(rest.status, "ok", `${show(rest)}\n${ctx()}`);
  const [end] = await ends.atLeast(1, MAX_WAIT_MS, ctx);
  assert.deepEqual(end, { size: file.length });
  const all = chunks();
  let expected = 0;
  for (const c of all) {
    assert.equal(c.offset, expected, `data is contiguous\n${ctx()}`);
    assert.ok(c.data.byteLength > 0 && c.data.byteLength <= chunkBytes, `a chunk holds at most chunk_bytes (${c.data.byteLength})`);
    expected += c.data.byteLength;
  }
  assert.equal(expected, file.length, `everything up to the end\n${ctx()}`);
  t.diagnostic(`data chunk sizes: ${all.map((c) => c.data.byteLength).join(", ")} (chunk_bytes ${chunkBytes})`);
  assert.ok(Buffer.concat(all.map((c) => c.data)).equals(file), "the streamed bytes are the original");

  // Back to the start: nothing flows until new credit, then from offset 0.
  const beforeSeek = received.length;
  const seeked = await push(channel, "seek", { offset: 0 }, undefined, ctx);
  assert.equal(seeked.status, "ok", `${show(seeked)}\n${ctx()}`);
  assert.equal(seeked.response.position, 0, show(seeked.response));
  const more = await push(channel, "credit", { bytes: 1000 }, undefined, ctx);
  assert.equal(more.status, "ok", `${show(more)}\n${ctx()}`);
  await until(() => received.length > beforeSeek, MAX_WAIT_MS, "data after the seek", ctx);
  await sleep(300);
  const afterSeek = chunks().slice(beforeSeek);
  assert.equal(afterSeek[0].offset, 0, `the first chunk after the seek starts at 0\n${ctx()}`);
  assert.equal(afterSeek.reduce((n, c) => n + c.data.byteLength, 0), 1000, `exactly the new credit\n${ctx()}`);
  assert.ok(Buffer.from(afterSeek[0].data).equals(file.subarray(0, afterSeek[0].data.byteLength)));
  assert.equal(ends.items.length, 1, "no second end before the end");
});

test("4. streaming: join at an offset, pause holds granted credit, resume releases it", async () => {
  const [user] = world.members;
  const { photo, file } = uploaded ?? (await uploadWhole(user, gradientPng(300, 200)));
  const socket = await mediaSocket(user);
  const start = 50000;
  const channel = socket.channel(`stream:${photo.id}`, { credit: 0, offset: start, rendition: "original" });
  const received = [];
  channel.on("data", (payload) => received.push(decodeChunk(payload)));
  const ctx = () => framesText(socket);

  const joined = await join(channel, undefined, ctx);
  assert.equal(joined.status, "ok", `${show(joined)}\n${ctx()}`);
  assert.equal(joined.response.offset, start, show(joined.response));
  assert.equal(joined.response.size, file.length, show(joined.response));

  const paused = await push(channel, "pause", {}, undefined, ctx);
  assert.equal(paused.status, "ok", `${show(paused)}\n${ctx()}`);
  const granted = await push(channel, "credit", { bytes: 5000 }, undefined, ctx);
  assert.equal(granted.status, "ok", `${show(granted)}\n${ctx()}`);
  await sleep(300);
  assert.equal(received.length, 0, `nothing while paused\n${ctx()}`);

  const resumed = await push(channel, "resume", {}, undefined, ctx);
  assert.equal(resumed.status, "ok", `${show(resumed)}\n${ctx()}`);
  await until(() => received.reduce((n, c) => n + c.data.byteLength, 0) >= 5000, MAX_WAIT_MS, "5000 bytes after resume", ctx);
  await sleep(300);
  assert.equal(received.reduce((n, c) => n + c.data.byteLength, 0), 5000, `exactly the credit\n${ctx()}`);
  assert.equal(received[0].offset, start, `from the join offset\n${ctx()}`);
  assert.ok(Buffer.concat(received.map((c) => c.data)).equals(file.subarray(start, start + 5000)));
});
