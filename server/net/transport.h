// DESIGN: a Transport is what one client stream runs over. The c2s session core (stream::InboundStream
// and c2s::C2sSession: SASL, bind, roster, stream management, CSI…) is written once against this
// interface; each transport only moves bytes and says how the XML stream is framed on it:
//  - net::Connection: a TCP socket, optionally TLS (STARTTLS or direct TLS), one continuous XML
//    document per stream (RFC 6120 §4): Framing::XmlStream;
//  - net::WebSocketTransport (server/net/websocket_transport.h): RFC 7395, one complete element per
//    WebSocket text message, <open/>/<close/> instead of the stream header and footer:
//    Framing::WebSocket. InboundStream does the framing; the transport only maps one send() to one
//    message and one received message to one onData().
// All methods run on the transport's executor (the session's network thread). The owner (the stream)
// is kept alive by pending operations through the weak pointer it registers, so no handler ever runs
// on a destroyed owner. No Asio or Beast type appears here: the session core does not depend on them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "server/runtime/executor.h"

namespace parley::net {

class TlsContexts;

using Bytes = std::shared_ptr<const std::string>;

class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // Bytes arrived (plaintext after TLS; for WebSocket, exactly one text message). The handler may call
  // pauseReading() from here.
  virtual void onData(std::string_view bytes) = 0;
  // The peer closed, the socket failed, or close() finished. Called once, and never from inside send():
  // a write error found there is reported from a posted task, so whoever writes (a session in the middle
  // of a fan-out or a replay) never sees its stream end under it.
  virtual void onDisconnected(std::string_view reason) = 0;
  // The output queue crossed the pause threshold (true) or drained below half of it (false).
  virtual void onBackpressure(bool /*paused*/) {}
  // The output queue passed ConnectionLimits::maxBytes: the peer does not read. Called from a posted
  // task (never from inside send()); the transport aborts itself right after this call (queued output
  // is dropped, then onDisconnected()).
  virtual void onOutputOverflow() {}
  // The peer sent a unit larger than the transport accepts (a WebSocket message over the stanza limit),
  // noticed before it was buffered whole. The handler ends the stream (RFC 6120 §4.9.3.14
  // <policy-violation/>); the transport then closes if the handler did not.
  virtual void onInputTooLarge() {}
};

struct ConnectionLimits {
  std::size_t pauseBytes = 512 * 1024;
  std::size_t maxBytes = 8 * 1024 * 1024;
};

enum class Framing {
  XmlStream,  // RFC 6120: <stream:stream> … </stream:stream> over a byte stream
  WebSocket,  // RFC 7395: one element per message, <open/> and <close/> in
              // urn:ietf:params:xml:ns:xmpp-framing
};

class Transport {
 public:
  virtual ~Transport() = default;

  virtual void setOwner(std::weak_ptr<void> owner, ConnectionHandler* handler) = 0;
  virtual const std::string& remoteAddress() const = 0;
  virtual runtime::Executor executor() const = 0;
  // "tcp" or "websocket": the transport label of metrics and logs.
  virtual std::string_view kind() const = 0;
  virtual Framing framing() const = 0;

  // Starts delivering onData().
  virtual void startReading() = 0;
  virtual void pauseReading() = 0;
  virtual void resumeReading() = 0;
  virtual bool readingPaused() const = 0;

  // Queues bytes for the peer. On a message transport one call is one message, so the caller passes
  // exactly one complete element (or the framing element) per call.
  virtual void send(Bytes bytes) = 0;
  void send(std::string bytes) {
    if (!bytes.empty()) send(std::make_shared<const std::string>(std::move(bytes)));
  }
  virtual std::size_t queuedBytes() const = 0;
  // Bytes taken by send() since the transport was made (a send() on a closed or overflowed transport
  // takes nothing), and how many of them left the process: written to the socket (through TLS, a
  // whole record) or, for WebSocket, a completed message write. Once the transport is closed, a unit
  // whose bytes end after bytesWritten() never reached the peer (c2s hands such stanzas back to
  // routing instead of losing them).
  virtual std::uint64_t bytesAccepted() const = 0;
  virtual std::uint64_t bytesWritten() const = 0;

  // Whether the stream is confidential: TLS on this connection, or (WebSocket) TLS at the HTTP layer or
  // a plain-HTTP listener the configuration declares trusted (loopback, TLS-terminating proxy).
  virtual bool secure() const = 0;
  // STARTTLS (RFC 6120 §5) is possible on this transport now.
  virtual bool canStartTls() const { return false; }
  // Starts the TLS handshake as server; `done(ok, error)` runs on the executor. Only when canStartTls().
  virtual void startTls(const TlsContexts& /*contexts*/,
                        std::function<void(bool ok, std::string error)> done) {
    done(false, "STARTTLS is not available on this transport");
  }
  // Channel binding to the TLS under the stream: RFC 5929 §4 tls-server-end-point (a hash of the
  // server certificate) and RFC 9266 tls-exporter (TLS 1.3 only). Empty when that type is not
  // available; channelBindingAvailable() says whether either is, without computing them.
  virtual std::string tlsServerEndPoint() const { return {}; }
  virtual std::string tlsExporter() const { return {}; }
  virtual bool channelBindingAvailable() const { return false; }
  // The name the client asked for before the XML stream: TLS SNI, or the HTTP Host of a WebSocket.
  virtual std::string serverName() const { return {}; }

  // Flushes what is queued (bounded by `timeout`), closes (TLS close_notify, WebSocket close frame),
  // then reports onDisconnected(). Safe to call more than once.
  virtual void close(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) = 0;
  // Closes at once, dropping queued output.
  virtual void abort(std::string_view reason) = 0;
  virtual bool closed() const = 0;
};

}  // namespace parley::net
