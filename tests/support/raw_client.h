// A raw XMPP client over TCP/TLS for protocol-level tests: it sends exactly the bytes a test gives
// it (malformed XML, oversize stanzas, pipelined input) and lets the test read what comes back. It also
// does what libstrophe cannot: SCRAM-*-PLUS with both channel-binding types, PLAIN, SASL abort.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace parley::test {

// The text content of the first <name …>…</name> in `xml` (std::regex is avoided: g++ 12 at -O2 with the
// sanitizers warns inside it). Empty if absent.
std::string elementText(std::string_view xml, std::string_view name);

// A blocking TCP connection to 127.0.0.1:port, from `sourceAddress` when given (any 127.0.0.0/8 address
// works on Linux: tests use several to act as many clients). `receiveBuffer` > 0 sets SO_RCVBUF before
// connecting (a small one makes a client that stops reading back up the server quickly). The
// descriptor, or -1.
int connectTcp(std::uint16_t port, const std::string& sourceAddress = {}, int receiveBuffer = 0);

class RawClient {
 public:
  // `sourceAddress`, `receiveBuffer`: see connectTcp().
  explicit RawClient(std::uint16_t port, bool directTls = false, const std::string& sourceAddress = {},
                     int receiveBuffer = 0);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool ok() const { return fd_ >= 0; }
  // The client's own TCP port (0 when not connected): finds its connection in /proc/net/tcp.
  std::uint16_t localPort() const;
  // Writes every byte; false if the connection failed first (e.g. the server closed it). A write the
  // server does not read fails after 10 s instead of blocking the test.
  bool send(std::string_view bytes);
  // Reads until `needle` appears in what was received since the last consume(); true if it did.
  bool waitFor(std::string_view needle, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Reads until the server closes the connection; true if it did within the timeout.
  bool waitClosed(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // True once a read found the connection closed by the server.
  bool closed() const { return closed_; }
  const std::string& received() const { return buf_; }
  void consume() { buf_.clear(); }
  // How often `needle` occurs in what was received since the last consume().
  std::size_t count(std::string_view needle) const;
  // Cuts the connection the way a phone losing its network does: no </stream:stream>, no TLS
  // close_notify, a TCP reset.
  void drop();
  // One read of what has arrived, waiting up to `timeout`; false if nothing came (or it closed).
  bool pump(std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) { return readSome(timeout); }
  // One event loop for many connections: waits up to `timeout` until one of `clients` has input, then
  // reads once from each that has (closed ones are skipped).
  static void pumpAll(const std::vector<RawClient*>& clients, std::chrono::milliseconds timeout);

  // <stream:stream> to `domain`; waits for the features. Returns the features received.
  std::string openStream(std::string_view domain = "localhost");
  // <starttls/>, <proceed/>, handshake. `pipelined` is sent in the same write as <starttls/> (to test
  // that plaintext injected before the handshake is ignored).
  bool startTls(std::string_view pipelined = {});
  // SASL with SCRAM (mechanism like "SCRAM-SHA-256" or "SCRAM-SHA-256-PLUS" with cbType
  // "tls-exporter"/"tls-server-end-point") or "PLAIN". True on <success/>; after success the stream is
  // restarted and bound when `bind` is true.
  bool authenticate(const std::string& user, const std::string& password, const std::string& mechanism,
                    const std::string& cbType = {});
  bool bind(const std::string& resource = "raw");
  // Full login: stream, STARTTLS (unless direct TLS), SCRAM-SHA-256, bind.
  bool login(const std::string& user, const std::string& password);
  std::string channelBinding(const std::string& type) const;

 private:
  bool readSome(std::chrono::milliseconds timeout);
  // Reads until one of the needles appears (or the connection closes, or the timeout passes).
  bool waitForAny(std::initializer_list<std::string_view> needles, std::chrono::milliseconds timeout);
  void waitForSaslOutcome();
  bool handshake();
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buf_;
  bool closed_ = false;
};

}  // namespace parley::test
