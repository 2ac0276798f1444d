// The Beast side of the HTTP server (http_server.h has the design). One Conn per connection, pinned to
// the network thread its socket was accepted onto; every handler of a connection runs there, so a
// connection's state needs no locks. One request at a time per connection (HTTP/1.1 without
// pipelining of responses: a pipelined request waits in the read buffer until the response is out).
#include "server/http/http_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/runtime/asio.h"
// clang-format off
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
// clang-format on

#include "server/core/config.h"
#include "server/http/upgrade.h"
#include "server/log/log.h"
#include "server/metrics/metrics.h"
#include "server/net/listener.h"
#include "server/net/tls_context.h"
#include "server/runtime/io_pool.h"

namespace parley::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------------
// Small helpers

namespace {

char lowerChar(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lowerChar(c);
  return out;
}
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lowerChar(a[i]) != lowerChar(b[i])) return false;
  return true;
}
// True if the comma-separated header value has `token` (case-insensitive).
bool hasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    auto comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}
template <class BoostStringView>
std::string_view sv(BoostStringView s) {
  return std::string_view(s.data(), s.size());
}
std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

// An address block for access rules; IPv4 is held as IPv4-mapped IPv6.
struct Cidr {
  asio::ip::address_v6::bytes_type bytes{};
  int bits = 128;
};
std::optional<asio::ip::address_v6::bytes_type> toV6(std::string_view text) {
  boost::system::error_code ec;
  auto a = asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  if (a.is_v4()) return asio::ip::make_address_v6(asio::ip::v4_mapped, a.to_v4()).to_bytes();
  return a.to_v6().to_bytes();
}
std::optional<Cidr> parseCidr(std::string_view text) {
  Cidr c;
  std::string_view addr = text;
  int bits = -1;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    bits = std::atoi(std::string(text.substr(slash + 1)).c_str());
  }
  auto b = toV6(addr);
  if (!b) return std::nullopt;
  c.bytes = *b;
  const bool v4 = addr.find(':') == std::string_view::npos;
  if (bits < 0) bits = v4 ? 32 : 128;
  c.bits = v4 ? bits + 96 : bits;
  return c;
}
bool inCidr(const asio::ip::address_v6::bytes_type& a, const Cidr& c) {
  int bits = c.bits;
  for (std::size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const unsigned mask = bits >= 8 ? 0xffu : (0xffu << (8 - bits)) & 0xffu;
    if ((a[i] & mask) != (c.bytes[i] & mask)) return false;
  }
  return true;
}

struct RouteEntry {
  std::uint64_t id;
  std::vector<std::string> methods;
  std::string path;
  RouteOptions options;
  Handler handler;
};
struct UpgradeEntry {
  std::uint64_t id;
  std::string path;
  UpgradeHandler handler;
};

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Public helpers

std::string_view statusText(int status) {
  auto r = bhttp::obsolete_reason(static_cast<bhttp::status>(status));
  return std::string_view(r.data(), r.size());
}

// ---------------------------------------------------------------------------------------------------
// Server state

