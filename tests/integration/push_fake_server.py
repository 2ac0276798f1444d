#!/usr/bin/python3
"""A local stand-in for Google's OAuth2 token endpoint, FCM HTTP v1 and APNs, for Parley's push tests.

HTTP/2 over TLS (ALPN h2) with the python3-h2 state machine on asyncio; one process serves all three on
one port, by path:
  POST /token                                    OAuth2 JWT bearer grant (RFC 7523): the assertion's RS256
                                                 signature is checked with the service account's public
                                                 key, then {"access_token", "expires_in"} is answered.
  POST /v1/projects/<id>/messages:send           FCM HTTP v1: the bearer token must be one /token issued.
  POST /3/device/<token>                         APNs: the ES256 provider token is checked with the .p8
                                                 key's public key (kid, iss, iat), apns-topic required.
Every request is printed on stdout as one JSON line {"kind", "path", "headers", "body", "conn", "stream",
"status"}; the first line is {"ready": port}. Answers can be scripted on stdin, one JSON object per line:
{"kind": "apns"|"fcm"|"token", "status": 410, "body": {...}, "headers": {"retry-after": "1"},
 "times": 1, "token": "<device token, optional>"}; scripted answers are used first, in order, then the
service's normal answer. {"kind": "expires_in", "value": 60} changes the token lifetime.
"""
import argparse
import asyncio
import base64
import json
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

scripts = []
issued = set()
expires_in = 3600
counter = 0
conn_counter = 0


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def check_jwt(token, key, alg):
    try:
        h, c, s = token.split(".")
        header, claims, sig = json.loads(b64d(h)), json.loads(b64d(c)), b64d(s)
        if header.get("alg") != alg:
            return None, "alg"
        data = (h + "." + c).encode()
        if alg == "RS256":
            key.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            if len(sig) != 64:
                return None, "sig-length"
            r, s_ = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
            key.verify(utils.encode_dss_signature(r, s_), data, ec.ECDSA(hashes.SHA256()))
        return (header, claims), None
    except Exception as e:  # noqa: BLE001 - any failure is a bad token
        return None, type(e).__name__


def take_script(kind, path):
    for i, s in enumerate(scripts):
        if s["kind"] != kind:
            continue
        if s.get("token") and not path.endswith("/" + s["token"]) and s["token"] not in path:
            continue
        s["times"] = s.get("times", 1) - 1
        if s["times"] <= 0:
            scripts.pop(i)
        return s
    return None


def answer(kind, path, headers, body, args):
    """Returns (status, headers, body bytes) like the real service."""
    global counter
    counter += 1
    s = take_script(kind, path)
    if s is not None:
        return s.get("status", 200), s.get("headers", {}), json.dumps(s.get("body", {})).encode()
    if kind == "token":
        form = dict(p.split("=", 1) for p in body.decode().split("&") if "=" in p)
        from urllib.parse import unquote
        if unquote(form.get("grant_type", "")) != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {}, b'{"error":"unsupported_grant_type"}'
        ok, err = check_jwt(unquote(form.get("assertion", "")), args.fcm_key, "RS256")
        if not ok:
            return 400, {}, json.dumps({"error": "invalid_grant", "error_description": err}).encode()
        claims = ok[1]
        if claims.get("scope") != "https://www.googleapis.com/auth/firebase.messaging" or \
                not claims.get("iss") or claims.get("exp", 0) <= time.time():
            return 400, {}, b'{"error":"invalid_scope"}'
        tok = "ya29.fake-%d" % counter
        issued.add(tok)
        return 200, {}, json.dumps({"access_token": tok, "expires_in": expires_in, "token_type": "Bearer"}).encode()
    if kind == "fcm":
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in issued:
            return 401, {}, json.dumps({"error": {"code": 401, "status": "UNAUTHENTICATED",
                                                  "message": "Request had invalid authentication credentials."}}).encode()
        try:
            msg = json.loads(body)["message"]
            assert msg["token"]
        except Exception:  # noqa: BLE001
            return 400, {}, b'{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"bad message"}}'
        return 200, {}, json.dumps({"name": "projects/p/messages/%d" % counter}).encode()
    if kind == "apns":
        auth = headers.get("authorization", "")
        if not auth.startswith("bearer "):
            return 403, {}, b'{"reason":"MissingProviderToken"}'
        ok, err = check_jwt(auth[7:], args.apns_key, "ES256")
        if not ok or ok[0].get("kid") != args.apns_kid or ok[1].get("iss") != args.apns_team or \
                abs(ok[1].get("iat", 0) - time.time()) > 3600:
            return 403, {}, b'{"reason":"InvalidProviderToken"}'
        if not headers.get("apns-topic"):
            return 400, {}, b'{"reason":"MissingTopic"}'
        if headers.get("apns-push-type") not in ("alert", "background", "voip"):
            return 400, {}, b'{"reason":"InvalidPushType"}'
        return 200, {"apns-id": "00000000-0000-0000-0000-%012d" % counter}, b""
    return 404, {}, b'{"error":"no such path"}'


