// Test harness: starts the real `taina` binary on a fresh data dir, seeds users over REST and
// makes stock `phoenix` Sockets and stock `graphql-ws` clients (both with `ws` as the WebSocket,
// since Node 20 has none).
//
// It lives in lib/, not test/: Node 20's `node --test test/` runs every .js file under test/ as a
// test file (no glob patterns before Node 21), so a helper there would count as a passing test.
//
// Every wait here is bounded; every socket made through a Harness is disconnected by
// `harness.closeSockets()` (graphql-ws clients too), and `harness.stop()` sends SIGTERM and
// expects exit code 0.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { Socket } from "phoenix";
import { createClient } from "graphql-ws";

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, "..", "..", "..");
export const TAINA_BIN = process.env.TEST_TAINA_BIN || path.join(REPO_ROOT, "target", "debug", "taina");
export const PASSWORD = "a long password for tests";

/** Every wait in these tests is at most this long. */
export const MAX_WAIT_MS = 5000;

// ---------------------------------------------------------------------------------------------
// Small async utilities

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves or rejects like `promise`, or rejects after `ms` with a message naming `what`. */
export function within(promise, ms, what, context = () => "") {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const extra = context();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}${extra ? `\n${extra}` : ""}`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `predicate` every 10 ms until it is truthy (returns its value) or `ms` passes. */
export async function until(predicate, ms, what, context = () => "") {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = predicate();
    if (value) return value;
    if (Date.now() >= deadline) {
      const extra = context();
      throw new Error(`timed out after ${ms} ms waiting for ${what}${extra ? `\n${extra}` : ""}`);
    }
    await sleep(10);
  }
}

export function bytes(...values) {
  return new Uint8Array(values).buffer;
}

export function range(from, to) {
  const out = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

export function toHex(buffer) {
  return Buffer.from(buffer).toString("hex");
}

/** A payload for diagnostics: JSON, with ArrayBuffers shown as hex. */
export function show(value) {
  return JSON.stringify(value, (_k, v) => (v instanceof ArrayBuffer ? `<binary ${toHex(v)}>` : v));
}

// ---------------------------------------------------------------------------------------------
// Phoenix channel helpers

/** Joins `channel`; resolves `{status, response}` for "ok", "error" or "timeout". */
export function join(channel, ms = MAX_WAIT_MS, context) {
  return within(
    new Promise((resolve) => {
      channel
        .join(ms)
        .receive("ok", (response) => resolve({ status: "ok", response }))
        .receive("error", (response) => resolve({ status: "error", response }))
        .receive("timeout", () => resolve({ status: "timeout" }));
    }),
    ms + 500,
    `the join reply on ${channel.topic}`,
    context,
  );
}

/** Pushes and resolves `{status, response}` for "ok", "error" or "timeout". */
export function push(channel, event, payload, ms = MAX_WAIT_MS, context) {
  return within(
    new Promise((resolve) => {
      channel
        .push(event, payload, ms)
        .receive("ok", (response) => resolve({ status: "ok", response }))
        .receive("error", (response) => resolve({ status: "error", response }))
        .receive("timeout", () => resolve({ status: "timeout" }));
    }),
    ms + 500,
    `the reply to ${event} on ${channel.topic}`,
    context,
  );
}

/** Leaves `channel`; resolves "ok", "error" or "timeout". */
export function leave(channel, ms = MAX_WAIT_MS) {
  return within(
    new Promise((resolve) => {
      channel
        .leave(ms)
        .receive("ok", () => resolve("ok"))
        .receive("error", () => resolve("error"))
        .receive("timeout", () => resolve("timeout"));
    }),
    ms + 500,
    `the leave reply on ${channel.topic}`,
  );
}

/** Collects every `event` delivered to `channel`, in order. */
export function collect(channel, event) {
  const items = [];
  channel.on(event, (payload) => items.push(payload));
  return {
    items,
    /** Waits until at least `n` have arrived. */
    atLeast(n, ms = MAX_WAIT_MS, context) {
      return until(
        () => items.length >= n,
        ms,
        `${n} "${event}" event(s) on ${channel.topic} (got ${items.length})`,
        context,
      ).then(() => items.slice());
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The server

export class Server {
  constructor(child, dataDir) {
    this.child = child;
    this.dataDir = dataDir;
    this.lines = [];
    this.address = null;
    this.exit = new Promise((resolve) => {
      child.on("exit", (code, signal) => resolve({ code, signal }));
    });
  }

  get url() {
    return `${this.tls ? "https" : "http"}://${this.address}`;
  }

  get socketUrl() {
    return `${this.tls ? "wss" : "ws"}://${this.address}/socket`;
  }

  /** Where graphql-ws clients connect (they offer `graphql-transport-ws`). */
  get graphqlWsUrl() {
    return `${this.tls ? "wss" : "ws"}://${this.address}/socket/websocket`;
  }

  /** Log lines at WARN or ERROR, for diagnostics. */
  problems() {
    return this.lines.filter((l) => /"level":"(WARN|ERROR)"/.test(l));
  }

  tail(n = 30) {
    return this.lines.slice(-n).join("\n");
  }

  /** SIGTERM, then waits (bounded) for the exit; returns `{code, signal}`. */
  async stop(ms = 15000) {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGTERM");
    }
    let result;
    try {
      result = await within(this.exit, ms, "the server to exit after SIGTERM");
    } catch (e) {
      this.child.kill("SIGKILL");
      result = await this.exit;
      result.timedOut = true;
    }
    if (this.ownsDataDir !== false) fs.rmSync(this.dataDir, { recursive: true, force: true });
    return result;
  }
}

