#include "server/net/connection.h"

#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "server/log/log.h"
#include "server/net/batched_send.h"
#include "server/net/tls13_records.h"
#include "server/net/tls_context.h"
#include "server/runtime/asio.h"

namespace parley::net {

namespace {

constexpr std::size_t kChunk = 16 * 1024;     // one TLS record's plaintext
constexpr std::size_t kReadSize = 32 * 1024;  // room for a whole maximum-size TLS record and more
constexpr int kReadsPerWakeup = 8;            // fairness between connections on one thread

// One read buffer and one TLS write buffer per network thread: idle connections own none.
char* threadReadBuffer() {
  thread_local std::array<char, kReadSize> buf;
  return buf.data();
}
char* threadWriteBuffer() {
  // A record, and room for the close_notify that may follow it in the same write.
  thread_local std::array<char, kChunk + 2 * Tls13Records::kSealOverhead + 2> buf;
  return buf.data();
}

asio::ip::tcp protocolOf(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 && ss.ss_family == AF_INET6)
    return asio::ip::tcp::v6();
  return asio::ip::tcp::v4();
}

}  // namespace

struct Connection::Impl {
  Impl(asio::io_context& io, int fd) : sock(io) {
    boost::system::error_code ec;
    sock.assign(protocolOf(fd), fd, ec);
    sock.non_blocking(true, ec);
    sock.set_option(asio::ip::tcp::no_delay(true), ec);
  }
  ~Impl() {
    if (certContext) SSL_CTX_free(certContext);
  }
  asio::ip::tcp::socket sock;
  std::unique_ptr<asio::steady_timer> closeTimer;
  bool tlsPending = false;  // startTls() waits for queued plaintext to go out first
  const TlsContexts* tlsContexts = nullptr;
  std::unique_ptr<Tls13Capture> capture;  // during a handshake that may hand the record layer over

  // After the handover (tls13_records.h). rx: received bytes not opened yet (a partial record, or
  // records kept while reading is paused). tx: protected bytes not written yet (the rest of a record
  // the socket took only part of, and control records). Both are empty and unallocated when idle.
  std::unique_ptr<Tls13Records> records;
  std::string rx;
  std::string tx;
  std::size_t txSent = 0;
  std::size_t creditAt = 0;      // where in tx the application-data record ends…
  std::size_t creditBytes = 0;   // …and its plaintext, counted as written once all of it has left
  bool closeNotifySent = false;  // sealed behind the last record of a closing stream
  // While a handshake that may hand over runs: OpenSSL reads from this memory BIO, which recv() fills
  // (see readHandshakeBytes). Owned by the SSL object; null otherwise.
  BIO* handshakeRbio = nullptr;
  bool handshakeDrained = false;  // the last recv() into it emptied the socket
  // What channel binding and the stream header still need once the SSL object is gone.
  SSL_CTX* certContext = nullptr;
  std::string sni;
  std::array<char, 32> exporter{};
};

Connection::Connection(runtime::Executor executor, int fd, std::string remoteAddress, ConnectionLimits limits)
    : impl_(std::make_unique<Impl>(executor.context(), fd)),
      executor_(executor),
      remoteAddress_(std::move(remoteAddress)),
      limits_(limits) {}

Connection::~Connection() {
  if (ssl_) SSL_free(ssl_);
}

void Connection::setOwner(std::weak_ptr<void> owner, ConnectionHandler* handler) {
  owner_ = std::move(owner);
  handler_ = handler;
}

std::string Connection::sniName() const {
  if (!ssl_) return impl_->sni;
  const char* n = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return n ? n : "";
}

bool Connection::ownRecordLayer() const {
  return impl_->records != nullptr;
}

std::string Connection::tlsServerEndPoint() const {
  if (ssl_) return tlsEstablished_ ? net::tlsServerEndPoint(ssl_) : std::string();
  return impl_->certContext ? contextServerEndPoint(impl_->certContext) : std::string();
}

std::string Connection::tlsExporter() const {
  if (ssl_) return tlsEstablished_ ? net::tlsExporter(ssl_) : std::string();
  if (!impl_->records) return {};
  return std::string(impl_->exporter.data(), impl_->exporter.size());
}

bool Connection::channelBindingAvailable() const {
  if (ssl_) return tlsEstablished_ && (tlsServerEndPointAvailable(ssl_) || tlsExporterAvailable(ssl_));
  return impl_->records != nullptr;  // TLS 1.3: tls-exporter at least
}

