// DESIGN: the hand-over of an HTTP connection to the WebSocket transport (RFC 6455 / RFC 7395). Heavy
// (Boost.Beast): include it only in the translation unit that implements the transport.
//
// Contract (HttpServer::routeUpgrade, server/http/http_server.h):
//   auto handle = server.http().routeUpgrade("/xmpp-websocket", [](http::WebSocketUpgrade&& u) {
//     // on u.executor's network thread, which runs u.stream's I/O (one io_context per thread)
//     boost::beast::websocket::stream<...> ws(std::move(std::get<...>(u.stream)));
//     ws.async_accept(u.request, ...);   // the request is unanswered: the handler answers it (101 or
//                                        // an error such as 400 for a missing/unknown subprotocol)
//   });
//   ctx.keep(handle);
//
// The HTTP server calls the handler when a request on exactly that path is a GET with
// "Upgrade: websocket" (case-insensitive) and "Connection: upgrade" (websocket::is_upgrade). Before
// that it has applied its own checks: header size/time limits, Origin against [http] cors_origins is
// NOT enforced (browsers send Origin on WebSocket: the transport decides; `originAllowed` says what
// the HTTP CORS rule would say). The stream's Beast timeout is switched off (expires_never) before the
// hand-over: the transport sets its own (websocket::stream_base::timeout). The connection stops counting
// as an HTTP connection; graceful shutdown of it is the transport's job.
#pragma once

#include <utility>
// clang-format off
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
// clang-format on

#include <string>
#include <variant>

#include "server/runtime/executor.h"

namespace parley::http {

using PlainStream = boost::beast::tcp_stream;
using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;  // handshake already done

struct WebSocketUpgrade {
  std::variant<PlainStream, TlsStream> stream;
  boost::beast::http::request<boost::beast::http::string_body> request;  // the Upgrade request, unanswered
  std::string leftover;     // bytes read past the request (normally empty: a client waits for 101)
  runtime::Executor executor;  // the network thread the stream runs on
  std::string peerIp;       // the TCP peer
  std::uint16_t peerPort = 0;
  std::string remoteIp;     // the client: peerIp, or X-Forwarded-For's client when peerIp is a trusted proxy
  bool tls = false;         // TLS on this hop (stream holds TlsStream)
  bool secure = false;      // tls, or X-Forwarded-Proto: https from a trusted proxy
  bool trustedProxy = false;  // peerIp is in [http] trusted_proxies
  bool originAllowed = true;  // Origin absent or allowed by [http] cors_origins
};

}  // namespace parley::http