/**
 * Starts the binary on 127.0.0.1:0 with a fresh data dir and waits for its `address` log line.
 * `dataDir` makes it another node of an installation (the same SQLite files and secret; the
 * last node stopped removes the directory), `nats` (`{url, prefix}`) puts it on a NATS bus.
 */
export async function startServer({ dataDir: shared, nats, env: extraEnv, tls } = {}) {
  if (!fs.existsSync(TAINA_BIN)) {
    throw new Error(`no server binary at ${TAINA_BIN}: build it with \`cargo build -p taina --bin taina\` or set TEST_TAINA_BIN`);
  }
  const dataDir = shared ?? fs.mkdtempSync(path.join(os.tmpdir(), "taina-js-"));
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    // Unknown TAINA_ variables make the server refuse to start.
    if (!k.startsWith("TAINA_")) env[k] = v;
  }
  Object.assign(env, {
    TAINA_DATA_DIR: dataDir,
    TAINA_LISTEN: "127.0.0.1:0",
    TAINA_LOG: "info",
    TAINA_AUTH__SIGNIN_PER_MINUTE: "1000",
    TAINA_AUTH__SIGNUP_PER_MINUTE: "1000",
    TAINA_REALTIME__OFFLINE_DEBOUNCE_SECONDS: "1",
  });
  if (process.env.TAINA_DATABASE_URL) env.TAINA_DATABASE_URL = process.env.TAINA_DATABASE_URL;
  if (nats) {
    env.TAINA_BUS__NATS_URL = nats.url;
    env.TAINA_BUS__SUBJECT_PREFIX = nats.prefix;
  }
  // HTTPS and WSS with this certificate and key (PEM files).
  if (tls) {
    env.TAINA_TLS__CERT = tls.cert;
    env.TAINA_TLS__KEY = tls.key;
  }
  // Settings a test file needs (`TAINA_…` variables).
  Object.assign(env, extraEnv ?? {});

  const child = spawn(TAINA_BIN, ["--log-format", "json", "serve"], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  const server = new Server(child, dataDir);
  server.tls = Boolean(tls);
  // Another node's directory is removed by that node (stop the sharing nodes first).
  server.ownsDataDir = !shared;
  let pending = "";
  const found = new Promise((resolve, reject) => {
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      pending += chunk;
      let nl;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        server.lines.push(line);
        if (!server.address) {
          try {
            const parsed = JSON.parse(line);
            if (typeof parsed.address === "string") {
              server.address = parsed.address;
              resolve();
            }
          } catch {
            // not JSON: keep it for diagnostics only
          }
        }
      }
    });
    child.on("error", reject);
    child.on("exit", (code, signal) =>
      reject(new Error(`server exited before listening (code ${code}, signal ${signal}):\n${server.tail()}`)),
    );
  });
  try {
    await within(found, 15000, "the server's `address` log line", () => server.tail());
  } catch (e) {
    await server.stop(2000);
    throw e;
  }
  return server;
}

// ---------------------------------------------------------------------------------------------
// REST

export async function api(server, method, route, { token, body } = {}) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${server.url}${route}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(MAX_WAIT_MS),
  });
  const text = await response.text();
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
  }
  return { status: response.status, body: json };
}