void Connection::startReading() {
  readStarted_ = true;
  armRead();
}

void Connection::pauseReading() {
  paused_ = true;
}

void Connection::resumeReading() {
  if (!paused_) return;
  paused_ = false;
  if (!readStarted_ || closed_ || closing_ || handshaking_) return;
  // TLS may already hold decrypted bytes the socket will never signal again: read now.
  executor_.post([this, self = keepAlive()] {
    if (self && !closed_ && !paused_ && !reading_) onReadable();
  });
}

void Connection::armRead() {
  if (reading_ || paused_ || closed_ || closing_ || !readStarted_ || handshaking_) return;
  auto self = keepAlive();
  if (!self) return;
  reading_ = true;
  impl_->sock.async_wait(asio::ip::tcp::socket::wait_read, [this, self](const boost::system::error_code& ec) {
    reading_ = false;
    if (closed_) return;
    if (ec) {
      if (ec != asio::error::operation_aborted) abort(ec.message());
      return;
    }
    onReadable();
  });
}

// While the handler works on what one wakeup read, send() only queues; the answers go out together
// when it is done: one system call and, under TLS, one record for a stream header and its features,
// or a stanza and the acknowledgement after it.
struct Connection::Cork {
  explicit Cork(Connection& c) : conn(c) { conn.corked_ = true; }
  ~Cork() {
    conn.corked_ = false;
    conn.uncork();
  }
  Cork(const Cork&) = delete;
  Cork& operator=(const Cork&) = delete;
  Connection& conn;
};

void Connection::uncork() {
  if (!closed_ && !writing_ && !handshaking_ && queueHead_ < queue_.size() && !joinThreadBatch()) flush();
}

void Connection::onReadable() {
  BatchedWrites batch;  // ends after the cork: this connection's own answer joins the batch
  Cork cork(*this);
  if (impl_->records) {
    readRecords();
    return;
  }
  char* buf = threadReadBuffer();
  for (int i = 0; i < kReadsPerWakeup; ++i) {
    if (paused_ || closed_ || closing_) return;
    ssize_t n;
    if (ssl_) {
      ERR_clear_error();
      int r = SSL_read(ssl_, buf, static_cast<int>(kReadSize));
      if (r <= 0) {
        int err = SSL_get_error(ssl_, r);
        if (err == SSL_ERROR_WANT_READ && impl_->handshakeRbio) {
          readSocketFromNowOn();  // what the handshake read beyond its end is used up
          continue;
        }
        if (err == SSL_ERROR_WANT_READ) break;
        if (err == SSL_ERROR_WANT_WRITE) {
          readWaitForWrite_ = true;
          waitWritable();
          return;
        }
        if (err == SSL_ERROR_ZERO_RETURN)
          finishClose("peer closed TLS");
        else if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
          finishClose("peer closed");  // TCP closed without a TLS close_notify: common, harmless here
        else
          finishClose("TLS read error");
        return;
      }
      n = r;
    } else {
      n = ::recv(impl_->sock.native_handle(), buf, kReadSize, 0);
      if (n == 0) {
        finishClose("peer closed");
        return;
      }
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        finishClose(std::strerror(errno));
        return;
      }
    }
    handler_->onData(std::string_view(buf, static_cast<std::size_t>(n)));
    // A short recv() emptied the socket: skip the read that would only say EAGAIN (see readRecords).
    if (!ssl_ && !impl_->records && static_cast<std::size_t>(n) < kReadSize) break;
    // SSL_has_pending: decrypted bytes, or bytes read ahead and not yet decrypted.
    if (i + 1 == kReadsPerWakeup && ssl_ && SSL_has_pending(ssl_)) {
      // Let other connections run, then continue with what TLS already holds.
      executor_.post([this, self = keepAlive()] {
        if (self && !closed_ && !paused_ && !reading_) onReadable();
      });
      return;
    }
  }
  armRead();
}