class ConnBase {
 public:
  virtual ~ConnBase() = default;
  virtual void closeIfIdle() = 0;  // on the connection's executor
  virtual void forceClose() = 0;   // on the connection's executor
};

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(const core::Config& c, runtime::IoPool& i, net::TlsContexts& t, metrics::Registry& m)
      : config(c), cfg(c.http), io(i), tls(t), metrics(m) {}

  const core::Config& config;
  const core::HttpConfig& cfg;
  runtime::IoPool& io;
  net::TlsContexts& tls;
  metrics::Registry& metrics;
  std::unique_ptr<asio::ssl::context> sslContext;
  std::vector<Cidr> metricsAllow;
  std::vector<asio::ip::address_v6::bytes_type> trustedProxies;

  mutable std::shared_mutex routesMu;
  std::vector<RouteEntry> routes;
  std::vector<UpgradeEntry> upgrades;
  std::uint64_t nextRouteId = 1;

  std::vector<std::unique_ptr<net::Listener>> listeners;
  std::vector<Bound> bound;
  std::vector<RouteHandle> ownRoutes;  // /health, /metrics
  std::atomic<bool> draining{false};
  std::atomic<bool> stopping{false};

  std::mutex connsMu;
  std::unordered_map<std::uint64_t, std::pair<runtime::Executor, std::weak_ptr<ConnBase>>> conns;
  std::atomic<std::uint64_t> nextConnId{1};
  // Open HTTP connections per client address (trusted proxies are not counted), and whose each is.
  std::unordered_map<std::string, int> perIp;
  std::unordered_map<std::uint64_t, std::string> ipOfConn;

  metrics::Gauge* connectionsGauge = nullptr;
  metrics::Histogram* durationHist = nullptr;
  metrics::Counter* bytesIn = nullptr;
  metrics::Counter* bytesOut = nullptr;
  metrics::Counter* refusedPerIp = nullptr;
  metrics::Counter* byClass[6] = {};

  bool isTrustedProxy(std::string_view ip) const {
    auto b = toV6(ip);
    if (!b) return false;
    return std::find(trustedProxies.begin(), trustedProxies.end(), *b) != trustedProxies.end();
  }
  bool originAllowed(std::string_view origin) const {
    for (const auto& o : cfg.corsOrigins)
      if (o == "*" || o == origin) return true;
    return false;
  }
  void countResponse(int status) {
    int cls = status / 100;
    if (cls >= 1 && cls <= 5 && byClass[cls]) byClass[cls]->inc();
  }

  // Finds the route for a path. `allow` gets the methods of a path route that does not take `method`.
  const RouteEntry* find(std::string_view path, std::string_view method, std::string* allow) const {
    const RouteEntry* best = nullptr;
    const RouteEntry* bestAnyMethod = nullptr;
    for (const auto& r : routes) {
      const bool match = r.options.prefix ? path.substr(0, r.path.size()) == r.path : path == r.path;
      if (!match) continue;
      const bool methodOk = std::find(r.methods.begin(), r.methods.end(), method) != r.methods.end() ||
                            method == "OPTIONS";
      if (methodOk && (!best || r.path.size() > best->path.size())) best = &r;
      if (!bestAnyMethod || r.path.size() > bestAnyMethod->path.size()) bestAnyMethod = &r;
    }
    if (!best && bestAnyMethod && allow) {
      for (const auto& m : bestAnyMethod->methods) *allow += (allow->empty() ? "" : ", ") + m;
    }
    return best;
  }

  void addConn(std::uint64_t id, runtime::Executor exec, std::weak_ptr<ConnBase> c) {
    std::lock_guard lock(connsMu);
    conns[id] = {exec, std::move(c)};
    connectionsGauge->inc();
  }
  void removeConn(std::uint64_t id) {
    std::lock_guard lock(connsMu);
    if (conns.erase(id)) connectionsGauge->dec();
    if (auto it = ipOfConn.find(id); it != ipOfConn.end()) {
      if (auto n = perIp.find(it->second); n != perIp.end() && --n->second <= 0) perIp.erase(n);
      ipOfConn.erase(it);
    }
  }
  // Counts a new connection against its address; false when the address already has the maximum.
  bool reserve(std::uint64_t id, const std::string& ip) {
    if (cfg.maxConnectionsPerIp == 0 || isTrustedProxy(ip)) return true;
    std::lock_guard lock(connsMu);
    int& n = perIp[ip];
    if (n >= cfg.maxConnectionsPerIp) return false;
    ++n;
    ipOfConn[id] = ip;
    return true;
  }
  std::size_t connCount() {
    std::lock_guard lock(connsMu);
    return conns.size();
  }

  void accept(runtime::Executor exec, int fd, std::string ip, bool tlsListener, std::uint16_t port);
};

// ---------------------------------------------------------------------------------------------------
// One connection

namespace {

template <class Stream>
class Conn;

template <class Stream>
class ExchangeImpl final : public Exchange {
 public:
  ExchangeImpl(std::shared_ptr<Conn<Stream>> conn, Request req) : conn_(std::move(conn)), req_(std::move(req)) {}
  ~ExchangeImpl() override;
  const Request& request() const override { return req_; }
  runtime::Executor executor() const override;
  void readBody(std::function<void(bool, std::string_view, bool)> cb) override;
  void respond(Response response) override;
  std::uint64_t bodyReceived() const override;
  bool responded = false;

 private:
  std::shared_ptr<Conn<Stream>> conn_;
  Request req_;
};

template <class Stream>
class Conn final : public ConnBase, public std::enable_shared_from_this<Conn<Stream>> {
 public:
  using Self = Conn<Stream>;
  Conn(std::shared_ptr<HttpServer::Impl> server, runtime::Executor exec, Stream stream, std::string peerIp,
       std::uint16_t peerPort, std::uint64_t id)
      : server_(std::move(server)),
        cfg_(server_->cfg),
        exec_(exec),
        stream_(std::move(stream)),
        peerIp_(std::move(peerIp)),
        peerPort_(peerPort),
        id_(id),
        buffer_(cfg_.maxHeaderSize + kBodyChunk) {}

  ~Conn() override { server_->removeConn(id_); }

  runtime::Executor executor() const { return exec_; }
  std::uint64_t bodyReceived() const { return bodyReceived_; }

