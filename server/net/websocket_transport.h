// DESIGN: the RFC 7395 WebSocket transport for client streams. The HTTP listener (server/http) hands
// over an upgrade request on /xmpp-websocket; acceptXmppWebSocket() checks it (the `xmpp` subprotocol is
// required, RFC 7395 §3.1: otherwise 400 and no WebSocket), completes the RFC 6455 handshake and gives
// back a net::Transport on which c2s::C2sSession runs exactly as over TCP. The transport only maps one
// WebSocket text message to one onData() and one send() to one message; the XMPP framing (<open/>,
// <close/>, namespace declarations on every element) is done by stream::InboundStream.
//  - reads: one message at a time, at most `maxMessageBytes`, counted in 64 KiB pieces as it arrives (a
//    larger message ends the stream with <policy-violation/> before it is buffered whole: the handler's
//    onInputTooLarge()); the read buffer is freed after every message, so an idle connection holds
//    none (Beast keeps a 1.5 KiB frame buffer per stream);
//  - writes: a queue of shared immutable buffers, one message write in flight, the same pause/drop
//    thresholds as net::Connection;
//  - keepalive: Beast's idle timer sends a WebSocket ping after idleTimeout/2 of silence and closes the
//    connection when nothing (not even a pong) came back within idleTimeout;
//  - close: what is queued is written, then a close frame (code 1000) with a bounded wait.
// Everything runs on the connection's executor. Beast stays in the .cpp: this header is Asio-free.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "server/net/transport.h"

namespace parley::http {
struct WebSocketUpgrade;
}

namespace parley::net {

struct WebSocketSettings {
  std::size_t maxMessageBytes = 262144;  // the stanza size limit (RFC 7395 §3.3.3: one element per message)
  std::chrono::seconds idleTimeout{120};
  std::chrono::seconds handshakeTimeout{30};
  ConnectionLimits limits;
  // A plain-HTTP upgrade (ws://) counts as secure: only for loopback or a TLS-terminating proxy, and
  // only when the operator said so. wss:// is always secure.
  bool plainIsSecure = false;
};

// Outcome of an upgrade attempt, for metrics and logs.
enum class WebSocketRefusal { None, NotWebSocket, NoXmppSubprotocol, Limit, HandshakeFailed };

// Takes an unanswered upgrade request. `admit(ip)` reserves a connection slot for the peer (false:
// refused with 503). On success `ready` runs on the connection's executor with the transport; on
// refusal the HTTP answer is written, the connection closed and `refused` called (if set).
void acceptXmppWebSocket(http::WebSocketUpgrade&& upgrade, const WebSocketSettings& settings,
                         std::function<bool(const std::string& ip)> admit,
                         std::function<void(std::unique_ptr<Transport>)> ready,
                         std::function<void(WebSocketRefusal, const std::string& ip)> refused = {});

// The same, as a handler for http::HttpServer::routeUpgrade() (built here, where the upgrade type is
// complete, so callers need no Beast header).
std::function<void(http::WebSocketUpgrade&&)> xmppUpgradeHandler(
    WebSocketSettings settings, std::function<bool(const std::string& ip)> admit,
    std::function<void(std::unique_ptr<Transport>)> ready,
    std::function<void(WebSocketRefusal, const std::string& ip)> refused);

}  // namespace parley::net