void Connection::send(Bytes bytes) {
  if (closed_ || overflowed_ || impl_->closeNotifySent || !bytes || bytes->empty()) return;
  bytesAccepted_ += bytes->size();
  queuedBytes_ += bytes->size();
  queue_.push_back(std::move(bytes));
  if (queuedBytes_ > limits_.maxBytes) {
    // The peer does not read. The connection is dropped from a posted task, not here: the caller may be
    // in the middle of a fan-out or an XEP-0198 replay, and must not see its session end under it (a
    // stanza written after that would be neither sent nor handed back). Until then nothing more is
    // taken, so the owner knows exactly what was never written (bytesWritten()).
    overflowed_ = true;
    log::warn("net.output_overflow", "peer={} queued={} limit={}", remoteAddress_, queuedBytes_,
              limits_.maxBytes);
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
  if (!writing_ && !handshaking_ && !corked_ && !batched_ && !joinThreadBatch()) {
    inSend_ = true;  // a write error in flush() is reported from a posted task (ConnectionHandler)
    flush();
    inSend_ = false;
  }
}

// --- Batched writes (BatchedWrites, batched_send.h) ---------------------------------------------------

namespace {

struct ThreadBatch {
  int depth = 0;
  std::vector<std::pair<Connection*, std::shared_ptr<void>>> members;  // the owner keeps it alive
};
thread_local ThreadBatch tBatch;

// Records sealed for one submission. Each takes at most a record and a close_notify.
constexpr std::size_t kBatchArena = 256 * 1024;
constexpr std::size_t kBatchRecordMax = kChunk + 2 * Tls13Records::kSealOverhead + 2;

}  // namespace

BatchedWrites::BatchedWrites() {
  ++tBatch.depth;
}

BatchedWrites::~BatchedWrites() {
  if (tBatch.depth == 1 && !tBatch.members.empty()) Connection::writeThreadBatch();
  --tBatch.depth;
}

struct Connection::BatchedRecord {
  std::size_t offset = 0;     // in the arena
  std::size_t plaintext = 0;  // bytes of the queue it carries
  std::size_t size = 0;       // the record's size
};

// Defers this connection's write to the end of the thread's BatchedWrites, if one is open and the
// connection writes its own records. True if it is (now) in the batch.
bool Connection::joinThreadBatch() {
  if (batched_) return true;
  if (tBatch.depth == 0 || !impl_->records) return false;
  auto self = keepAlive();
  if (!self) return false;
  batched_ = true;
  tBatch.members.emplace_back(this, std::move(self));
  return true;
}

// Seals one record of what is queued into `out` for a batched write; false when the connection must
// take the ordinary path instead (protected bytes still pending, a key update due, closing, …).
bool Connection::sealForBatch(char* out, BatchedRecord& r) {
  Impl& I = *impl_;
  if (closed_ || closing_ || writing_ || handshaking_ || !I.records || I.txSent < I.tx.size() ||
      queueHead_ >= queue_.size() || I.records->writeKeyDue())
    return false;
  const std::size_t len = gatherQueued(out + Tls13Records::kHeaderSize);
  const std::size_t size = I.records->seal(Tls13Records::kApplicationData, out, len);
  if (size == 0) {
    inSend_ = true;
    finishClose("TLS encryption failed");
    inSend_ = false;
    return false;
  }
  consumeQueue(len);
  r.plaintext = len;
  r.size = size;
  return true;
}

// The rest of flushRecords() for a record written by the batch: `result` is what send() returned
// (-errno on failure).
void Connection::batchedWriteDone(const char* out, const BatchedRecord& r, long result) {
  if (closed_) {
    // Closed after sealing: skipped by writeThreadBatch (nothing left), or closed by a handler that an
    // earlier member's completion ran, after the send: what left must still count, as handing back
    // what never left reads it.
    if (result >= 0 && static_cast<std::size_t>(result) >= r.size) bytesWritten_ += r.plaintext;
    return;
  }
  Impl& I = *impl_;
  inSend_ = true;  // a write error is reported from a posted task, as from send()
  if (result < 0 && result != -EAGAIN && result != -EWOULDBLOCK) {
    finishClose(std::strerror(static_cast<int>(-result)));
  } else {
    const std::size_t sent = result < 0 ? 0 : static_cast<std::size_t>(result);
    if (sent >= r.size) {
      queuedBytes_ -= r.plaintext;
      bytesWritten_ += r.plaintext;
      flush();  // what did not fit in the record, or the bookkeeping of a drained queue
    } else {
      // The record is sealed (its sequence number is spent): keep the rest of it for later.
      I.tx.assign(out + sent, r.size - sent);
      I.txSent = 0;
      I.creditAt = r.size - sent;
      I.creditBytes = r.plaintext;
      waitWritable();
    }
  }
  inSend_ = false;
}

void Connection::writeThreadBatch() {
  thread_local std::unique_ptr<char[]> arena(new char[kBatchArena]);
  thread_local std::vector<BatchedSend> sends;
  thread_local std::vector<std::pair<Connection*, BatchedRecord>> records;
  thread_local std::vector<std::pair<Connection*, std::shared_ptr<void>>> members;  // kept, not reallocated
  // Writes done here may make connections queue more (a drained queue's bookkeeping tells the owner):
  // those join the next round.
  while (!tBatch.members.empty()) {
    members.swap(tBatch.members);
    std::size_t next = 0;
    while (next < members.size()) {
      sends.clear();
      records.clear();
      std::size_t used = 0;
      for (; next < members.size() && kBatchArena - used >= kBatchRecordMax; ++next) {
        Connection* c = members[next].first;
        c->batched_ = false;
        BatchedRecord r;
        r.offset = used;
        if (!c->sealForBatch(arena.get() + used, r)) {
          if (!c->closed_ && !c->writing_ && !c->handshaking_ && c->queueHead_ < c->queue_.size()) {
            c->inSend_ = true;
            c->flush();
            c->inSend_ = false;
          }
          continue;
        }
        used += r.size;
        sends.push_back(BatchedSend{c->impl_->sock.native_handle(), arena.get() + r.offset, r.size, 0});
        records.emplace_back(c, r);
      }
      // A member closed after it sealed (nothing does that today, but a handler run by a fallback
      // flush could) no longer owns its descriptor, which may already be another socket's.
      for (std::size_t i = 0; i < records.size(); ++i)
        if (records[i].first->closed_) sends[i].fd = -1;
      sendBatch(sends);
      for (std::size_t i = 0; i < records.size(); ++i)
        records[i].first->batchedWriteDone(arena.get() + records[i].second.offset, records[i].second,
                                           static_cast<long>(sends[i].result));
    }
    members.clear();  // the owners may go now
  }
}

void Connection::waitWritable() {
  if (writing_ || closed_) return;
  auto self = keepAlive();
  if (!self) return;
  writing_ = true;
  impl_->sock.async_wait(asio::ip::tcp::socket::wait_write,
                         [this, self](const boost::system::error_code& ec) {
                           writing_ = false;
                           if (closed_) return;
                           if (ec) {
                             if (ec != asio::error::operation_aborted) abort(ec.message());
                             return;
                           }
                           if (handshaking_) {
                             continueHandshake();
                             return;
                           }
                           if (readWaitForWrite_) {
                             readWaitForWrite_ = false;
                             onReadable();
                             if (closed_) return;
                           }
                           flush();
                         });
}

void Connection::flush() {
  const int fd = impl_->sock.native_handle();
  if (impl_->records && !flushRecords()) return;
  while (queueHead_ < queue_.size()) {
    ssize_t n;
    if (ssl_) {
      // Gather small stanzas into one TLS record. After WANT_WRITE the retry rebuilds the same bytes
      // from the unchanged queue, as SSL_write requires.
      char* buf = threadWriteBuffer();
      const std::size_t len = gatherQueued(buf);
      ERR_clear_error();
      int r = SSL_write(ssl_, buf, static_cast<int>(len));
      if (r <= 0) {
        int err = SSL_get_error(ssl_, r);
        if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
          waitWritable();
          return;
        }
        finishClose("TLS write error");
        return;
      }
      n = r;
    } else {
      std::array<iovec, 32> iov;
      std::size_t cnt = 0;
      std::size_t off = frontOffset_;
      for (std::size_t i = queueHead_; i < queue_.size() && cnt < iov.size(); ++i) {
        const std::string& b = *queue_[i];
        iov[cnt].iov_base = const_cast<char*>(b.data() + off);
        iov[cnt].iov_len = b.size() - off;
        ++cnt;
        off = 0;
      }
      msghdr msg{};
      msg.msg_iov = iov.data();
      msg.msg_iovlen = cnt;
      n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          waitWritable();
          return;
        }
        if (errno == EINTR) continue;
        finishClose(std::strerror(errno));
        return;
      }
    }
    queuedBytes_ -= static_cast<std::size_t>(n);
    bytesWritten_ += static_cast<std::size_t>(n);
    consumeQueue(static_cast<std::size_t>(n));
  }
  // Drained.
  queue_.clear();
  if (queue_.capacity() > 64) queue_.shrink_to_fit();
  queueHead_ = 0;
  if (backpressured_ && queuedBytes_ <= limits_.pauseBytes / 2) {
    backpressured_ = false;
    if (handler_) handler_->onBackpressure(false);
  }
  if (impl_->tlsPending) {
    impl_->tlsPending = false;
    handshaking_ = true;
    ssl_ = impl_->tlsContexts->newSsl();
    SSL_set_fd(ssl_, fd);
    SSL_set_accept_state(ssl_);
    if (impl_->tlsContexts->ownRecordLayer()) {
      // Read exactly the handshake's records, so that what the client sends after its Finished is still
      // in the memory BIO (readHandshakeBytes) when the record layer changes hands.
      SSL_set_read_ahead(ssl_, 0);
      impl_->handshakeRbio = BIO_new(BIO_s_mem());
      SSL_set0_rbio(ssl_, impl_->handshakeRbio);  // the socket BIO stays the write side
      impl_->capture = std::make_unique<Tls13Capture>();
      attachTls13Capture(ssl_, impl_->capture.get());
    }
    continueHandshake();
    return;
  }
  if (closing_) finishClose("closed");
}

