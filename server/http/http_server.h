// DESIGN: the one HTTP/1.1 server inside parleyd (Boost.Beast), shared by every HTTP feature: XEP-0363
// uploads (xep/upload), RFC 7395 WebSocket (an upgrade route), XEP-0156 host-meta, /metrics and
// /health. This header is light on purpose (no Boost): modules include it to register routes; only
// server/http/*.cpp and the WebSocket transport include the Beast types (server/http/upgrade.h).
//
// API (what a module sees):
//   auto handle = server.http().route({"GET", "HEAD"}, "/upload/", {.prefix = true, .streamBody = false},
//                                     [](http::ExchangePtr ex) { ... ex->respond(Response{...}); });
//   ctx.keep(handle);   // the route disappears when the handle is released (module stop)
//   auto up = server.http().routeUpgrade("/xmpp-websocket", [](http::WebSocketUpgrade&& u) { ... });
//
//   - Routes match the percent-decoded path exactly, or as a prefix ("/upload/" matches "/upload/x")
//     when RouteOptions::prefix is set; the longest matching route wins. A path with a route but not
//     for this method gets 405 with Allow; no route gets 404. OPTIONS preflights are answered by the
//     server itself (CORS, below) for every route that has RouteOptions::cors.
//   - Handlers run on the connection's network thread (Exchange::executor()) and must never block:
//     storage and file I/O go to the blocking pool (runtime::offload) and come back to that executor
//     before calling readBody()/respond(). Exactly one respond() per exchange; an exchange destroyed
//     without a response gets 500 (and a log line), so a lost callback cannot hang a client.
//   - Request bodies: by default buffered into Request::body, up to RouteOptions::maxBody (413 before
//     the handler runs if Content-Length says more). With streamBody the handler is called after the
//     header and pulls the body with readBody() in chunks of at most kBodyChunk bytes: memory does not
//     grow with the body, and the next chunk is only read from the socket when asked for
//     (backpressure).
//   - Response bodies: Response::body (in memory), or streamed: bodyLength bytes pulled from
//     Response::source chunk by chunk (for files: the source reads on the blocking pool).
//   - Upgrade routes (WebSocket) get the connection itself once a GET with "Upgrade: websocket" arrives
//     on that path: the request is handed over unanswered, with the stream (TCP or TLS) and the timers
//     off. The handler owns the stream from then on (see upgrade.h).
//
// Limits (all in [http], conf/parley.toml): request header size and time to receive it (slowloris),
// idle keep-alive time, body progress timeout, buffered body size, requests per connection.
//
// Threads: routes are registered at module start (before listeners open) and removed at module stop
// (after they closed); lookups take a shared lock. Each connection lives on one network thread.
// Shutdown: stop() closes the listeners, /health answers 503 from the moment shutdown starts
// (setDraining), idle keep-alive connections are closed, requests in flight get a short grace period.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/runtime/executor.h"

namespace parley::core {
struct Config;
}
namespace parley::metrics {
class Registry;
}
namespace parley::net {
class TlsContexts;
}
namespace parley::runtime {
class IoPool;
}

namespace parley::http {

struct WebSocketUpgrade;  // server/http/upgrade.h (Beast types)

inline constexpr std::size_t kBodyChunk = 64 * 1024;

struct Header {
  std::string name;  // lower case in requests
  std::string value;
};

struct Request {
  std::string method;  // "GET", "PUT"… (as sent; HTTP methods are case-sensitive)
  std::string target;  // the raw request-target
  std::string path;    // percent-decoded path without the query ("/upload/abc/x.jpg")
  std::string query;   // raw query string after '?', "" if none
  std::vector<Header> headers;
  std::optional<std::uint64_t> contentLength;  // when the client sent one
  std::string body;      // buffered routes only
  std::string peerIp;    // the TCP peer
  std::string remoteIp;  // the client: peerIp, or the X-Forwarded-For client when peerIp is a trusted proxy
  bool secure = false;   // TLS on this hop, or X-Forwarded-Proto: https from a trusted proxy
  bool keepAlive = true;