  void start() {
    server_->addConn(id_, exec_, this->weak_from_this());
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      lowest().expires_after(std::chrono::seconds(cfg_.headerTimeout));
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) {
                                  log::debug("http.tls.failed", "peer={} error=\"{}\"", self->peerIp_, ec.message());
                                  self->closeNow();
                                  return;
                                }
                                self->waitForRequest();
                              });
    } else {
      waitForRequest();
    }
  }

  void closeIfIdle() override {
    idleCloseRequested_ = true;
    if (state_ == State::Idle) closeNow();
  }
  void forceClose() override { closeNow(); }

  // --- request body (ExchangeImpl::readBody) ---
  void readBody(std::function<void(bool, std::string_view, bool)> cb) {
    if (closed_ || state_ != State::Handling) {
      cb(false, {}, false);
      return;
    }
    if (parser_->is_done()) {
      cb(true, {}, true);
      return;
    }
    if (expectContinue_) {
      // RFC 9110 §10.1.1: the client waits for 100 before sending the body; say it once we want it.
      expectContinue_ = false;
      auto msg = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
      lowest().expires_after(std::chrono::seconds(cfg_.bodyTimeout));
      asio::async_write(stream_, asio::buffer(*msg),
                        [self = this->shared_from_this(), msg, cb = std::move(cb)](beast::error_code ec,
                                                                                   std::size_t) mutable {
                          if (ec) {
                            self->bodyFailed_ = true;
                            cb(false, {}, false);
                            self->closeNow();
                            return;
                          }
                          self->readBody(std::move(cb));
                        });
      return;
    }
    chunk_.resize(kBodyChunk);
    auto& body = parser_->get().body();
    body.data = chunk_.data();
    body.size = chunk_.size();
    lowest().expires_after(std::chrono::seconds(cfg_.bodyTimeout));
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this(), cb = std::move(cb)](beast::error_code ec, std::size_t) {
                        if (ec == bhttp::error::need_buffer) ec = {};
                        if (ec) {
                          log::debug("http.body.failed", "peer={} error=\"{}\"", self->peerIp_, ec.message());
                          self->bodyFailed_ = true;
                          cb(false, {}, false);
                          self->closeNow();
                          return;
                        }
                        const std::size_t n = kBodyChunk - self->parser_->get().body().size;
                        self->bodyReceived_ += n;
                        self->server_->bytesIn->inc(n);
                        cb(true, std::string_view(self->chunk_.data(), n), self->parser_->is_done());
                      });
  }

  // --- response (ExchangeImpl::respond) ---
  void respond(Response r) {
    if (closed_ || state_ != State::Handling) return;
    state_ = State::Writing;
    status_ = r.status;
    server_->countResponse(r.status);
    // A body the handler did not read keeps the connection from carrying another request.
    if (!parser_->is_done()) keepAlive_ = false;
    if (server_->draining.load() || idleCloseRequested_ || requests_ >= cfg_.maxRequestsPerConnection)
      keepAlive_ = false;

    auto head = std::make_shared<bhttp::response<bhttp::empty_body>>();
    auto& h = *head;
    h.version(11);
    h.result(static_cast<unsigned>(r.status));
    for (auto& hd : r.headers) h.insert(hd.name, hd.value);
    if (h.find("X-Content-Type-Options") == h.end()) h.set("X-Content-Type-Options", "nosniff");
    addCors(h);
    h.keep_alive(keepAlive_);
    const std::uint64_t length = r.source ? r.bodyLength : r.body.size();
    h.set(bhttp::field::content_length, std::to_string(length));
    bytesOut_ = 0;

    lowest().expires_after(std::chrono::seconds(cfg_.bodyTimeout));
    if (r.headOnly || length == 0 || req_.method == "HEAD") {
      auto sr = std::make_shared<bhttp::response_serializer<bhttp::empty_body>>(h);
      bhttp::async_write(stream_, *sr, [self = this->shared_from_this(), head, sr](beast::error_code ec, std::size_t) {
        self->finishResponse(ec);
      });
      return;
    }
    if (!r.source) {
      auto body = std::make_shared<std::string>(std::move(r.body));
      auto sr = std::make_shared<bhttp::response_serializer<bhttp::empty_body>>(h);
      bhttp::async_write_header(
          stream_, *sr, [self = this->shared_from_this(), head, sr, body](beast::error_code ec, std::size_t) {
            if (ec) return self->finishResponse(ec);
            asio::async_write(self->stream_, asio::buffer(*body),
                              [self, body](beast::error_code ec2, std::size_t n) {
                                self->bytesOut_ += n;
                                self->server_->bytesOut->inc(n);
                                self->finishResponse(ec2);
                              });
          });
      return;
    }
    // Streamed: the header, then the source's chunks as they come.
    auto sr = std::make_shared<bhttp::response_serializer<bhttp::empty_body>>(h);
    auto source = std::make_shared<BodySource>(std::move(r.source));
    bhttp::async_write_header(stream_, *sr,
                              [self = this->shared_from_this(), head, sr, source, length](beast::error_code ec,
                                                                                          std::size_t) {
                                if (ec) return self->finishResponse(ec);
                                self->pump(source, length);
                              });
  }

  void exchangeDropped() {
    if (state_ == State::Handling && !closed_) {
      log::warn("http.handler.no_response", "peer={} path={}", peerIp_, req_.path);
      respond(Response::text(500, "no response\n"));
    }
  }

 private:
  enum class State { Idle, ReadingHeader, Handling, Writing, Closed };

  auto& lowest() { return beast::get_lowest_layer(stream_); }

  // Waits for the first byte of the next request (idle timeout), then gives the whole header the
  // header timeout: a client that trickles a header gets no more than header_timeout per request.
  void waitForRequest() {
    if (closed_) return;
    if (idleCloseRequested_ || server_->stopping.load()) return closeNow();
    state_ = State::Idle;
    if (buffer_.size() > 0) return readHeader();
    lowest().expires_after(std::chrono::seconds(requests_ == 0 ? cfg_.headerTimeout : cfg_.idleTimeout));
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (ec) return self->closeNow();
                              self->buffer_.commit(n);
                              self->readHeader();
                            });
  }

  void readHeader() {
    state_ = State::ReadingHeader;
    started_ = Clock::now();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(cfg_.maxHeaderSize));
    // Routes apply their own limits. Not boost::none: Beast 1.74 compares the Content-Length with the
    // optional limit as optionals, and any length is "greater" than none (every body would be refused).
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    lowest().expires_after(std::chrono::seconds(cfg_.headerTimeout));
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                               self->onHeader(ec);
                             });
  }

  void onHeader(beast::error_code ec) {
    if (ec) {
      if (ec == bhttp::error::header_limit) {
        simpleError(431, "request header too large\n");
      } else if (ec != beast::error::timeout && ec != asio::error::eof && ec != asio::error::connection_reset &&
                 ec != asio::error::operation_aborted && ec != asio::ssl::error::stream_truncated) {
        log::debug("http.request.bad", "peer={} error=\"{}\"", peerIp_, ec.message());
        simpleError(400, "bad request\n");
      } else {
        closeNow();
      }
      return;
    }
    ++requests_;
    auto& msg = parser_->get();
    Request req;
    req.method = std::string(sv(msg.method_string()));
    req.target = std::string(sv(msg.target()));
    const bool ok = parseTarget(req);
    for (const auto& f : msg) req.headers.push_back({lower(sv(f.name_string())), std::string(sv(f.value()))});
    if (auto cl = parser_->content_length()) req.contentLength = *cl;
    req.keepAlive = msg.keep_alive();
    req.peerIp = peerIp_;
    req.remoteIp = peerIp_;
    req.secure = std::is_same_v<Stream, TlsStream>;
    const bool trusted = server_->isTrustedProxy(peerIp_);
    if (trusted) {
      // The proxy appends the address it saw: the last entry is the one we can believe.
      std::string_view xff = req.header("x-forwarded-for");
      if (!xff.empty()) {
        auto comma = xff.rfind(',');
        std::string last = trim(comma == std::string_view::npos ? xff : xff.substr(comma + 1));
        if (toV6(last)) req.remoteIp = last;
      }
      if (iequals(trim(req.header("x-forwarded-proto")), "https")) req.secure = true;
    }
    keepAlive_ = req.keepAlive;
    expectContinue_ = iequals(trim(req.header("expect")), "100-continue");
    bodyReceived_ = 0;
    req_ = req;  // a copy for the access log and CORS (small)
    state_ = State::Handling;

    if (!ok) {
      keepAlive_ = false;
      return respond(Response::text(400, "bad request target\n"));
    }

    // WebSocket upgrade (upgrade.h).
    if (req.method == "GET" && hasToken(req.header("connection"), "upgrade") &&
        hasToken(req.header("upgrade"), "websocket")) {
      UpgradeHandler handler;
      {
        std::shared_lock lock(server_->routesMu);
        for (const auto& u : server_->upgrades)
          if (u.path == req.path) handler = u.handler;
      }
      if (handler) return handOver(std::move(handler), req, trusted);
    }

    std::string allow;
    Handler handler;
    RouteOptions options;
    std::vector<std::string> methods;
    {
      std::shared_lock lock(server_->routesMu);
      if (const RouteEntry* r = server_->find(req.path, req.method, &allow)) {
        handler = r->handler;
        options = r->options;
        methods = r->methods;
        routePath_ = r->path;
        if (req.method == "OPTIONS")  // a preflight lists the methods of every route on this path
          for (const auto& other : server_->routes)
            if (&other != r && other.path == r->path && other.options.prefix == r->options.prefix)
              for (const auto& m : other.methods)
                if (std::find(methods.begin(), methods.end(), m) == methods.end()) methods.push_back(m);
      } else {
        routePath_ = "-";
      }
    }
    corsEnabled_ = handler ? options.cors : false;
    if (!handler) {
      if (!allow.empty()) {
        Response resp = Response::text(405, "method not allowed\n");
        resp.header("Allow", allow);
        return respond(std::move(resp));
      }
      return respond(Response::text(404, "not found\n"));
    }
    if (req.method == "OPTIONS") return preflight(methods);
    if (options.streamBody) {
      auto ex = std::make_shared<ExchangeImpl<Stream>>(this->shared_from_this(), std::move(req));
      return handler(ex);
    }
    // Buffered body.
    const std::size_t maxBody = options.maxBody ? options.maxBody : cfg_.maxBodySize;
    if (req.contentLength && *req.contentLength > maxBody) {
      keepAlive_ = false;
      return respond(Response::text(413, "request body too large\n"));
    }
    auto pending = std::make_shared<Request>(std::move(req));
    readBuffered(pending, maxBody, std::move(handler));
  }

  void readBuffered(std::shared_ptr<Request> req, std::size_t maxBody, Handler handler) {
    readBody([self = this->shared_from_this(), req, maxBody, handler](bool ok, std::string_view chunk, bool last) {
      if (!ok) return;
      if (req->body.size() + chunk.size() > maxBody) {
        self->keepAlive_ = false;
        return self->respond(Response::text(413, "request body too large\n"));
      }
      req->body.append(chunk);
      if (!last) return self->readBuffered(req, maxBody, handler);
      auto ex = std::make_shared<ExchangeImpl<Stream>>(self, std::move(*req));
      handler(ex);
    });
  }

  void preflight(const std::vector<std::string>& methods) {
    Response r;
    r.status = 204;
    std::string list;
    for (const auto& m : methods) list += (list.empty() ? "" : ", ") + m;
    r.header("Allow", list + ", OPTIONS");
    std::string_view origin = req_.header("origin");
    if (!origin.empty() && server_->originAllowed(origin) && !req_.header("access-control-request-method").empty()) {
      r.header("Access-Control-Allow-Methods", list);
      std::string_view wanted = req_.header("access-control-request-headers");
      if (!wanted.empty()) r.header("Access-Control-Allow-Headers", std::string(wanted));
      r.header("Access-Control-Max-Age", "86400");
    }
    respond(std::move(r));
  }

  template <class Header>
  void addCors(Header& h) {
    if (!corsEnabled_) return;
    std::string_view origin = req_.header("origin");
    if (origin.empty() || !server_->originAllowed(origin)) return;
    h.set(bhttp::field::access_control_allow_origin, std::string(origin));
    h.set(bhttp::field::vary, "Origin");
    h.set(bhttp::field::access_control_expose_headers,
          "Content-Length, Content-Range, Content-Type, Content-Disposition, Accept-Ranges");
  }

  void pump(std::shared_ptr<BodySource> source, std::uint64_t left) {
    if (closed_) return;
    if (left == 0) return finishResponse({});
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, kBodyChunk));
    (*source)(want, [self = this->shared_from_this(), source, left, want](std::optional<std::string> chunk) {
      if (self->closed_) return;
      if (!chunk || chunk->empty() || chunk->size() > want) {
        log::warn("http.response.source_failed", "peer={} path={}", self->peerIp_, self->req_.path);
        self->keepAlive_ = false;
        return self->finishResponse(asio::error::broken_pipe);
      }
      auto data = std::make_shared<std::string>(std::move(*chunk));
      self->lowest().expires_after(std::chrono::seconds(self->cfg_.bodyTimeout));
      asio::async_write(self->stream_, asio::buffer(*data),
                        [self, source, left, data](beast::error_code ec, std::size_t n) {
                          if (ec) return self->finishResponse(ec);
                          self->bytesOut_ += n;
                          self->server_->bytesOut->inc(n);
                          self->pump(source, left - n);
                        });
    });
  }

  void finishResponse(beast::error_code ec) {
    const double secs = std::chrono::duration<double>(Clock::now() - started_).count();
    server_->durationHist->observe(secs);
    if (cfg_.accessLog) {
      log::info("http.access", "peer={} method={} route={} status={} in={} out={} ms={:.1f}{}", req_.remoteIp,
                req_.method, routePath_, status_, bodyReceived_, bytesOut_, secs * 1000,
                ec ? " error=write" : "");
      log::debug("http.access.target", "peer={} target={}", req_.remoteIp, req_.target);
    }
    if (ec || !keepAlive_) return closeGracefully();
    state_ = State::Idle;
    waitForRequest();
  }

  void simpleError(int status, std::string text) {
    state_ = State::Handling;
    keepAlive_ = false;
    routePath_ = "-";
    req_ = Request{};
    req_.remoteIp = peerIp_;
    req_.method = "-";
    started_ = Clock::now();
    respond(Response::text(status, std::move(text)));
  }

  void handOver(UpgradeHandler handler, const Request& req, bool trusted) {
    log::info("http.upgrade", "peer={} path={}", req.remoteIp, req.path);
    closed_ = true;  // stream_ is gone from here on
    state_ = State::Closed;
    server_->removeConn(id_);
    lowest().expires_never();
    auto released = parser_->release();
    const auto data = buffer_.data();
    std::string_view origin = req.header("origin");
    WebSocketUpgrade u{std::variant<PlainStream, TlsStream>(std::in_place_type<Stream>, std::move(stream_)),
                       bhttp::request<bhttp::string_body>(std::move(released.base())),
                       std::string(static_cast<const char*>(data.data()), data.size()),
                       exec_,
                       peerIp_,
                       peerPort_,
                       req.remoteIp,
                       std::is_same_v<Stream, TlsStream>,
                       req.secure,
                       trusted,
                       origin.empty() || server_->originAllowed(origin)};
    try {
      handler(std::move(u));
    } catch (const std::exception& e) {
      log::error("http.upgrade.failed", "peer={} error=\"{}\"", req.remoteIp, e.what());
    }
  }

  // After a response with Connection: close. A client still sending a body we did not want gets a
  // moment to read our response before the socket closes (closing with unread data would reset the
  // connection and could destroy the response in flight).
  void closeGracefully() {
    if (closed_) return;
    state_ = State::Closed;
    if (!parser_ || parser_->is_done() || bodyFailed_) return closeNow();
    drainLeft_ = 1 << 20;
    lowest().expires_after(std::chrono::seconds(2));
    drain();
  }
  void drain() {
    chunk_.resize(kBodyChunk);
    stream_.async_read_some(asio::buffer(chunk_), [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
      if (ec || n >= self->drainLeft_) return self->closeNow();
      self->drainLeft_ -= n;
      self->drain();
    });
  }

  void closeNow() {
    if (closed_) return;
    closed_ = true;
    state_ = State::Closed;
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close();
    server_->removeConn(id_);
  }

  std::shared_ptr<HttpServer::Impl> server_;
  const core::HttpConfig& cfg_;
  runtime::Executor exec_;
  Stream stream_;
  std::string peerIp_;
  std::uint16_t peerPort_;
  std::uint64_t id_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::buffer_body>> parser_;
  std::string chunk_;
  Request req_;
  std::string routePath_ = "-";
  State state_ = State::Idle;
  bool closed_ = false;
  bool keepAlive_ = true;
  bool expectContinue_ = false;
  bool corsEnabled_ = false;
  bool idleCloseRequested_ = false;
  bool bodyFailed_ = false;
  int requests_ = 0;
  int status_ = 0;
  std::uint64_t bodyReceived_ = 0;
  std::uint64_t bytesOut_ = 0;
  std::size_t drainLeft_ = 0;
  Clock::time_point started_ = Clock::now();
};