// Copies up to one record's plaintext (kChunk bytes) from the front of the queue to `out`, without
// consuming it. Returns the number of bytes copied.
std::size_t Connection::gatherQueued(char* out) const {
  std::size_t len = 0;
  std::size_t off = frontOffset_;
  for (std::size_t i = queueHead_; i < queue_.size() && len < kChunk; ++i) {
    const std::string& b = *queue_[i];
    std::size_t take = std::min(b.size() - off, kChunk - len);
    std::memcpy(out + len, b.data() + off, take);
    len += take;
    off = 0;
  }
  return len;
}

// Drops n bytes from the front of the queue (the caller accounts for them).
void Connection::consumeQueue(std::size_t n) {
  while (n > 0) {
    std::size_t avail = queue_[queueHead_]->size() - frontOffset_;
    if (n >= avail) {
      n -= avail;
      queue_[queueHead_].reset();
      ++queueHead_;
      frontOffset_ = 0;
    } else {
      frontOffset_ += n;
      n = 0;
    }
  }
}

void Connection::startTls(const TlsContexts& contexts, std::function<void(bool, std::string)> done) {
  tlsStarted_ = true;
  handshakeDone_ = std::move(done);
  impl_->tlsContexts = &contexts;
  impl_->tlsPending = true;
  if (!writing_) flush();  // sends what is queued (e.g. <proceed/>), then starts the handshake
}

