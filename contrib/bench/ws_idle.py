#!/usr/bin/env python3
"""Memory per idle RFC 7395 WebSocket session: opens N authenticated, bound XMPP-over-WebSocket sessions
to a running parleyd on loopback (plain ws://, [modules.websocket] plain_is_secure = true), leaves them
idle, and reports parleyd's RSS growth per session (from /proc/<pid>/status). With --transport tcp the
same over the c2s listener (STARTTLS, PLAIN, bind), to compare both transports on one build.

Bounded: at most N sockets, each with a timeout; standard library only (no WebSocket package).
Usage: ws_idle.py --port HTTP_PORT --pid PARLEYD_PID --user idle --password secret [--sessions 1000]
The account needs [c2s] max_resources_per_user >= N, and [limits] connections_per_ip /
unauthenticated_per_ip high enough for N connections from 127.0.0.1.
"""
import argparse
import base64
import os
import socket
import struct
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Ws:
    def __init__(self, port, host, path, timeout):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Protocol: xmpp\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(4096)
            if not chunk:
                raise RuntimeError("closed during handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(head.decode(errors="replace"))

    def send(self, text):
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            header = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        self.s.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buf += chunk

    def read(self):
        while True:
            self._need(2)
            b0, b1 = self.buf[0], self.buf[1]
            n, off = b1 & 0x7F, 2
            if n == 126:
                self._need(4)
                n, off = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                self._need(10)
                n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
            self._need(off + n)
            payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
            op = b0 & 0x0F
            if op == 0x8:
                raise RuntimeError("server closed the WebSocket")
            if op == 0x1:
                return payload.decode()

    def wait_for(self, needle):
        while True:
            m = self.read()
            if needle in m:
                return m
            if "<failure" in m or "stream:error" in m:
                raise RuntimeError(m)


class Tcp:
    """STARTTLS c2s client with the same send/wait_for interface."""
    def __init__(self, port, domain, timeout):
        import ssl
        self.hdr = (f"<?xml version='1.0'?><stream:stream to='{domain}' xmlns='jabber:client' "
                    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = ""
        self.send(self.hdr)
        self.wait_for("</stream:features>")
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.wait_for("<proceed")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.s = ctx.wrap_socket(self.s, server_hostname=domain)
        self.buf = ""

    def send(self, text):
        self.s.sendall(text.encode())

    def wait_for(self, needle):
        while needle not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buf += chunk.decode(errors="replace")
        out, self.buf = self.buf, ""
        return out


def login_tcp(args, i):
    c = Tcp(args.port, args.domain, args.timeout)
    c.send(c.hdr)
    c.wait_for("</stream:features>")
    plain = base64.b64encode(f"\0{args.user}\0{args.password}".encode()).decode()
    c.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>")
    c.wait_for("<success")
    c.send(c.hdr)
    c.wait_for("</stream:features>")
    c.send(f"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>idle{i}</resource></bind></iq>")
    c.wait_for("</jid>")
    return c


def login(args, i):
    if args.transport == "tcp":
        return login_tcp(args, i)
    ws = Ws(args.port, args.domain, args.path, args.timeout)
    opener = f"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='{args.domain}' version='1.0'/>"
    ws.send(opener)
    ws.wait_for("</stream:features>")
    plain = base64.b64encode(f"\0{args.user}\0{args.password}".encode()).decode()
    ws.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>")
    ws.wait_for("<success")
    ws.send(opener)
    ws.wait_for("</stream:features>")
    ws.send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            f"<resource>idle{i}</resource></bind></iq>")
    ws.wait_for("</jid>")
    return ws


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True, help="HTTP port (websocket) or c2s port (tcp)")
    p.add_argument("--transport", choices=["websocket", "tcp"], default="websocket")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--domain", default="localhost")
    p.add_argument("--path", default="/xmpp-websocket")
    p.add_argument("--user", default="idle")
    p.add_argument("--password", default="secret")
    p.add_argument("--sessions", type=int, default=1000)
    p.add_argument("--idle", type=float, default=10.0, help="seconds to stay idle before measuring")
    p.add_argument("--timeout", type=float, default=15.0)
    args = p.parse_args()
    if not 1 <= args.sessions <= 20000:
        sys.exit("--sessions must be between 1 and 20000")

    warm = [login(args, "warmup")]  # first-use allocations (thread buffers, caches) are not per session
    time.sleep(args.idle)
    before = rss_kib(args.pid)
    sockets = []
    t0 = time.time()
    for i in range(args.sessions):
        sockets.append(login(args, i))
    setup = time.time() - t0
    time.sleep(args.idle)  # the server frees parsers of sessions idle for a few seconds
    after = rss_kib(args.pid)
    per = (after - before) / args.sessions
    print(f"transport={args.transport} sessions={args.sessions} login_s={setup:.1f} rss_before_kib={before} rss_after_kib={after} "
          f"per_session_kib={per:.1f}")
    for ws in sockets + warm:
        ws.s.close()


if __name__ == "__main__":
    main()