/** A GET whose body is kept as bytes: `{status, headers, body: Buffer}`. */
export async function getBytes(server, route, { token } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${server.url}${route}`, { headers, signal: AbortSignal.timeout(MAX_WAIT_MS) });
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body };
}

async function expectStatus(promise, status, what) {
  const result = await promise;
  if (result.status !== status) {
    throw new Error(`${what}: expected HTTP ${status}, got ${result.status} ${show(result.body)}`);
  }
  return result.body;
}

export function signUp(server, body) {
  return expectStatus(api(server, "POST", "/api/auth/signup", { body }), 201, "sign-up");
}

export function signIn(server, email, password = PASSWORD) {
  return expectStatus(api(server, "POST", "/api/auth/signin", { body: { email, password } }), 200, "sign-in");
}

export function createInvite(server, token, body = { role: "member", max_uses: 1 }) {
  return expectStatus(api(server, "POST", "/api/auth/invites", { token, body }), 201, "invite");
}

export function createConversation(server, token, participantIds, name = "test group") {
  return expectStatus(
    api(server, "POST", "/api/chat/conversations", {
      token,
      body: { kind: "group", name, participant_ids: participantIds },
    }),
    201,
    "create conversation",
  );
}

/**
 * `POST /graphql` with `{query, variables}` (and `Authorization: Bearer` when `token` is set).
 * Resolves `{status, body}` like `api`.
 */
export function graphqlHttp(server, query, variables, token) {
  const body = { query };
  if (variables !== undefined) body.variables = variables;
  return api(server, "POST", "/graphql", { token, body });
}

export function signOut(server, token) {
  return expectStatus(api(server, "POST", "/api/auth/signout", { token }), 204, "sign-out");
}

/**
 * Seeds an admin (the first sign-up) and `members` invited members. Returns
 * `{community, admin, members: [...]}` where each user is `{id, email, token}`.
 */
export async function seed(server, members = 2) {
  const stamp = `${process.pid}-${Date.now()}`;
  const adminEmail = `admin-${stamp}@example.org`;
  const first = await signUp(server, {
    email: adminEmail,
    password: PASSWORD,
    community_name: `Aldeia ${stamp}`,
  });
  const adminSession = await signIn(server, adminEmail);
  const admin = { id: first.user.id, email: adminEmail, token: adminSession.token, role: first.user.role };
  const list = [];
  for (let i = 0; i < members; i++) {
    const invite = await createInvite(server, admin.token);
    const email = `member${i}-${stamp}@example.org`;
    const up = await signUp(server, { email, password: PASSWORD, invite_code: invite.code });
    const session = await signIn(server, email);
    list.push({ id: up.user.id, email, token: session.token, role: up.user.role });
  }
  return { community: first.community, admin, members: list };
}

// ---------------------------------------------------------------------------------------------
// Sockets

/**
 * One server plus the sockets made against it, so a test file can clean up everything.
 */
/**
 * A test file's `after`: stops the harness's server with SIGTERM, prints the WARN/ERROR lines
 * it logged, and checks it exited 0 within 15 s. Nothing to do when it never started.
 */
export async function stopChecked(h) {
  if (!h) return;
  const problems = h.server.problems();
  const result = await h.stop();
  if (problems.length) console.log(`server WARN/ERROR lines:\n${problems.join("\n")}`);
  assert.equal(result.timedOut, undefined, "the server did not exit within 15 s of SIGTERM");
  assert.deepEqual({ code: result.code, signal: result.signal }, { code: 0, signal: null }, "server exit after SIGTERM");
}

export class Harness {
  constructor(server) {
    this.server = server;
    this.sockets = [];
    this.graphqlClients = [];
  }

  static async start(options) {
    return new Harness(await startServer(options));
  }

  /**
   * A stock phoenix Socket with `ws` as transport. `opts.token` goes into `params` unless
   * `opts.authToken` is set. Every frame received is recorded in `socket.frames` (decoded
   * messages) for diagnostics. Not connected yet unless `connect: true`.
   */
  socket({ token, authToken, params, reconnect = true, heartbeatIntervalMs = 2000, connect = false } = {}) {
    const opts = {
      transport: WebSocket,
      heartbeatIntervalMs,
      reconnectAfterMs: reconnect ? () => 50 : () => 60_000,
      rejoinAfterMs: () => 1000,
      timeout: MAX_WAIT_MS,
    };
    if (authToken) opts.authToken = authToken;
    else opts.params = params ?? { token };
    const socket = new Socket(this.server.socketUrl, opts);
    socket.frames = [];
    socket.closes = [];
    socket.errors = [];
    socket.onMessage((m) => socket.frames.push(m));
    socket.onClose((event) => socket.closes.push({ code: event && event.code, reason: event && event.reason }));
    socket.onError((error) => socket.errors.push(String((error && error.message) || error)));
    this.sockets.push(socket);
    if (connect) socket.connect();
    return socket;
  }

  /** Makes, connects and waits for the socket to be open. */
  async connected(opts) {
    const socket = this.socket(opts);
    const opened = new Promise((resolve) => socket.onOpen(resolve));
    socket.connect();
    await within(opened, MAX_WAIT_MS, "the socket to open", () =>
      `closes: ${show(socket.closes)} errors: ${show(socket.errors)}`,
    );
    return socket;
  }

  /**
   * A stock graphql-ws client (lazy, no retries) on `ws://ADDR/socket/websocket`, with a `ws`
   * subclass as its WebSocket that records every raw frame. `connectionParams` defaults to
   * `{token}`; `on` handlers are kept and run after the recording ones. The client gets:
   * `frames` (raw lines: `-> ` sent, `<- ` received, `<> ` close), `closes` (`{code, reason}`
   * per `closed` event), `connections` (count of `connected` events) and `sockets` (the `ws`
   * instances). Disposed (and its sockets waited for) by `closeSockets()`.
   */
  graphqlClient({ token, connectionParams, on = {} } = {}) {
    const frames = [];
    const sockets = [];
    const closes = [];
    class RecordingWebSocket extends WebSocket {
      constructor(url, protocols, options) {
        super(url, protocols, options);
        sockets.push(this);
        const n = sockets.length;
        frames.push(`   socket #${n}: connecting, offering ${JSON.stringify(protocols)}`);
        this.on("open", () => frames.push(`   socket #${n}: open, protocol ${JSON.stringify(this.protocol)}`));
        this.on("message", (data, isBinary) =>
          frames.push(`<- ${isBinary ? `<binary ${toHex(data)}>` : data.toString()}`),
        );
        this.on("close", (code, reason) => frames.push(`<> socket #${n}: close ${code} ${JSON.stringify(reason.toString())}`));
        this.on("error", (error) => frames.push(`!! socket #${n}: error ${error.message}`));
      }

      send(data, ...rest) {
        frames.push(`-> ${typeof data === "string" ? data : `<binary ${toHex(data)}>`}`);
        return super.send(data, ...rest);
      }
    }
    const client = createClient({
      url: this.server.graphqlWsUrl,
      webSocketImpl: RecordingWebSocket,
      connectionParams: connectionParams ?? { token },
      retryAttempts: 0,
      lazy: true,
      on: {
        ...on,
        closed: (event) => {
          closes.push({ code: event && event.code, reason: event && String(event.reason) });
          if (on.closed) on.closed(event);
        },
        connected: (...args) => {
          client.connections++;
          if (on.connected) on.connected(...args);
        },
      },
    });
    client.frames = frames;
    client.closes = closes;
    client.sockets = sockets;
    client.connections = 0;
    this.graphqlClients.push(client);
    return client;
  }

  /** Disposes a graphql-ws client and waits (bounded) for its sockets to be closed. */
  async disposeGraphqlClient(client) {
    const i = this.graphqlClients.indexOf(client);
    if (i >= 0) this.graphqlClients.splice(i, 1);
    // `dispose` awaits the connection attempt, which rejects if that attempt failed.
    await within(Promise.resolve().then(() => client.dispose()), MAX_WAIT_MS, "graphql-ws dispose").catch(() => {});
    for (const socket of client.sockets) {
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
        try {
          socket.close(1000, "Normal Closure");
        } catch {
          // CONNECTING: ws throws if it cannot close yet; terminate below.
        }
      }
    }
    const closed = () => client.sockets.every((s) => s.readyState === WebSocket.CLOSED);
    try {
      await until(closed, MAX_WAIT_MS, "graphql-ws sockets to close");
    } catch {
      for (const socket of client.sockets) socket.terminate();
    }
  }

  /** Disconnects every socket and graphql-ws client this harness made (bounded). */
  async closeSockets() {
    const sockets = this.sockets.splice(0);
    const clients = this.graphqlClients.slice();
    await Promise.all([
      ...sockets.map((socket) =>
        within(new Promise((resolve) => socket.disconnect(resolve)), MAX_WAIT_MS, "socket disconnect").catch(() => {}),
      ),
      ...clients.map((client) => this.disposeGraphqlClient(client)),
    ]);
  }

  async stop() {
    await this.closeSockets();
    return this.server.stop();
  }
}