def kind_of(path):
    if path == "/token":
        return "token"
    if path.startswith("/v1/projects/") and path.endswith("/messages:send"):
        return "fcm"
    if path.startswith("/3/device/"):
        return "apns"
    return "unknown"


class Server(asyncio.Protocol):
    def __init__(self, args):
        global conn_counter
        conn_counter += 1
        self.id = conn_counter
        self.args = args
        self.conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
        self.streams = {}

    def connection_made(self, transport):
        self.transport = transport
        ssl_obj = transport.get_extra_info("ssl_object")
        if ssl_obj is None or ssl_obj.selected_alpn_protocol() != "h2":
            transport.close()
            return
        self.conn.initiate_connection()
        transport.write(self.conn.data_to_send())

    def data_received(self, data):
        try:
            events = self.conn.receive_data(data)
        except Exception:  # noqa: BLE001
            self.transport.close()
            return
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                self.streams[ev.stream_id] = {"headers": {k.decode() if isinstance(k, bytes) else k:
                                                          v.decode() if isinstance(v, bytes) else v
                                                          for k, v in ev.headers}, "body": b""}
            elif isinstance(ev, h2.events.DataReceived):
                self.streams[ev.stream_id]["body"] += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                self.respond(ev.stream_id)
        self.transport.write(self.conn.data_to_send())

    def respond(self, sid):
        st = self.streams.pop(sid)
        h = st["headers"]
        path = h.get(":path", "")
        kind = kind_of(path)
        status, extra, body = answer(kind, path, h, st["body"], self.args)
        try:
            text = st["body"].decode()
        except UnicodeDecodeError:
            text = ""
        print(json.dumps({"kind": kind, "path": path, "headers": h, "body": text, "conn": self.id,
                          "stream": sid, "status": status, "t": time.time()}), flush=True)
        out = [(":status", str(status)), ("content-length", str(len(body)))]
        if body:
            out.append(("content-type", "application/json"))
        out += [(k, str(v)) for k, v in extra.items()]
        self.conn.send_headers(sid, out, end_stream=not body)
        if body:
            self.conn.send_data(sid, body, end_stream=True)


async def control():
    global expires_in
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        try:
            s = json.loads(line)
        except ValueError:
            continue
        if s.get("kind") == "expires_in":
            expires_in = int(s["value"])
        else:
            scripts.append(s)
        print(json.dumps({"scripted": s.get("kind")}), flush=True)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--fcm-public-key", required=True)
    p.add_argument("--apns-public-key", required=True)
    p.add_argument("--apns-kid", required=True)
    p.add_argument("--apns-team", required=True)
    args = p.parse_args()
    args.fcm_key = serialization.load_pem_public_key(open(args.fcm_public_key, "rb").read())
    args.apns_key = serialization.load_pem_public_key(open(args.apns_public_key, "rb").read())
    args.apns_kid, args.apns_team = args.apns_kid, args.apns_team
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.set_alpn_protocols(["h2"])
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Server(args), "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"ready": port}), flush=True)
    await control()  # until stdin closes
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
