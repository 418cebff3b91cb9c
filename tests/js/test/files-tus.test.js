// End-to-end: tus 1.0 uploads into files (`/api/files/tus/`) with the stock npm `tus-js-client`
// (4.3.1) against the real Tainá binary: an upload in chunks whose connection is cut mid-way
// and resumed with a new `tus.Upload` on the same URL (it asks the server for the offset and
// continues from there; the stored file is byte-identical), and termination.
//
// One server per file; `after` stops it with SIGTERM and checks it exits 0.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as tus from "tus-js-client";

import { Harness, MAX_WAIT_MS, getBytes, graphqlHttp, seed, sleep, within, stopChecked } from "../lib/helpers.js";

const MiB = 1024 * 1024;

let h;
let world;
let space;

before(async () => {
  h = await Harness.start();
  world = await seed(h.server, 1);
  const spaces = await graphqlHttp(h.server, "{ spaces { id kind } }", {}, world.admin.token);
  assert.equal(spaces.status, 200, JSON.stringify(spaces.body));
  space = spaces.body.data.spaces.find((s) => s.kind === "PERSONAL").id;
});

after(async () => {
  await stopChecked(h);
});

/** Deterministic bytes that are not a photo. */
function content(length, seedByte) {
  const buffer = Buffer.alloc(length);
  for (let i = 0; i < length; i++) buffer[i] = (i * 31 + seedByte) & 0xff;
  return buffer;
}

/** `HEAD` of an upload URL: `{status, offset, length}`. */
async function head(url, token) {
  const response = await fetch(url, {
    method: "HEAD",
    headers: { authorization: `Bearer ${token}`, "tus-resumable": "1.0.0" },
    signal: AbortSignal.timeout(MAX_WAIT_MS),
  });
  return {
    status: response.status,
    offset: Number(response.headers.get("upload-offset")),
    length: Number(response.headers.get("upload-length")),
  };
}

/** tus options for the admin; `record` collects each request's method and Upload-Offset. */
function options(record, extra) {
  return {
    endpoint: `${h.server.url}/api/files/tus/`,
    headers: { authorization: `Bearer ${world.admin.token}` },
    chunkSize: 1 * MiB,
    retryDelays: null,
    metadata: { spaceId: space, filename: "film.bin" },
    onBeforeRequest(req) {
      record.push({ method: req.getMethod(), offset: req.getHeader("Upload-Offset") });
    },
    ...extra,
  };
}

test("a tus-js-client upload cut mid-way resumes from the server's offset and stores identical bytes", async () => {
  const file = content(16 * MiB + 12345, 3);
  const token = world.admin.token;

  // First attempt: abort (which destroys the request in flight) once 6.5 MiB are out.
  const first = [];
  let cutUpload;
  const cut = new Promise((resolve, reject) => {
    cutUpload = new tus.Upload(
      file,
      options(first, {
        onProgress(sent) {
          if (sent >= 6.5 * MiB && cutUpload.url) {
            cutUpload.abort(false).then(resolve, reject);
          }
        },
        onError: reject,
        onSuccess: () => reject(new Error("the first attempt should have been cut")),
      }),
    );
    cutUpload.start();
  });
  await within(cut, 30000, "the first attempt to be cut");
  const url = cutUpload.url;
  assert.match(url, /\/api\/files\/tus\/[A-Za-z0-9_-]+$/);
  assert.equal(first[0].method, "POST");

  // The server keeps what reached it, the chunks before the cut at least.
  let state = await head(url, token);
  for (let i = 0; i < 20; i++) {
    await sleep(100);
    const again = await head(url, token);
    if (again.offset === state.offset) break;
    state = again;
  }
  assert.equal(state.status, 200);
  assert.equal(state.length, file.length);
  assert.ok(state.offset >= 6 * MiB && state.offset < file.length, `offset after the cut: ${state.offset}`);

  // Second attempt: a new tus.Upload on the same URL asks the server where to continue.
  const second = [];
  let nodeId = null;
  const done = new Promise((resolve, reject) => {
    const upload = new tus.Upload(
      file,
      options(second, {
        uploadUrl: url,
        onAfterResponse(req, res) {
          nodeId = res.getHeader("Taina-Node-Id") || nodeId;
        },
        onError: reject,
        onSuccess: resolve,
      }),
    );
    upload.start();
  });
  const success = await within(done, 60000, "the resumed upload");
  assert.equal(second[0].method, "HEAD", "the resumed upload starts by asking for the offset");
  const patches = second.filter((r) => r.method === "PATCH");
  assert.equal(Number(patches[0].offset), state.offset, "it continues from the server's offset");
  assert.ok(!second.some((r) => r.method === "POST"), "no new upload is created");
  assert.equal(success.lastResponse.getHeader("Upload-Offset"), String(file.length));
  assert.ok(nodeId, "the last PATCH names the stored file");

  const stored = await getBytes(h.server, `/api/files/nodes/${nodeId}/content`, { token });
  assert.equal(stored.status, 200);
  assert.equal(stored.body.length, file.length);
  assert.equal(
    createHash("sha256").update(stored.body).digest("hex"),
    createHash("sha256").update(file).digest("hex"),
    "byte-identical",
  );
});

test("tus.Upload.terminate removes an unfinished upload", async () => {
  const file = content(3 * MiB, 9);
  const token = world.admin.token;
  const record = [];
  let upload;
  const cut = new Promise((resolve, reject) => {
    upload = new tus.Upload(
      file,
      options(record, {
        metadata: { spaceId: space, filename: "draft.bin" },
        onChunkComplete() {
          upload.abort(false).then(resolve, reject);
        },
        onError: reject,
      }),
    );
    upload.start();
  });
  await within(cut, 30000, "the first chunk");
  const url = upload.url;
  assert.equal((await head(url, token)).status, 200);
  // Someone else's upload does not exist for them: they can neither see nor end it.
  const other = world.members[0].token;
  assert.equal((await head(url, other)).status, 404);
  await assert.rejects(tus.Upload.terminate(url, { headers: { authorization: `Bearer ${other}` }, retryDelays: null }));
  assert.equal((await head(url, token)).status, 200);
  await tus.Upload.terminate(url, { headers: { authorization: `Bearer ${token}` }, retryDelays: null });
  assert.equal((await head(url, token)).status, 404);
});
