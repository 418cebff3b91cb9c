// HTTPS and WSS served by the binary itself (`tls.cert`, `tls.key`), with the stock clients:
// a Node process that trusts the test CA (NODE_EXTRA_CA_CERTS, as an operator's machine
// trusts a public CA) signs up over HTTPS and talks over wss:// with `phoenix` and
// `graphql-ws`; this process, which does not trust it, is refused by all three.
//
// The CA and the server's certificate (for 127.0.0.1 and localhost) are made here with the
// openssl command line.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { Harness, MAX_WAIT_MS, sleep, within } from "../lib/helpers.js";

const here = path.dirname(fileURLToPath(import.meta.url));
let h;
let dir;

function openssl(...args) {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "taina-tls-"));
  openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=taina test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign");
  openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost");
  fs.writeFileSync(path.join(dir, "server.ext"),
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
    "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext");
  h = await Harness.start({
    tls: { cert: path.join(dir, "server.pem"), key: path.join(dir, "server.key") },
  });
});

after(async () => {
  if (h) {
    const result = await h.stop();
    assert.deepEqual({ code: result.code, signal: result.signal }, { code: 0, signal: null });
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs lib/tls-client.js in a Node that trusts `ca`; its JSON line. */
async function trustingClient(ca) {
  const child = spawn(process.execPath, [path.join(here, "..", "lib", "tls-client.js"), h.server.url], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: ca },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  const code = await within(new Promise((resolve) => child.on("exit", resolve)), 30000, "the trusting client");
  assert.equal(code, 0, `client exit ${code}: ${err}`);
  return JSON.parse(out.trim().split("\n").pop());
}

test("a Node that trusts the CA uses HTTPS, phoenix over wss:// and graphql-ws over wss://", async () => {
  assert.match(h.server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const seen = await trustingClient(path.join(dir, "ca.pem"));
  assert.equal(seen.error, undefined, seen.error);
  assert.deepEqual(seen.joins, ["ok", "ok"]);
  assert.equal(seen.push, "ok");
  assert.match(seen.phoenixBodies[0], /^sobre TLS \d+$/);
  assert.match(seen.graphql, /^sobre TLS \d+$/);
  assert.equal(seen.graphqlProtocol, "graphql-transport-ws");
  assert.ok(seen.heartbeatReplies >= 3, `heartbeat replies: ${seen.heartbeatReplies}`);
  assert.equal(seen.stillOpen, true);
  assert.match(seen.socketUrl, /^wss:\/\/127\.0\.0\.1:\d+\/socket\/websocket\?/);
});

test("without the CA, HTTPS, phoenix and graphql-ws are all refused", async () => {
  await assert.rejects(fetch(`${h.server.url}/healthz`), (e) => {
    assert.match(String(e.cause && e.cause.code), /SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/);
    return true;
  });

  const socket = h.socket({ token: "irrelevant", reconnect: false });
  socket.connect();
  await sleep(500);
  assert.equal(socket.isConnected(), false);
  assert.ok(socket.errors.length > 0, "the phoenix socket reported an error");

  const client = h.graphqlClient({ token: "irrelevant" });
  const failed = new Promise((resolve) => {
    client.subscribe({ query: "{ __typename }" }, { next() {}, error: resolve, complete() {} });
  });
  const error = await within(failed, MAX_WAIT_MS, "graphql-ws to fail");
  assert.ok(error, "graphql-ws reported the failure");
  assert.ok(client.frames.some((f) => /error .*certificate/i.test(f)), client.frames.join("\n"));
});
