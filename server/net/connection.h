// DESIGN: a Connection is the byte pipe under one XML stream: a TCP socket, optionally wrapped in TLS
// (STARTTLS or direct TLS). It is built for many idle connections:
//  - reads use a readiness wait and one read buffer per network thread, so an idle connection owns no
//    read buffer; OpenSSL runs directly on the socket with SSL_MODE_RELEASE_BUFFERS;
//  - writes go through a queue of shared immutable buffers with exactly one write in flight; a
//    fan-out queues the same buffer on every recipient;
//  - backpressure: past `pauseBytes` of unsent output the owner is told to stop producing (and reading
//    from the peer stops); past `maxBytes` the peer is considered dead and the connection is dropped.
// All methods run on the connection's executor. The owner (the stream) is kept alive by pending
// operations through the weak pointer it registers, so no handler ever runs on a destroyed owner.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/runtime/executor.h"

typedef struct ssl_st SSL;

namespace parley::net {

class TlsContexts;

using Bytes = std::shared_ptr<const std::string>;

class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // Bytes arrived (plaintext after TLS). The handler may call pauseReading() from here.
  virtual void onData(std::string_view bytes) = 0;
  // The peer closed, the socket failed, or close() finished. Called once.
  virtual void onDisconnected(std::string_view reason) = 0;
  // The output queue crossed the pause threshold (true) or drained below half of it (false).
  virtual void onBackpressure(bool /*paused*/) {}
};

struct ConnectionLimits {
  std::size_t pauseBytes = 512 * 1024;
  std::size_t maxBytes = 8 * 1024 * 1024;
};

class Connection {
 public:
  // Takes ownership of a connected, non-blocking socket descriptor living on `executor`.
  Connection(runtime::Executor executor, int fd, std::string remoteAddress, ConnectionLimits limits);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void setOwner(std::weak_ptr<void> owner, ConnectionHandler* handler);
  const std::string& remoteAddress() const { return remoteAddress_; }
  runtime::Executor executor() const { return executor_; }

  // Starts delivering onData().
  void startReading();
  void pauseReading();
  void resumeReading();  // also drains bytes TLS had already decrypted
  bool readingPaused() const { return paused_; }

  void send(std::string bytes);
  void send(Bytes bytes);
  std::size_t queuedBytes() const { return queuedBytes_; }

  // Starts the TLS handshake as server. `done(ok)` runs on the executor. Bytes read before this call
  // must have been consumed (STARTTLS discards anything pipelined after <starttls/>).
  void startTls(const TlsContexts& contexts, std::function<void(bool ok, std::string error)> done);
  bool secure() const { return ssl_ != nullptr && tlsEstablished_; }
  SSL* ssl() const { return ssl_; }
  std::string sniName() const;

  // Flushes what is queued (bounded by `timeout`), sends TLS close_notify, closes the socket, then
  // reports onDisconnected(). Safe to call more than once.
  void close(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  // Closes at once, dropping queued output.
  void abort(std::string_view reason);
  bool closed() const { return closed_; }

 private:
  struct Impl;
  void armRead();
  void onReadable();
  void flush();
  void waitWritable();
  void continueHandshake();
  void finishClose(std::string_view reason);
  std::shared_ptr<void> keepAlive() const { return owner_.lock(); }

  std::unique_ptr<Impl> impl_;
  runtime::Executor executor_;
  std::string remoteAddress_;
  ConnectionLimits limits_;
  std::weak_ptr<void> owner_;
  ConnectionHandler* handler_ = nullptr;
  SSL* ssl_ = nullptr;

  std::vector<Bytes> queue_;
  std::size_t queueHead_ = 0;
  std::size_t frontOffset_ = 0;
  std::size_t queuedBytes_ = 0;

  std::function<void(bool, std::string)> handshakeDone_;
  bool reading_ = false;      // a read wait is armed
  bool readStarted_ = false;  // startReading() was called
  bool paused_ = false;
  bool writing_ = false;  // a write wait is armed
  bool readWaitForWrite_ = false;
  bool backpressured_ = false;
  bool tlsEstablished_ = false;
  bool handshaking_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool disconnectedReported_ = false;
};

}  // namespace parley::net