void Connection::continueHandshake() {
  while (true) {
    if (closed_) return;
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_);
    if (r == 1) {
      handshaking_ = false;
      tlsEstablished_ = true;
      if (impl_->capture) handOverRecordLayer();
      auto done = std::move(handshakeDone_);
      if (done) done(true, {});
      if (!closed_ && !closing_) {
        if (queueHead_ < queue_.size()) flush();
        const bool heldBack =
            impl_->records ? !impl_->rx.empty() : ssl_ && (SSL_has_pending(ssl_) || impl_->handshakeRbio);
        if (heldBack) {
          // The client's first bytes came with its last handshake record (read ahead, or left in the
          // handshake's memory BIO): the socket will not say readable for them again.
          executor_.post([this, self = keepAlive()] {
            if (self && !closed_ && !paused_ && !reading_) onReadable();
          });
        } else {
          armRead();
        }
      }
      return;
    }
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ && impl_->handshakeRbio && !impl_->handshakeDrained) {
      const int got = readHandshakeBytes();
      if (got > 0) continue;
      if (got < 0) return;
    }
    impl_->handshakeDrained = false;  // the wait below ends when there is more
    auto self = keepAlive();
    if (!self) return;
    if (err == SSL_ERROR_WANT_READ) {
      impl_->sock.async_wait(asio::ip::tcp::socket::wait_read,
                             [this, self](const boost::system::error_code& ec) {
                               if (closed_) return;
                               if (ec) {
                                 if (ec != asio::error::operation_aborted) abort(ec.message());
                                 return;
                               }
                               continueHandshake();
                             });
      return;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
      waitWritable();
      return;
    }
    unsigned long e = ERR_peek_last_error();
    char buf[200] = "handshake failed";
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    failHandshake(std::string("TLS handshake: ") + buf);
    return;
  }
}

void Connection::failHandshake(std::string reason) {
  handshaking_ = false;
  auto done = std::move(handshakeDone_);
  // Nothing sensible can be sent on a failed handshake: close the socket.
  finishClose(reason);
  if (done) done(false, reason);
}