/** The frames a socket saw, one per line, for assertion messages. */
export function framesOf(...sockets) {
  return sockets
    .map((socket, i) =>
      [`socket #${i} frames:`]
        .concat(socket.frames.map((m) => `  [${m.join_ref},${m.ref},${m.topic},${m.event},${show(m.payload)}]`))
        .concat([`  closes: ${show(socket.closes)} errors: ${show(socket.errors)}`])
        .join("\n"),
    )
    .join("\n");
}

/**
 * Like `framesOf`, but for sockets carrying bulk binary data: each binary payload is shown by
 * `binary(arrayBuffer)` (default: its length and first bytes), and when a socket has a `sent`
 * array (see `recordSent`) the frames it sent are listed too. At most `limit` lines per list.
 */
export function briefFramesOf(sockets, { binary = briefBinary, limit = 200 } = {}) {
  const brief = (value) =>
    JSON.stringify(value, (_k, v) => (v instanceof ArrayBuffer ? binary(v) : v));
  const lines = (list, arrow) => {
    const shown = list.length > limit ? list.slice(-limit) : list;
    const out = shown.map((m) => `  ${arrow} [${m.join_ref},${m.ref},${m.topic},${m.event},${brief(m.payload)}]`);
    if (list.length > limit) out.unshift(`  (${list.length - limit} earlier frames not shown)`);
    return out;
  };
  return sockets
    .map((socket, i) =>
      [`socket #${i} frames:`]
        .concat(socket.sent ? lines(socket.sent, "->") : [])
        .concat(lines(socket.frames, "<-"))
        .concat([`  closes: ${show(socket.closes)} errors: ${show(socket.errors)}`])
        .join("\n"),
    )
    .join("\n");
}

