#include "server/net/connection.h"

#include <array>
#include <cerrno>
#include <cstring>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "server/log/log.h"
#include "server/net/tls_context.h"
#include "server/runtime/asio.h"

namespace parley::net {

namespace {

constexpr std::size_t kChunk = 16 * 1024;  // one TLS record
constexpr int kReadsPerWakeup = 8;         // fairness between connections on one thread

// One read buffer and one TLS write gather buffer per network thread: idle connections own none.
char* threadReadBuffer() {
  thread_local std::array<char, kChunk> buf;
  return buf.data();
}
char* threadWriteBuffer() {
  thread_local std::array<char, kChunk> buf;
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
  asio::ip::tcp::socket sock;
  std::unique_ptr<asio::steady_timer> closeTimer;
  bool tlsPending = false;  // startTls() waits for queued plaintext to go out first
  const TlsContexts* tlsContexts = nullptr;
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
  if (!ssl_) return {};
  const char* n = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return n ? n : "";
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

void Connection::onReadable() {
  char* buf = threadReadBuffer();
  for (int i = 0; i < kReadsPerWakeup; ++i) {
    if (paused_ || closed_ || closing_) return;
    ssize_t n;
    if (ssl_) {
      ERR_clear_error();
      int r = SSL_read(ssl_, buf, static_cast<int>(kChunk));
      if (r <= 0) {
        int err = SSL_get_error(ssl_, r);
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
      n = ::recv(impl_->sock.native_handle(), buf, kChunk, 0);
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
  if (closed_ || overflowed_ || !bytes || bytes->empty()) return;
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
  if (!writing_ && !handshaking_) {
    inSend_ = true;  // a write error in flush() is reported from a posted task (ConnectionHandler)
    flush();
    inSend_ = false;
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
  while (queueHead_ < queue_.size()) {
    ssize_t n;
    if (ssl_) {
      // Gather small stanzas into one TLS record. After WANT_WRITE the retry rebuilds the same bytes
      // from the unchanged queue, as SSL_write requires.
      char* buf = threadWriteBuffer();
      std::size_t len = 0;
      std::size_t off = frontOffset_;
      for (std::size_t i = queueHead_; i < queue_.size() && len < kChunk; ++i) {
        const std::string& b = *queue_[i];
        std::size_t take = std::min(b.size() - off, kChunk - len);
        std::memcpy(buf + len, b.data() + off, take);
        len += take;
        off = 0;
      }
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
    // Consume n bytes from the queue.
    std::size_t left = static_cast<std::size_t>(n);
    queuedBytes_ -= left;
    bytesWritten_ += left;
    while (left > 0) {
      std::size_t avail = queue_[queueHead_]->size() - frontOffset_;
      if (left >= avail) {
        left -= avail;
        queue_[queueHead_].reset();
        ++queueHead_;
        frontOffset_ = 0;
      } else {
        frontOffset_ += left;
        left = 0;
      }
    }
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
    continueHandshake();
    return;
  }
  if (closing_) finishClose("closed");
}

void Connection::startTls(const TlsContexts& contexts, std::function<void(bool, std::string)> done) {
  handshakeDone_ = std::move(done);
  impl_->tlsContexts = &contexts;
  impl_->tlsPending = true;
  if (!writing_) flush();  // sends what is queued (e.g. <proceed/>), then starts the handshake
}

void Connection::continueHandshake() {
  if (closed_) return;
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    handshaking_ = false;
    tlsEstablished_ = true;
    auto done = std::move(handshakeDone_);
    if (done) done(true, {});
    if (!closed_ && !closing_) {
      if (queueHead_ < queue_.size()) flush();
      if (SSL_has_pending(ssl_)) {
        // Read-ahead took the client's first bytes with its last handshake record: the socket will not
        // say readable for them again.
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
  handshaking_ = false;
  auto done = std::move(handshakeDone_);
  std::string reason = std::string("TLS handshake: ") + buf;
  // Nothing sensible can be sent on a failed handshake: close the socket.
  finishClose(reason);
  if (done) done(false, reason);
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
  }
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