template <class Stream>
ExchangeImpl<Stream>::~ExchangeImpl() {
  if (!responded) {
    // Possibly not on the connection's thread (the last reference may drop anywhere): go there.
    auto c = conn_;
    c->executor().post([c] { c->exchangeDropped(); });
  }
}
template <class Stream>
runtime::Executor ExchangeImpl<Stream>::executor() const {
  return conn_->executor();
}
template <class Stream>
void ExchangeImpl<Stream>::readBody(std::function<void(bool, std::string_view, bool)> cb) {
  conn_->readBody(std::move(cb));
}
template <class Stream>
void ExchangeImpl<Stream>::respond(Response response) {
  if (responded) return;
  responded = true;
  conn_->respond(std::move(response));
}
template <class Stream>
std::uint64_t ExchangeImpl<Stream>::bodyReceived() const {
  return conn_->bodyReceived();
}

}  // namespace

void HttpServer::Impl::accept(runtime::Executor exec, int fd, std::string ip, bool tlsListener, std::uint16_t) {
  if (stopping.load()) {
    ::close(fd);
    return;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  tcp::socket sock(exec.context());
  boost::system::error_code ec;
  sock.assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  sock.set_option(tcp::no_delay(true), ec);
  auto rep = sock.remote_endpoint(ec);
  const std::uint16_t peerPort = ec ? 0 : rep.port();
  const std::uint64_t id = nextConnId.fetch_add(1);
  if (!reserve(id, ip)) {
    // Closed before any TLS or HTTP work: the cheapest answer to one address opening too many.
    log::warn("http.refused", "peer={} reason=connections_per_ip limit={}", ip, cfg.maxConnectionsPerIp);
    refusedPerIp->inc();
    sock.close(ec);
    return;
  }
  if (tlsListener) {
    TlsStream stream(beast::tcp_stream(std::move(sock)), *sslContext);
    auto c = std::make_shared<Conn<TlsStream>>(shared_from_this(), exec, std::move(stream), std::move(ip), peerPort, id);
    c->start();
  } else {
    auto c = std::make_shared<Conn<PlainStream>>(shared_from_this(), exec, PlainStream(std::move(sock)), std::move(ip),
                                                 peerPort, id);
    c->start();
  }
}

// ---------------------------------------------------------------------------------------------------
// HttpServer

HttpServer::HttpServer(const core::Config& config, runtime::IoPool& io, net::TlsContexts& tls,
                       metrics::Registry& metrics)
    : impl_(std::make_shared<Impl>(config, io, tls, metrics)) {
  auto& I = *impl_;
  for (const auto& c : config.http.metricsAllow) {
    auto cidr = parseCidr(c);
    if (!cidr) throw core::ConfigError(fmt::format("{}: http.metrics_allow: bad address \"{}\"", config.path, c));
    I.metricsAllow.push_back(*cidr);
  }
  for (const auto& p : config.http.trustedProxies) {
    auto b = toV6(p);
    if (!b) throw core::ConfigError(fmt::format("{}: http.trusted_proxies: bad address \"{}\"", config.path, p));
    I.trustedProxies.push_back(*b);
  }
  I.connectionsGauge = &metrics.gauge("parley_http_connections", "Open HTTP connections (not counting upgraded ones).");
  I.durationHist = &metrics.histogram("parley_http_request_duration_seconds",
                                      "HTTP requests from header to the last byte of the response.",
                                      metrics::latencyBuckets());
  I.bytesIn = &metrics.counter("parley_http_received_bytes_total", "HTTP request body bytes received.");
  I.bytesOut = &metrics.counter("parley_http_sent_bytes_total", "HTTP response body bytes sent.");
  I.refusedPerIp = &metrics.counter("parley_http_refused_connections_total",
                                    "HTTP connections closed at once: the address had max_connections_per_ip.");
  for (int cls = 1; cls <= 5; ++cls)
    I.byClass[cls] = &metrics.counter("parley_http_responses_total", "HTTP responses by status class.",
                                      {{"code", fmt::format("{}xx", cls)}});

  // For load balancers: 200 while serving, 503 from the moment shutdown starts.
  I.ownRoutes.push_back(route({"GET", "HEAD"}, "/health", {.cors = false}, [this](ExchangePtr ex) {
    const bool up = !impl_->draining.load();
    Response r = Response::text(up ? 200 : 503, up ? "ok\n" : "shutting down\n");
    r.header("Cache-Control", "no-store");
    r.headOnly = ex->request().method == "HEAD";
    ex->respond(std::move(r));
  }));
  // Prometheus text format (server/metrics); loopback/metrics_allow networks or the bearer token.
  I.ownRoutes.push_back(route({"GET", "HEAD"}, "/metrics", {.cors = false}, [this](ExchangePtr ex) {
    if (!metricsAllowed(ex->request())) {
      if (!impl_->cfg.metricsToken.empty()) {
        Response r = Response::text(401, "unauthorized\n");
        r.header("WWW-Authenticate", "Bearer realm=\"metrics\"");
        return ex->respond(std::move(r));
      }
      return ex->respond(Response::text(403, "forbidden\n"));
    }
    Response r = Response::text(200, impl_->metrics.renderPrometheus(), std::string(metrics::Registry::kContentType));
    r.header("Cache-Control", "no-store");
    r.headOnly = ex->request().method == "HEAD";
    ex->respond(std::move(r));
  }));
}

HttpServer::~HttpServer() {
  stop(std::chrono::milliseconds(0));
}

RouteHandle HttpServer::route(std::vector<std::string> methods, std::string path, RouteOptions options,
                              Handler handler) {
  if (path.empty() || path[0] != '/') throw std::invalid_argument("HTTP route path must start with '/': " + path);
  std::unique_lock lock(impl_->routesMu);
  for (const auto& r : impl_->routes)
    if (r.path == path && r.options.prefix == options.prefix)
      for (const auto& m : methods)
        if (std::find(r.methods.begin(), r.methods.end(), m) != r.methods.end())
          throw std::invalid_argument(fmt::format("HTTP route {} {} registered twice", m, path));
  const std::uint64_t id = impl_->nextRouteId++;
  impl_->routes.push_back({id, std::move(methods), std::move(path), options, std::move(handler)});
  std::weak_ptr<Impl> weak = impl_;
  return std::shared_ptr<void>(nullptr, [weak, id](void*) {
    if (auto impl = weak.lock()) {
      std::unique_lock l(impl->routesMu);
      std::erase_if(impl->routes, [id](const RouteEntry& r) { return r.id == id; });
    }
  });
}

RouteHandle HttpServer::routeUpgrade(std::string path, UpgradeHandler handler) {
  std::unique_lock lock(impl_->routesMu);
  for (const auto& u : impl_->upgrades)
    if (u.path == path) throw std::invalid_argument("HTTP upgrade route registered twice: " + path);
  const std::uint64_t id = impl_->nextRouteId++;
  impl_->upgrades.push_back({id, std::move(path), std::move(handler)});
  std::weak_ptr<Impl> weak = impl_;
  return std::shared_ptr<void>(nullptr, [weak, id](void*) {
    if (auto impl = weak.lock()) {
      std::unique_lock l(impl->routesMu);
      std::erase_if(impl->upgrades, [id](const UpgradeEntry& r) { return r.id == id; });
    }
  });
}

void HttpServer::start() {
  auto& I = *impl_;
  bool anyTls = false;
  for (const auto& l : I.cfg.listeners) anyTls |= l.tls;
  if (anyTls && !I.sslContext) {
    // The server's own TLS contexts (server/net): same certificates, SNI and protocol profile as c2s.
    SSL_CTX* ctx = I.tls.contextFor(I.config.hosts.front().domain);
    if (!ctx) throw std::runtime_error("no TLS context for the HTTP listener");
    SSL_CTX_up_ref(ctx);
    I.sslContext = std::make_unique<asio::ssl::context>(ctx);
  }
  for (const auto& l : I.cfg.listeners) {
    std::weak_ptr<Impl> weak = impl_;
    const bool tls = l.tls;
    auto listener = std::make_unique<net::Listener>(
        I.io, l.address, l.port, [weak, tls](runtime::Executor exec, int fd, std::string ip) {
          auto impl = weak.lock();
          if (!impl) {
            ::close(fd);
            return;
          }
          impl->accept(exec, fd, std::move(ip), tls, 0);
        });
    listener->start();
    log::info("listener.ready", "type={} address={} port={}", tls ? "https" : "http", l.address, listener->port());
    I.bound.push_back({l.address, listener->port(), tls});
    I.listeners.push_back(std::move(listener));
  }
}

void HttpServer::setDraining() {
  impl_->draining = true;
}

bool HttpServer::draining() const {
  return impl_->draining.load();
}

void HttpServer::stop(std::chrono::milliseconds grace) {
  auto& I = *impl_;
  if (I.stopping.exchange(true)) return;
  I.draining = true;
  for (auto& l : I.listeners) l->stop();
  auto each = [&](auto fn) {
    std::vector<std::pair<runtime::Executor, std::weak_ptr<ConnBase>>> all;
    {
      std::lock_guard lock(I.connsMu);
      for (auto& [id, c] : I.conns) all.push_back(c);
    }
    for (auto& [exec, weak] : all)
      exec.post([weak, fn] {
        if (auto c = weak.lock()) fn(*c);
      });
  };
  each([](ConnBase& c) { c.closeIfIdle(); });
  const auto deadline = Clock::now() + grace;
  while (I.connCount() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  each([](ConnBase& c) { c.forceClose(); });
}

const std::vector<HttpServer::Bound>& HttpServer::listeners() const {
  return impl_->bound;
}

std::string HttpServer::publicUrl() const {
  const auto& I = *impl_;
  if (!I.cfg.publicUrl.empty()) return I.cfg.publicUrl;
  for (const auto& b : I.bound)
    if (b.tls) return fmt::format("https://{}:{}", I.config.hosts.front().domain, b.port);
  for (const auto& b : I.bound) {
    std::string host = b.address.find(':') != std::string::npos ? "[" + b.address + "]" : b.address;
    return fmt::format("http://{}:{}", host, b.port);
  }
  return fmt::format("https://{}", I.config.hosts.front().domain);
}

bool HttpServer::metricsAllowed(const Request& request) const {
  const auto& I = *impl_;
  if (!I.cfg.metricsToken.empty()) {
    std::string_view auth = request.header("authorization");
    const std::string expected = "Bearer " + I.cfg.metricsToken;
    if (auth.size() == expected.size() && CRYPTO_memcmp(auth.data(), expected.data(), auth.size()) == 0) return true;
  }
  auto b = toV6(request.remoteIp);
  if (!b) return false;
  for (const auto& c : I.metricsAllow)
    if (inCidr(*b, c)) return true;
  return false;
}

}  // namespace parley::http
