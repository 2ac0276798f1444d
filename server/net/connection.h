// DESIGN: a Connection is the byte pipe under one XML stream: a TCP socket, optionally wrapped in TLS
// (STARTTLS or direct TLS). It is built for many idle connections:
//  - reads use a readiness wait and one read buffer per network thread, so an idle connection owns no
//    read buffer; OpenSSL runs directly on the socket with SSL_MODE_RELEASE_BUFFERS, and after a TLS 1.3
//    handshake the connection frees its SSL object and protects records itself (tls13_records.h);
//  - writes go through a queue of shared immutable buffers with exactly one write in flight; a
//    fan-out queues the same buffer on every recipient;
//  - backpressure: past `pauseBytes` of unsent output the owner is told to stop producing (and reading
//    from the peer stops); past `maxBytes` the peer is considered dead and the connection is dropped
//    (from a posted task, after onOutputOverflow(): never under the caller of send());
//  - accounting: bytes taken and bytes written since the start, so the owner can tell which of its
//    units never reached the socket when the connection ends.
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

#include "server/net/batched_writes.h"
#include "server/net/transport.h"
#include "server/runtime/executor.h"

typedef struct ssl_st SSL;

namespace parley::net {

class Connection final : public Transport {
 public:
  // Takes ownership of a connected, non-blocking socket descriptor living on `executor`.
  Connection(runtime::Executor executor, int fd, std::string remoteAddress, ConnectionLimits limits);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void setOwner(std::weak_ptr<void> owner, ConnectionHandler* handler) override;
  const std::string& remoteAddress() const override { return remoteAddress_; }
  runtime::Executor executor() const override { return executor_; }
  std::string_view kind() const override { return "tcp"; }
  Framing framing() const override { return Framing::XmlStream; }

  // Starts delivering onData().
  void startReading() override;
  void pauseReading() override;
  void resumeReading() override;  // also drains bytes TLS had already decrypted
  bool readingPaused() const override { return paused_; }

  using Transport::send;
  void send(Bytes bytes) override;
  std::size_t queuedBytes() const override { return queuedBytes_; }
  std::uint64_t bytesAccepted() const override { return bytesAccepted_; }
  std::uint64_t bytesWritten() const override { return bytesWritten_; }

  // Starts the TLS handshake as server. `done(ok)` runs on the executor. Bytes read before this call
  // must have been consumed (STARTTLS discards anything pipelined after <starttls/>).
  bool canStartTls() const override { return !tlsStarted_; }
  void startTls(const TlsContexts& contexts, std::function<void(bool ok, std::string error)> done) override;
  bool secure() const override { return tlsEstablished_; }
  std::string tlsServerEndPoint() const override;
  std::string tlsExporter() const override;
  bool channelBindingAvailable() const override;
  // Whether the record layer was handed over from OpenSSL after the handshake (tls13_records.h).
  bool ownRecordLayer() const;
  std::string sniName() const;
  std::string serverName() const override { return sniName(); }

  // Flushes what is queued (bounded by `timeout`), sends TLS close_notify, closes the socket, then
  // reports onDisconnected(). Safe to call more than once.
  void close(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) override;
  // Closes at once, dropping queued output.
  void abort(std::string_view reason) override;
  bool closed() const override { return closed_; }

 private:
  friend class BatchedWrites;
  struct Impl;
  struct Cork;
  struct BatchedRecord;
  static void writeThreadBatch();
  bool joinThreadBatch();
  bool sealForBatch(char* out, BatchedRecord& r);
  void batchedWriteDone(const char* out, const BatchedRecord& r, long result);
  void armRead();
  void onReadable();
  void flush();
  void waitWritable();
  void continueHandshake();
  void failHandshake(std::string reason);
  int readHandshakeBytes();
  std::string takeHandshakeLeftover();
  void readSocketFromNowOn();
  void handOverRecordLayer();
  void readRecords();
  bool openRecords(char* data, std::size_t size);
  bool flushRecords();
  void sendProtected(std::string records);
  void failTls(int alert, std::string_view reason);
  std::size_t gatherQueued(char* out) const;
  void consumeQueue(std::size_t n);
  void finishClose(std::string_view reason);
  void uncork();
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
  std::uint64_t bytesAccepted_ = 0;
  std::uint64_t bytesWritten_ = 0;

  std::function<void(bool, std::string)> handshakeDone_;
  bool reading_ = false;      // a read wait is armed
  bool readStarted_ = false;  // startReading() was called
  bool paused_ = false;
  bool writing_ = false;  // a write wait is armed
  bool readWaitForWrite_ = false;
  bool backpressured_ = false;
  bool tlsStarted_ = false;
  bool tlsEstablished_ = false;
  bool handshaking_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool disconnectedReported_ = false;
  bool overflowed_ = false;  // past maxBytes: nothing more is taken, the abort is posted
  bool inSend_ = false;      // inside send(): a disconnection is reported from a posted task
  bool corked_ = false;      // handling what a read brought: send() queues, the read's end writes
  bool batched_ = false;     // in this thread's BatchedWrites: its end writes what is queued
};

}  // namespace parley::net