// A handshake that may hand over reads through a memory BIO: one recv() takes whatever the socket has
// (a whole flight, often with the stream header the client sent right after its Finished), where
// OpenSSL without read-ahead would make two system calls per record; what OpenSSL does not take stays
// there for the record layer. 1: bytes added; 0: none yet (EAGAIN); -1: the connection ended.
int Connection::readHandshakeBytes() {
  char* buf = threadReadBuffer();
  while (true) {
    const ssize_t n = ::recv(impl_->sock.native_handle(), buf, kReadSize, 0);
    if (n > 0) {
      if (BIO_write(impl_->handshakeRbio, buf, static_cast<int>(n)) != static_cast<int>(n)) {
        failHandshake("TLS handshake: out of memory");
        return -1;
      }
      // Shorter than asked for: the socket is empty, so the next want-read waits without asking it.
      impl_->handshakeDrained = static_cast<std::size_t>(n) < kReadSize;
      return 1;
    }
    if (n == 0) {
      failHandshake("TLS handshake: peer closed");
      return -1;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    failHandshake(std::string("TLS handshake: ") + std::strerror(errno));
    return -1;
  }
}

// What the handshake's memory BIO still holds is the client's first application data: the record
// layer (rx) or OpenSSL (until it is used up, see onReadable) reads it before the socket.
std::string Connection::takeHandshakeLeftover() {
  std::string rest;
  if (BIO* mem = impl_->handshakeRbio) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(mem, &data);
    if (len > 0) rest.assign(data, static_cast<std::size_t>(len));
  }
  return rest;
}

// The handshake's memory BIO is used up: OpenSSL reads the socket from now on.
void Connection::readSocketFromNowOn() {
  BIO* sock = SSL_get_wbio(ssl_);
  BIO_up_ref(sock);
  SSL_set0_rbio(ssl_, sock);  // frees the memory BIO
  impl_->handshakeRbio = nullptr;
}

// After a TLS 1.3 handshake: continue with our own record layer and free the SSL object
// (tls13_records.h), keeping what channel binding and the stream header still need.
void Connection::handOverRecordLayer() {
  auto capture = std::move(impl_->capture);
  detachTls13Capture(ssl_);
  auto records = handOverTls13(ssl_, *capture);
  const std::string exporter = records ? net::tlsExporter(ssl_) : std::string();
  if (!records || exporter.size() != impl_->exporter.size()) {
    SSL_set_read_ahead(ssl_, 1);  // OpenSSL keeps the connection (TLS 1.2, another suite)
    if (BIO_pending(impl_->handshakeRbio) == 0) readSocketFromNowOn();
    log::debug("net.tls_record_layer", "peer={} layer=openssl version={}", remoteAddress_,
               SSL_get_version(ssl_));
    return;
  }
  log::debug("net.tls_record_layer", "peer={} layer=parley cipher={} server_seq={}", remoteAddress_,
             SSL_CIPHER_get_name(SSL_get_current_cipher(ssl_)), records->writeSeq());
  std::memcpy(impl_->exporter.data(), exporter.data(), exporter.size());
  impl_->sni = sniName();
  impl_->certContext = SSL_get_SSL_CTX(ssl_);
  SSL_CTX_up_ref(impl_->certContext);
  impl_->rx = takeHandshakeLeftover();
  SSL_free(ssl_);  // and the handshake's memory BIO with it
  ssl_ = nullptr;
  impl_->handshakeRbio = nullptr;
  impl_->records = std::move(records);
}

void Connection::readRecords() {
  char* buf = threadReadBuffer();
  // Records kept while reading was paused come first.
  if (!impl_->rx.empty() && !openRecords(nullptr, 0)) return;
  for (int i = 0; i < kReadsPerWakeup; ++i) {
    if (paused_ || closed_ || closing_) return;
    ssize_t n = ::recv(impl_->sock.native_handle(), buf, kReadSize, 0);
    if (n == 0) {
      finishClose("peer closed");  // TCP closed without a TLS close_notify: common, harmless here
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      finishClose(std::strerror(errno));
      return;
    }
    if (!openRecords(buf, static_cast<std::size_t>(n))) return;
    // A TCP recv() shorter than asked for emptied the receive queue: the next one would say EAGAIN.
    // Waiting right away is safe: the wait re-arms the socket in epoll (EPOLL_CTL_MOD), which reports
    // anything that arrived since at once.
    if (static_cast<std::size_t>(n) < kReadSize) break;
  }
  armRead();
}

