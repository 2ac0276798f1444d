// A WebSocket XMPP client (RFC 7395) for integration tests, on Boost.Beast: it completes the HTTP
// upgrade with the subprotocols a test chooses, sends each message exactly as given (malformed XML,
// fragments) and lets the test read message by message. It logs in with SCRAM like RawClient.
// Everything is synchronous with timeouts (an io_context run for a bounded time), so a test cannot
// hang on a server that stays silent.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace parley::test {

class WsClient {
 public:
  // Connects to 127.0.0.1:`port` and upgrades `path` offering `subprotocols` ("" = no header); with `tls`,
  // over TLS first (wss://, SNI `host`; the test certificate is not verified).
  explicit WsClient(std::uint16_t port, std::string path = "/xmpp-websocket",
                    std::string subprotocols = "xmpp", std::string host = "localhost", bool tls = false);
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // The TLS handshake succeeded (tls only).
  bool tlsEstablished() const { return tlsEstablished_; }
  // The upgrade succeeded (101).
  bool ok() const { return upgraded_; }
  // The HTTP status of the upgrade answer (101, or e.g. 400), 0 if there was none.
  int status() const { return status_; }
  // The Sec-WebSocket-Protocol the server chose.
  const std::string& protocol() const { return protocol_; }
  const std::string& refusalBody() const { return refusalBody_; }

  // One WebSocket text message; false if the connection is gone.
  bool send(std::string_view message);
  // Reads messages until one contains `needle` (searching every message since the last consume()).
  bool waitFor(std::string_view needle, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Reads until the server closes the WebSocket (close frame, or the TCP connection); true if it did.
  bool waitClosed(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  bool closed() const { return closed_; }
  // The WebSocket close code the server sent (0: none seen).
  int closeCode() const { return closeCode_; }
  // Every message received since the last consume(), in order.
  const std::vector<std::string>& messages() const { return messages_; }
  std::string joined() const;
  void consume() { messages_.clear(); }
  // Cuts the connection without a close frame: a TCP reset, as a phone losing its network.
  void drop();

  // <open/> to `domain`; waits for the features. Returns them.
  std::string open(std::string_view domain = "localhost");
  // SCRAM-SHA-256 (or the mechanism given, "PLAIN" too), then the new <open/>. True on <success/>.
  bool authenticate(const std::string& user, const std::string& password,
                    const std::string& mechanism = "SCRAM-SHA-256");
  bool bind(const std::string& resource = "ws");
  // open, authenticate, bind.
  bool login(const std::string& user, const std::string& password, const std::string& resource = "ws");

 private:
  struct Impl;
  bool readOne(std::chrono::milliseconds timeout);
  std::unique_ptr<Impl> impl_;
  bool upgraded_ = false;
  bool tlsEstablished_ = false;
  int status_ = 0;
  std::string protocol_;
  std::string refusalBody_;
  std::vector<std::string> messages_;
  bool closed_ = false;
  int closeCode_ = 0;
};

}  // namespace parley::test