function briefBinary(buffer) {
  const head = toHex(buffer.slice(0, 16));
  return `<binary ${buffer.byteLength} bytes: ${head}${buffer.byteLength > 16 ? "…" : ""}>`;
}

/** Records every message a phoenix Socket sends (`{join_ref, ref, topic, event, payload}`) in `socket.sent`. */
export function recordSent(socket) {
  socket.sent = [];
  const original = socket.push.bind(socket);
  socket.push = (data) => {
    socket.sent.push(data);
    return original(data);
  };
  return socket;
}

/** The raw frames of graphql-ws clients made by `Harness.graphqlClient`, for assertion messages. */
export function gqlFramesOf(...clients) {
  return clients
    .map((client, i) =>
      [`graphql-ws client #${i} frames:`]
        .concat(client.frames.map((line) => `  ${line}`))
        .concat([`  closed events: ${show(client.closes)} connected events: ${client.connections}`])
        .join("\n"),
    )
    .join("\n");
}

/**
 * `client.subscribe(payload, sink)` with a recording sink: `items` (each `next` payload, i.e.
 * `{data, errors}`), `error` (what `sink.error` got), `completed`, `dispose()`, and bounded waits.
 */
export function gqlSubscribe(client, payload) {
  const sub = { items: [], error: undefined, errored: false, completed: false };
  sub.dispose = client.subscribe(payload, {
    next: (value) => sub.items.push(value),
    error: (error) => {
      sub.errored = true;
      sub.error = error;
    },
    complete: () => {
      sub.completed = true;
    },
  });
  const describe = () => `items ${show(sub.items)} error ${show(sub.error)} completed ${sub.completed}`;
  /** Waits until at least `n` items have arrived; resolves a copy of `items`. */
  sub.atLeast = (n, ms = MAX_WAIT_MS, context = () => "") =>
    until(() => sub.items.length >= n, ms, `${n} result(s) of ${show(payload.variables ?? {})}: ${describe()}`, () =>
      [describe(), context()].join("\n"),
    ).then(() => sub.items.slice());
  /** Waits until the sink got `error` or `complete`. */
  sub.ended = (ms = MAX_WAIT_MS, context = () => "") =>
    until(() => sub.errored || sub.completed, ms, `the end of ${show(payload.variables ?? {})}: ${describe()}`, () =>
      [describe(), context()].join("\n"),
    );
  return sub;
}

/**
 * A raw `ws` upgrade attempt, to see what HTTP status the server answers (Phoenix answers 403
 * for a bad token). Resolves `{open: true, protocol}` or `{open: false, status}`.
 */
export function rawUpgrade(server, query, protocols) {
  return within(
    new Promise((resolve) => {
      const ws = new WebSocket(`${server.socketUrl}/websocket?${query}`, protocols);
      ws.on("open", () => {
        const protocol = ws.protocol;
        ws.close();
        resolve({ open: true, protocol });
      });
      ws.on("unexpected-response", (_req, res) => {
        resolve({ open: false, status: res.statusCode });
        res.resume();
        ws.terminate();
      });
      ws.on("error", (error) => resolve({ open: false, error: error.message }));
    }),
    MAX_WAIT_MS,
    "a raw upgrade",
  );
}