// Opens and delivers the whole records in what was kept plus `data`; keeps the rest. False when the
// connection ended or reading paused (the rest is kept for resumeReading()).
bool Connection::openRecords(char* data, std::size_t size) {
  Impl& I = *impl_;
  std::string held;  // never touched by the handler: onData() may close the connection
  if (!I.rx.empty()) {
    held = std::move(I.rx);
    I.rx = std::string();
    if (size) held.append(data, size);
    data = held.data();
    size = held.size();
  }
  std::size_t off = 0;
  bool more = true;
  while (true) {
    if (closed_) return false;
    if (paused_ || closing_) {
      more = false;
      break;
    }
    std::optional<TlsAlert> bad;
    const std::size_t recSize = Tls13Records::recordSize(std::string_view(data + off, size - off), bad);
    if (bad) {
      failTls(static_cast<int>(*bad), "malformed TLS record");
      return false;
    }
    if (recSize == 0 || recSize > size - off) break;  // not all here yet
    TlsAlert alert{};
    auto rec = I.records->open(data + off, recSize, alert);
    off += recSize;
    if (!rec) {
      failTls(static_cast<int>(alert), "TLS record rejected");
      return false;
    }
    if (I.records->handshakePending() && rec->type != Tls13Records::kHandshake) {
      failTls(static_cast<int>(TlsAlert::UnexpectedMessage), "TLS record inside a split handshake message");
      return false;
    }
    if (rec->type == Tls13Records::kApplicationData) {
      if (rec->size) handler_->onData(std::string_view(rec->data, rec->size));
    } else if (rec->type == Tls13Records::kHandshake) {
      std::string reply;
      if (!I.records->onHandshakeData(std::string_view(rec->data, rec->size), reply, alert)) {
        failTls(static_cast<int>(alert), "unexpected TLS handshake message");
        return false;
      }
      if (!reply.empty()) sendProtected(std::move(reply));
    } else if (rec->type == Tls13Records::kAlert) {
      // RFC 8446 §6: one alert per record, never split or coalesced.
      if (rec->size != 2) {
        failTls(static_cast<int>(TlsAlert::DecodeError), "malformed TLS alert");
        return false;
      }
      const auto desc = static_cast<std::uint8_t>(rec->data[1]);
      if (desc == static_cast<std::uint8_t>(TlsAlert::CloseNotify)) {
        finishClose("peer closed TLS");
        return false;
      }
      if (desc != static_cast<std::uint8_t>(TlsAlert::UserCanceled)) {  // §6.1: a close_notify follows it
        finishClose(fmt::format("TLS alert {} from the peer", desc));
        return false;
      }
    } else {
      failTls(static_cast<int>(TlsAlert::UnexpectedMessage), "unexpected TLS content type");
      return false;
    }
  }
  if (off < size) I.rx.assign(data + off, size - off);
  return more;
}

// Queues protected control records (a KeyUpdate) after whatever is protected already.
void Connection::sendProtected(std::string records) {
  Impl& I = *impl_;
  // Tls13Records answers a KeyUpdate at most once per record of ours, so this stays small; a peer that
  // found a way to pile up control records without reading is dropped like one that does not read.
  if (I.tx.size() - I.txSent + records.size() > limits_.maxBytes) {
    abort("TLS control records not read by the peer");
    return;
  }
  if (I.txSent == I.tx.size()) {
    I.tx = std::move(records);
    I.txSent = 0;
  } else {
    I.tx.append(records);
  }
  if (!writing_) flush();
}