  // Value of a header (name in lower case), "" when absent.
  std::string_view header(std::string_view lowerName) const;
  // Percent-decoded value of a query parameter ('+' is not a space here), nullopt when absent.
  std::optional<std::string> queryParam(std::string_view name) const;
};

// Pulls a response body: called with the most bytes wanted; must call `done` exactly once, on the
// exchange's executor, with the next bytes (at most `max`, at least 1) or std::nullopt on error (the
// connection is then closed: the status line has already gone out).
using BodySource =
    std::function<void(std::size_t max, std::function<void(std::optional<std::string> chunk)> done)>;

struct Response {
  int status = 200;
  std::vector<Header> headers;  // Content-Length is set by the server
  std::string body;
  // Streamed body: when `source` is set, exactly `bodyLength` bytes are pulled from it (body is unused).
  std::uint64_t bodyLength = 0;
  BodySource source;
  // Answer to HEAD: headers only, Content-Length as the GET would have had (body.size() or bodyLength).
  bool headOnly = false;

  Response& header(std::string name, std::string value) {
    headers.push_back({std::move(name), std::move(value)});
    return *this;
  }
  static Response text(int status, std::string body, std::string contentType = "text/plain; charset=utf-8");
};

// One request/response on a connection. Use only on executor().
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual const Request& request() const = 0;
  virtual runtime::Executor executor() const = 0;
  // Streamed bodies (RouteOptions::streamBody): delivers the next chunk (at most kBodyChunk bytes);
  // `last` is true on the final call (its chunk may be empty). ok=false: the body could not be read
  // (client gone, timeout, malformed); the connection will be closed, respond() is then a no-op.
  // One call at a time; call again from the callback (or later) for the next chunk.
  virtual void readBody(std::function<void(bool ok, std::string_view chunk, bool last)> cb) = 0;
  virtual void respond(Response response) = 0;
  // Bytes of the body received so far (streamed bodies).
  virtual std::uint64_t bodyReceived() const = 0;
};
using ExchangePtr = std::shared_ptr<Exchange>;
using Handler = std::function<void(ExchangePtr)>;
using UpgradeHandler = std::function<void(WebSocketUpgrade&&)>;

struct RouteOptions {
  bool prefix = false;       // match the path as a prefix
  bool streamBody = false;   // the handler reads the body with Exchange::readBody()
  std::size_t maxBody = 0;   // buffered routes: largest body accepted (0: [http] max_body_size)
  bool cors = true;          // answer CORS preflights and add CORS headers for allowed origins
};

// Keeps a route registered; release it to remove the route (ModuleContext::keep() does that at stop).
using RouteHandle = std::shared_ptr<void>;

class HttpServer {
 public:
  HttpServer(const core::Config& config, runtime::IoPool& io, net::TlsContexts& tls, metrics::Registry& metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // `methods` e.g. {"GET", "HEAD"}; throws std::invalid_argument if the same method+path is taken.
  RouteHandle route(std::vector<std::string> methods, std::string path, RouteOptions options, Handler handler);
  // GET with Upgrade: websocket on exactly `path` hands the connection to `handler` (upgrade.h).
  RouteHandle routeUpgrade(std::string path, UpgradeHandler handler);

  // Opens the [[http.listeners]] (after the modules registered their routes). Throws on bind failure.
  void start();
  // Shutdown, step 1: /health says 503, new requests on kept-alive connections get "Connection: close".
  void setDraining();
  bool draining() const;
  // Shutdown, step 2: closes the listeners and every idle connection; requests in flight finish (up to
  // the body timeout). Blocks at most `grace` for them.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

  struct Bound {
    std::string address;
    std::uint16_t port;
    bool tls;
  };
  const std::vector<Bound>& listeners() const;
  // The base URL clients use ([http] public_url, or https://<first host>:<first TLS port>), no '/' at end.
  std::string publicUrl() const;
  // The [http] metrics access rule: the client is in metrics_allow, or sent the bearer metrics_token.
  bool metricsAllowed(const Request& request) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Helpers for handlers.
std::string percentDecode(std::string_view s, bool* ok = nullptr);
std::string percentEncode(std::string_view s);  // RFC 3986 unreserved characters kept
// Splits req.target into the percent-decoded path and the raw query. False when the target is not a
// usable origin-form path (a bad escape, not starting with '/', a NUL): the server answers 400.
bool parseTarget(Request& req);
std::string_view statusText(int status);

}  // namespace parley::http
