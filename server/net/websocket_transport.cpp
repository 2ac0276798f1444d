#include "server/net/websocket_transport.h"

#include <utility>
// clang-format off
#include "server/runtime/asio.h"
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
// clang-format on

#include <cctype>
#include <vector>

#include "server/http/upgrade.h"
#include "server/log/log.h"
#include "server/net/tls_context.h"

namespace parley::net {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;

namespace {

std::string_view sv(beast::string_view s) {
  return std::string_view(s.data(), s.size());
}

// RFC 6455 §4.2.1 / RFC 7395 §3.1: Sec-WebSocket-Protocol is a comma-separated list of tokens.
bool offersXmpp(std::string_view header) {
  while (!header.empty()) {
    auto comma = header.find(',');
    std::string_view token = header.substr(0, comma);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (token == "xmpp") return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

bool isLoopback(const std::string& ip) {
  boost::system::error_code ec;
  auto a = asio::ip::make_address(ip, ec);
  return !ec && a.is_loopback();
}

std::string hostWithoutPort(std::string_view host) {
  if (!host.empty() && host.front() == '[') {  // [v6]:port
    auto end = host.find(']');
    return std::string(end == std::string_view::npos ? host : host.substr(1, end - 1));
  }
  auto colon = host.rfind(':');
  if (colon != std::string_view::npos && host.find(':') == colon) host = host.substr(0, colon);
  std::string out(host);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

template <class Next>
SSL* sslOf(websocket::stream<Next>&) {
  return nullptr;
}
template <>
SSL* sslOf(websocket::stream<http::TlsStream>& ws) {
  return ws.next_layer().native_handle();
}

template <class Next>
class WebSocketTransport final : public Transport {
 public:
  WebSocketTransport(websocket::stream<Next> ws, runtime::Executor executor, std::string remote, bool secure,
                     std::string host, const WebSocketSettings& settings)
      : ws_(std::move(ws)),
        executor_(executor),
        remoteAddress_(std::move(remote)),
        host_(std::move(host)),
        limits_(settings.limits),
        maxMessageBytes_(settings.maxMessageBytes),
        secure_(secure) {}

  ~WebSocketTransport() override = default;

  void setOwner(std::weak_ptr<void> owner, ConnectionHandler* handler) override {
    owner_ = std::move(owner);
    handler_ = handler;
  }
  const std::string& remoteAddress() const override { return remoteAddress_; }
  runtime::Executor executor() const override { return executor_; }
  std::string_view kind() const override { return "websocket"; }
  Framing framing() const override { return Framing::WebSocket; }

  void startReading() override {
    readStarted_ = true;
    armRead();
  }
  void pauseReading() override { paused_ = true; }
  void resumeReading() override {
    if (!paused_) return;
    paused_ = false;
    armRead();
  }
  bool readingPaused() const override { return paused_; }

  using Transport::send;
  void send(Bytes bytes) override {
    if (closed_ || overflowed_ || !bytes || bytes->empty()) return;
    bytesAccepted_ += bytes->size();
    queuedBytes_ += bytes->size();
    queue_.push_back(std::move(bytes));
    if (queuedBytes_ > limits_.maxBytes) {
      // As net::Connection: dropped from a posted task, never under the caller of send().
      overflowed_ = true;
      log::warn("net.output_overflow", "peer={} queued={} limit={} transport=websocket", remoteAddress_,
                queuedBytes_, limits_.maxBytes);
      executor_.post([this, self = keepAlive()] {
        if (!self || closed_) return;
        if (handler_) handler_->onOutputOverflow();
        abort("output queue overflow (peer not reading)");
      });
      return;
    }
    if (!backpressured_ && queuedBytes_ > limits_.pauseBytes) {
      backpressured_ = true;
      if (handler_) handler_->onBackpressure(true);
    }
    writeNext();
  }
  std::size_t queuedBytes() const override { return queuedBytes_; }
  std::uint64_t bytesAccepted() const override { return bytesAccepted_; }
  std::uint64_t bytesWritten() const override { return bytesWritten_; }

  bool secure() const override { return secure_; }
  std::string tlsServerEndPoint() const override {
    SSL* ssl = sslOf(const_cast<websocket::stream<Next>&>(ws_));
    return ssl ? net::tlsServerEndPoint(ssl) : std::string();
  }
  std::string tlsExporter() const override {
    SSL* ssl = sslOf(const_cast<websocket::stream<Next>&>(ws_));
    return ssl ? net::tlsExporter(ssl) : std::string();
  }
  bool channelBindingAvailable() const override {
    SSL* ssl = sslOf(const_cast<websocket::stream<Next>&>(ws_));
    return ssl && (net::tlsServerEndPointAvailable(ssl) || net::tlsExporterAvailable(ssl));
  }
  std::string serverName() const override { return host_; }

  void close(std::chrono::milliseconds timeout) override {
    if (closed_ || closing_) return;
    closing_ = true;
    auto self = owner_.lock();
    closeTimer_ = std::make_unique<asio::steady_timer>(executor_.context(), timeout);
    closeTimer_->async_wait([this, self](const boost::system::error_code& ec) {
      if (!ec && !closed_) finish("close timeout");
    });
    writeNext();  // sends what is queued, then the close frame
  }

  void abort(std::string_view reason) override {
    queue_.clear();
    queuedBytes_ = 0;
    finish(reason);
  }
  bool closed() const override { return closed_; }

 private:
  std::shared_ptr<void> keepAlive() const { return owner_.lock(); }

  void armRead() {
    if (reading_ || paused_ || closed_ || !readStarted_ || tooLarge_) return;
    auto self = keepAlive();
    if (!self) return;
    reading_ = true;
    // A message is read in pieces and counted as it arrives, so one larger than maxMessageBytes_ is
    // refused with a stream error (<policy-violation/>, then <close/>) once the limit is passed, never
    // buffered whole. (Beast's own read_message_max would fail the connection at the frame header with
    // a bare close frame, without the stream error RFC 7395 §3.6 asks for.)
    ws_.async_read_some(buffer_, kReadChunk, [this, self](const boost::system::error_code& ec, std::size_t) {
      reading_ = false;
      if (closed_) return;
      if (ec) {
        if (ec == websocket::error::closed)
          finish("peer closed");
        else if (ec == beast::error::timeout)
          finish("idle timeout (no WebSocket pong)");
        else if (ec == websocket::error::message_too_big)
          finish("message too big");
        else if (ec != asio::error::operation_aborted)
          finish(ec.message());
        return;
      }
      if (buffer_.size() > maxMessageBytes_) {
        log::info("net.websocket.message_too_big", "peer={} limit={}", remoteAddress_, maxMessageBytes_);
        buffer_.consume(buffer_.size());
        buffer_.shrink_to_fit();
        tooLarge_ = true;  // nothing more is read: the stream ends
        if (handler_) handler_->onInputTooLarge();
        if (!closing_ && !closed_) close(std::chrono::milliseconds(2000));
        return;
      }
      if (!ws_.is_message_done()) {  // more of this message to come
        armRead();
        return;
      }
      if (!ws_.got_text()) {
        // RFC 7395 §3.2: XMPP is carried in text messages only.
        buffer_.consume(buffer_.size());
        if (closing_) return;
        closing_ = true;
        closeCode_ = websocket::close_code::unknown_data;
        writeNext();  // the close frame goes out once no write is in flight
        return;
      }
      const auto data = buffer_.cdata();
      handler_->onData(std::string_view(static_cast<const char*>(data.data()), data.size()));
      buffer_.consume(buffer_.size());
      buffer_.shrink_to_fit();  // an idle connection holds no read buffer
      if (!closing_) armRead();
    });
  }

  void writeNext() {
    if (writing_ || closed_) return;
    if (head_ >= queue_.size()) {
      queue_.clear();
      head_ = 0;
      if (backpressured_ && queuedBytes_ <= limits_.pauseBytes / 2) {
        backpressured_ = false;
        if (handler_) handler_->onBackpressure(false);
      }
      if (closing_ && !closeSent_) closeFrame(closeCode_);
      return;
    }
    auto self = keepAlive();
    if (!self) return;
    writing_ = true;
    Bytes front = queue_[head_];
    ws_.async_write(asio::buffer(*front),
                    [this, self, front](const boost::system::error_code& ec, std::size_t) {
                      writing_ = false;
                      if (closed_) return;
                      if (ec) {
                        finish(ec == websocket::error::closed ? std::string("peer closed") : ec.message());
                        return;
                      }
                      queuedBytes_ -= front->size();
                      bytesWritten_ += front->size();
                      queue_[head_].reset();
                      ++head_;
                      writeNext();
                    });
  }

  void closeFrame(websocket::close_code code) {
    auto self = keepAlive();
    if (!self || closed_ || closeSent_) return;
    closeSent_ = true;
    if (!closeTimer_) {
      closeTimer_ = std::make_unique<asio::steady_timer>(executor_.context(), std::chrono::seconds(2));
      closeTimer_->async_wait([this, self](const boost::system::error_code& ec) {
        if (!ec && !closed_) finish("close timeout");
      });
    }
    ws_.async_close(code, [this, self](const boost::system::error_code&) { finish("closed"); });
  }

  void finish(std::string_view reason) {
    if (closed_) return;
    closed_ = true;
    if (closeTimer_) closeTimer_->cancel();
    boost::system::error_code ec;
    auto& sock = beast::get_lowest_layer(ws_).socket();
    sock.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    sock.close(ec);
    queue_.clear();
    queue_.shrink_to_fit();
    head_ = 0;
    queuedBytes_ = 0;
    buffer_.consume(buffer_.size());
    buffer_.shrink_to_fit();
    if (handler_) {
      auto* h = std::exchange(handler_, nullptr);
      h->onDisconnected(reason);
    }
  }

  websocket::stream<Next> ws_;
  runtime::Executor executor_;
  std::string remoteAddress_;
  std::string host_;
  ConnectionLimits limits_;
  std::size_t maxMessageBytes_;
  static constexpr std::size_t kReadChunk = 64 * 1024;
  std::weak_ptr<void> owner_;
  ConnectionHandler* handler_ = nullptr;
  beast::flat_buffer buffer_;
  std::vector<Bytes> queue_;
  std::size_t head_ = 0;
  std::size_t queuedBytes_ = 0;
  std::uint64_t bytesAccepted_ = 0;
  std::uint64_t bytesWritten_ = 0;
  std::unique_ptr<asio::steady_timer> closeTimer_;
  websocket::close_code closeCode_ = websocket::close_code::normal;
  bool secure_ = false;
  bool readStarted_ = false;
  bool reading_ = false;
  bool paused_ = false;
  bool writing_ = false;
  bool backpressured_ = false;
  bool closing_ = false;
  bool closeSent_ = false;
  bool closed_ = false;
  bool tooLarge_ = false;
  bool overflowed_ = false;
};

// Answers the upgrade request with an HTTP error and closes the connection.
template <class Next>
void refuse(Next&& stream, const bhttp::request<bhttp::string_body>& request, bhttp::status status,
            std::string body) {
  struct State {
    std::decay_t<Next> stream;
    bhttp::response<bhttp::string_body> response;
  };
  auto st = std::make_shared<State>(
      State{std::move(stream), bhttp::response<bhttp::string_body>(status, request.version())});
  st->response.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  st->response.set(bhttp::field::connection, "close");
  st->response.body() = std::move(body);
  st->response.prepare_payload();
  beast::get_lowest_layer(st->stream).expires_after(std::chrono::seconds(5));
  bhttp::async_write(st->stream, st->response, [st](const boost::system::error_code&, std::size_t) {
    boost::system::error_code ec;
    beast::get_lowest_layer(st->stream).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(st->stream).close();
  });
}

template <class Next>
void handshake(Next&& stream, http::WebSocketUpgrade& up, const WebSocketSettings& settings,
               std::function<void(std::unique_ptr<Transport>)> ready,
               std::function<void(WebSocketRefusal, const std::string&)> refused) {
  struct State {
    websocket::stream<std::decay_t<Next>> ws;
    bhttp::request<bhttp::string_body> request;
  };
  auto st = std::make_shared<State>(
      State{websocket::stream<std::decay_t<Next>>(std::move(stream)), std::move(up.request)});
  auto& ws = st->ws;
  websocket::stream_base::timeout timeout{};
  timeout.handshake_timeout = settings.handshakeTimeout;
  timeout.idle_timeout = settings.idleTimeout;
  timeout.keep_alive_pings = true;  // a ping after idle/2 of silence; no pong by idle: closed
  ws.set_option(timeout);
  ws.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
    res.set(bhttp::field::sec_websocket_protocol, "xmpp");  // RFC 7395 §3.1
    res.set(bhttp::field::server, "parley");
  }));
  // No Beast limit (0): the transport counts each message itself as it arrives (armRead), so even a
  // frame that announces gigabytes gets the stream error after maxMessageBytes, not a bare close.
  ws.read_message_max(0);
  ws.auto_fragment(false);
  ws.text(true);
  const bool secure =
      up.secure || (settings.plainIsSecure && !up.tls && (isLoopback(up.peerIp) || up.trustedProxy));
  std::string remote = up.remoteIp.empty() ? up.peerIp : up.remoteIp;
  std::string host = hostWithoutPort(sv(st->request[bhttp::field::host]));
  runtime::Executor executor = up.executor;
  WebSocketSettings copy = settings;
  ws.async_accept(st->request, [st, executor, remote, secure, host, copy, ready = std::move(ready),
                                refused = std::move(refused)](const boost::system::error_code& ec) {
    if (ec) {
      log::info("websocket.handshake_failed", "peer={} error=\"{}\"", remote, ec.message());
      if (refused) refused(WebSocketRefusal::HandshakeFailed, remote);
      return;
    }
    ready(std::make_unique<WebSocketTransport<std::decay_t<Next>>>(std::move(st->ws), executor, remote,
                                                                   secure, host, copy));
  });
}

}  // namespace

void acceptXmppWebSocket(http::WebSocketUpgrade&& up, const WebSocketSettings& settings,
                         std::function<bool(const std::string& ip)> admit,
                         std::function<void(std::unique_ptr<Transport>)> ready,
                         std::function<void(WebSocketRefusal, const std::string& ip)> refused) {
  const std::string remote = up.remoteIp.empty() ? up.peerIp : up.remoteIp;
  auto visitRefuse = [&](bhttp::status status, std::string body, WebSocketRefusal why) {
    std::visit([&](auto& s) { refuse(std::move(s), up.request, status, std::move(body)); }, up.stream);
    log::info("websocket.refused", "peer={} status={} reason=\"{}\"", remote, static_cast<int>(status),
              static_cast<int>(why));
    if (refused) refused(why, remote);
  };
  if (!websocket::is_upgrade(up.request)) {
    visitRefuse(bhttp::status::bad_request, "a WebSocket upgrade is expected here\n",
                WebSocketRefusal::NotWebSocket);
    return;
  }
  // RFC 7395 §3.1: the client must offer the "xmpp" subprotocol; without it there is no XMPP here.
  if (!offersXmpp(sv(up.request[bhttp::field::sec_websocket_protocol]))) {
    visitRefuse(bhttp::status::bad_request, "Sec-WebSocket-Protocol must include xmpp (RFC 7395)\n",
                WebSocketRefusal::NoXmppSubprotocol);
    return;
  }
  if (admit && !admit(remote)) {
    visitRefuse(bhttp::status::service_unavailable, "too many connections from this address\n",
                WebSocketRefusal::Limit);
    return;
  }
  // If the handshake fails the slot taken by admit() is given back through `refused` by the caller.
  std::visit([&](auto& s) { handshake(std::move(s), up, settings, std::move(ready), refused); }, up.stream);
}

std::function<void(http::WebSocketUpgrade&&)> xmppUpgradeHandler(
    WebSocketSettings settings, std::function<bool(const std::string& ip)> admit,
    std::function<void(std::unique_ptr<Transport>)> ready,
    std::function<void(WebSocketRefusal, const std::string& ip)> refused) {
  return [settings, admit = std::move(admit), ready = std::move(ready),
          refused = std::move(refused)](http::WebSocketUpgrade&& up) {
    acceptXmppWebSocket(std::move(up), settings, admit, ready, refused);
  };
}

}  // namespace parley::net