// Sends `alert` (best effort: not when a record is half written) and closes.
void Connection::failTls(int alert, std::string_view reason) {
  Impl& I = *impl_;
  std::string out;
  if (I.txSent == I.tx.size() && I.records->sealAlert(static_cast<TlsAlert>(alert), out)) {
    [[maybe_unused]] ssize_t n =
        ::send(I.sock.native_handle(), out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  I.tx = std::string();  // nothing after the alert, not even close_notify
  I.txSent = 0;
  I.records.reset();
  log::debug("net.tls_alert", "peer={} alert={} reason={}", remoteAddress_, alert, reason);
  finishClose(fmt::format("TLS: {}", reason));
}

// The write side after the handover: one record per system call, the plaintext counted as written
// once its whole record has left. True when everything is out; otherwise a write wait is armed (or
// the connection ended).
bool Connection::flushRecords() {
  Impl& I = *impl_;
  const int fd = I.sock.native_handle();
  while (true) {
    if (I.txSent < I.tx.size()) {
      ssize_t n = ::send(fd, I.tx.data() + I.txSent, I.tx.size() - I.txSent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          waitWritable();
          return false;
        }
        finishClose(std::strerror(errno));
        return false;
      }
      I.txSent += static_cast<std::size_t>(n);
      if (I.creditBytes && I.txSent >= I.creditAt) {
        queuedBytes_ -= I.creditBytes;
        bytesWritten_ += I.creditBytes;
        I.creditBytes = 0;
      }
      if (I.txSent == I.tx.size()) {
        I.tx = std::string();
        I.txSent = 0;
      }
      continue;
    }
    if (queueHead_ >= queue_.size()) return true;
    if (I.records->writeKeyDue()) {  // RFC 8446 §5.5
      if (!I.records->appendKeyUpdate(I.tx)) {
        finishClose("TLS key update failed");
        return false;
      }
      I.txSent = 0;
      continue;
    }
    // Gather small stanzas into one record.
    char* buf = threadWriteBuffer();
    const std::size_t len = gatherQueued(buf + Tls13Records::kHeaderSize);
    const std::size_t recSize = I.records->seal(Tls13Records::kApplicationData, buf, len);
    if (recSize == 0) {
      finishClose("TLS encryption failed");
      return false;
    }
    consumeQueue(len);
    std::size_t total = recSize;
    if (closing_ && queueHead_ >= queue_.size()) {
      // The stream's last bytes and the close_notify after them leave in one write.
      std::string alert;
      if (I.records->sealAlert(TlsAlert::CloseNotify, alert)) {
        std::memcpy(buf + recSize, alert.data(), alert.size());
        total += alert.size();
        I.closeNotifySent = true;
      }
    }
    ssize_t n;
    do {
      n = ::send(fd, buf, total, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      finishClose(std::strerror(errno));
      return false;
    }
    const std::size_t sent = n < 0 ? 0 : static_cast<std::size_t>(n);
    if (sent >= recSize) {
      queuedBytes_ -= len;
      bytesWritten_ += len;
    }
    if (sent == total) continue;
    // The records are sealed (their sequence numbers are spent): keep the rest of them for later.
    I.tx.assign(buf + sent, total - sent);
    I.txSent = 0;
    if (sent < recSize) {
      I.creditAt = recSize - sent;
      I.creditBytes = len;
    }
    waitWritable();
    return false;
  }
}

void Connection::close(std::chrono::milliseconds timeout) {
  if (closed_ || closing_) return;
  closing_ = true;
  if (handshaking_ || impl_->tlsPending) {
    // Nothing queued can be delivered before the handshake completes, and a peer that stalls its
    // handshake (a slow-loris sending a ClientHello byte by byte) would otherwise keep the socket for
    // the whole flush timeout past the pre-authentication timeout: close at once.
    finishClose("closed during the TLS handshake");
    return;
  }
  if (queueHead_ >= queue_.size() && !writing_) {
    finishClose("closed");
    return;
  }
  auto self = keepAlive();
  impl_->closeTimer = std::make_unique<asio::steady_timer>(executor_.context(), timeout);
  impl_->closeTimer->async_wait([this, self](const boost::system::error_code& ec) {
    if (!ec && !closed_) finishClose("close timeout");
  });
  if (!writing_) flush();
}

void Connection::abort(std::string_view reason) {
  queue_.clear();
  queueHead_ = 0;
  frontOffset_ = 0;
  queuedBytes_ = 0;
  finishClose(reason);
}

void Connection::finishClose(std::string_view reason) {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ec;
  // Best effort close_notify; never wait for the peer's. Not while a record is half written (the peer
  // is not reading): completing it would hand over bytes bytesWritten() says never left.
  if (ssl_ && tlsEstablished_ && !writing_) {
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
  } else if (impl_->records && !impl_->closeNotifySent && impl_->txSent == impl_->tx.size()) {
    std::string alert;
    if (impl_->records->sealAlert(TlsAlert::CloseNotify, alert)) {
      [[maybe_unused]] ssize_t n =
          ::send(impl_->sock.native_handle(), alert.data(), alert.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
  }
  impl_->rx = std::string();
  impl_->tx = std::string();
  impl_->txSent = impl_->creditBytes = 0;
  if (impl_->closeTimer) impl_->closeTimer->cancel();
  impl_->sock.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  impl_->sock.close(ec);
  queue_.clear();
  queue_.shrink_to_fit();
  queueHead_ = 0;
  queuedBytes_ = 0;
  if (!disconnectedReported_ && handler_) {
    disconnectedReported_ = true;
    if (inSend_) {
      executor_.post([this, self = keepAlive(), why = std::string(reason)] {
        if (self && handler_) handler_->onDisconnected(why);
      });
    } else {
      handler_->onDisconnected(reason);
    }
  }
}

}  // namespace parley::net
