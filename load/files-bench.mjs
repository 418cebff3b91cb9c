// The Node half of load/files-bench.sh: uploads one file into a files space over tus (the
// stock tus-js-client) or over the socket (`createFileUpload` + `upload:{id}` with the stock
// phoenix client), and prints `seconds node_id` on stdout. The clients come from
// tests/js/node_modules (`npm ci` there first).
//
//   node load/files-bench.mjs tus|socket URL TOKEN SPACE_ID FILE NAME

import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "tests", "js", "package.json"));
const [mode, url, token, space, file, name] = process.argv.slice(2);
const bytes = fs.readFileSync(file);

async function viaTus() {
  const tus = require("tus-js-client");
  let nodeId = null;
  const started = performance.now();
  await new Promise((resolve, reject) => {
    const upload = new tus.Upload(bytes, {
      endpoint: `${url}/api/files/tus/`,
      headers: { authorization: `Bearer ${token}` },
      chunkSize: 64 * 1024 * 1024,
      retryDelays: null,
      metadata: { spaceId: space, filename: name },
      onAfterResponse(req, res) {
        nodeId = res.getHeader("Taina-Node-Id") || nodeId;
      },
      onError: reject,
      onSuccess: resolve,
    });
    upload.start();
  });
  return [(performance.now() - started) / 1000, nodeId];
}

async function viaSocket() {
  const { Socket } = require("phoenix");
  const WebSocket = require("ws");
  const { encode } = require("@msgpack/msgpack");
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const chunkSize = 1024 * 1024;
  const window = 8;
  const started = performance.now();
  const created = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: `mutation($s: ID!, $p: String!, $n: Int!, $h: String!) {
        createFileUpload(spaceId: $s, path: $p, size: $n, sha256: $h) { topic } }`,
      variables: { s: space, p: `/${name}`, n: bytes.length, h: sha256 },
    }),
  }).then((r) => r.json());
  if (!created.data) throw new Error(JSON.stringify(created));
  const socket = new Socket(`${url.replace("http", "ws")}/socket`, {
    transport: WebSocket,
    params: { token },
    timeout: 60000,
  });
  socket.connect();
  const channel = socket.channel(created.data.createFileUpload.topic, {});
  await new Promise((resolve, reject) =>
    channel.join().receive("ok", resolve).receive("error", reject).receive("timeout", reject),
  );
  let next = 0;
  let last = null;
  const inflight = [];
  const push = (offset) => {
    const data = bytes.subarray(offset, Math.min(offset + chunkSize, bytes.length));
    const packed = encode({ offset, data });
    const frame = packed.buffer.slice(packed.byteOffset, packed.byteOffset + packed.byteLength);
    return new Promise((resolve, reject) =>
      channel.push("chunk", frame, 60000).receive("ok", resolve).receive("error", reject).receive("timeout", reject),
    );
  };
  while (next < bytes.length || inflight.length) {
    while (next < bytes.length && inflight.length < window) {
      inflight.push(push(next));
      next = Math.min(next + chunkSize, bytes.length);
    }
    last = await inflight.shift();
  }
  const seconds = (performance.now() - started) / 1000;
  socket.disconnect();
  return [seconds, last && last.file && last.file.node.id];
}

const [seconds, nodeId] = mode === "tus" ? await viaTus() : await viaSocket();
if (!nodeId) throw new Error("no node id at the end");
console.log(`${seconds.toFixed(3)} ${nodeId}`);
process.exit(0);
