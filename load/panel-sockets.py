#!/usr/bin/env python3
"""Holds N admin panel sockets (`/admin/live?page=...`) open on a loopback Tainá and counts the
frames each receives, as N browsers with the panel open would. Standard library only (a minimal
RFC 6455 client: handshake, unmasked server frames, pong, close), so it runs wherever python3 does.

Usage: panel-sockets.py PORT TOKEN [--panels 3] [--page overview] [--seconds 120] [--ready FILE]
Ends after --seconds, or at SIGTERM/SIGINT, and prints one JSON line per panel:
{"panel": i, "frames": n, "bytes": b, "closed": code-or-null, "error": text-or-null}.
--ready FILE is written once every panel has its 101 and first frame.
"""
import argparse
import base64
import json
import os
import signal
import socket
import struct
import threading
import time

stop = threading.Event()


def handshake(port, token, page):
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    host = f"127.0.0.1:{port}"
    request = (
        f"GET /admin/live?page={page} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        f"Origin: http://{host}\r\n"
        f"Cookie: taina_admin={token}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    sock.sendall(request.encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("connection closed during the handshake")
        buf += chunk
        if len(buf) > 65536:
            raise RuntimeError("handshake answer too long")
    head, rest = buf.split(b"\r\n\r\n", 1)
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if " 101 " not in status + " ":
        raise RuntimeError(f"upgrade refused: {status}")
    return sock, rest


def send_frame(sock, opcode, payload=b""):
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)


def panel(i, args, results, first_frames):
    result = {"panel": i, "frames": 0, "bytes": 0, "closed": None, "error": None}
    results[i] = result
    try:
        sock, buf = handshake(args.port, args.token, args.page)
    except Exception as error:  # noqa: BLE001 - reported, not raised
        result["error"] = str(error)
        first_frames.release()
        return
    sock.settimeout(0.5)
    announced = False

    def need(n):
        nonlocal buf
        while len(buf) < n:
            if stop.is_set():
                return False
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise RuntimeError("connection closed by the server")
            buf += chunk
        return True

    try:
        while not stop.is_set():
            if not need(2):
                break
            b0, b1 = buf[0], buf[1]
            opcode, length, offset = b0 & 0x0F, b1 & 0x7F, 2
            if length == 126:
                if not need(4):
                    break
                length, offset = struct.unpack("!H", buf[2:4])[0], 4
            elif length == 127:
                if not need(10):
                    break
                length, offset = struct.unpack("!Q", buf[2:10])[0], 10
            if b1 & 0x80:
                raise RuntimeError("server frames must not be masked")
            if not need(offset + length):
                break
            payload, buf = buf[offset : offset + length], buf[offset + length :]
            if opcode == 0x9:  # ping
                send_frame(sock, 0xA, payload[:125])
            elif opcode == 0x8:  # close
                result["closed"] = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                send_frame(sock, 0x8, payload[:2])
                break
            elif opcode in (0x0, 0x1, 0x2):
                result["bytes"] += length
                if b0 & 0x80:
                    result["frames"] += 1
                    if not announced:
                        announced = True
                        first_frames.release()
    except Exception as error:  # noqa: BLE001
        result["error"] = str(error)
    finally:
        if not announced:
            first_frames.release()
        if result["closed"] is None and result["error"] is None:
            try:
                send_frame(sock, 0x8, struct.pack("!H", 1000))
            except OSError:
                pass
        sock.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("token")
    parser.add_argument("--panels", type=int, default=3)
    parser.add_argument("--page", default="overview")
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--ready")
    args = parser.parse_args()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    results, first_frames = {}, threading.Semaphore(0)
    threads = [
        threading.Thread(target=panel, args=(i, args, results, first_frames), daemon=True)
        for i in range(args.panels)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + args.seconds
    got = 0
    while got < args.panels and time.monotonic() < deadline and not stop.is_set():
        if first_frames.acquire(timeout=0.2):
            got += 1
    if args.ready and got == args.panels:
        with open(args.ready, "w") as f:
            f.write("ready\n")
    while time.monotonic() < deadline and not stop.is_set():
        stop.wait(0.2)
    stop.set()
    for t in threads:
        t.join(timeout=2)
    for i in range(args.panels):
        print(json.dumps(results.get(i, {"panel": i, "error": "no result"})), flush=True)


if __name__ == "__main__":
    main()
