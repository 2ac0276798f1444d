#include "server/net/listener.h"

#include <stdexcept>

#include <fmt/format.h>

#include "server/log/log.h"
#include "server/runtime/asio.h"

namespace parley::net {

bool AddressLimiter::acquire(const std::string& ip) {
  std::lock_guard lock(mu_);
  Count& c = counts_[ip];
  if (c.total >= maxTotal_ || c.unauth >= maxUnauth_) {
    if (c.total == 0) counts_.erase(ip);
    return false;
  }
  ++c.total;
  ++c.unauth;
  return true;
}

void AddressLimiter::authenticated(const std::string& ip) {
  std::lock_guard lock(mu_);
  auto it = counts_.find(ip);
  if (it != counts_.end() && it->second.unauth > 0) --it->second.unauth;
}

void AddressLimiter::release(const std::string& ip, bool wasAuthenticated) {
  std::lock_guard lock(mu_);
  auto it = counts_.find(ip);
  if (it == counts_.end()) return;
  --it->second.total;
  if (!wasAuthenticated && it->second.unauth > 0) --it->second.unauth;
  if (it->second.total <= 0) counts_.erase(it);
}

struct Listener::Impl : std::enable_shared_from_this<Impl> {
  Impl(runtime::IoPool& p, AcceptHandler h)
      : pool(p), exec0(p.executor(0)), acceptor(exec0.context()), handler(std::move(h)) {}
  runtime::IoPool& pool;
  runtime::Executor exec0;
  asio::ip::tcp::acceptor acceptor;
  AcceptHandler handler;
  bool stopped = false;

  void acceptNext() {
    if (stopped) return;
    runtime::Executor target = pool.next();
    acceptor.async_accept(
        target.context(),
        [self = shared_from_this(), target](const boost::system::error_code& ec, asio::ip::tcp::socket sock) {
          if (self->stopped) return;
          if (ec) {
            if (ec == asio::error::operation_aborted) return;
            // EMFILE and friends: log, back off briefly by continuing (the accept queue keeps the peer).
            log::warn("net.accept.failed", "error=\"{}\"", ec.message());
          } else {
            boost::system::error_code e2;
            auto ep = sock.remote_endpoint(e2);
            std::string ip = e2 ? std::string("unknown") : ep.address().to_string();
            if (ip.rfind("::ffff:", 0) == 0) ip = ip.substr(7);  // IPv4-mapped: count as the IPv4 address
            int fd = sock.release(e2);
            if (!e2) {
              auto handler = self->handler;
              target.post([handler, target, fd, ip] { handler(target, fd, ip); });
            }
          }
          self->acceptNext();
        });
  }
};

Listener::Listener(runtime::IoPool& pool, std::string address, std::uint16_t port, AcceptHandler handler)
    : impl_(std::make_shared<Impl>(pool, std::move(handler))), address_(std::move(address)) {
  port_ = port;
}

Listener::~Listener() {
  stop();
}

void Listener::start() {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(address_, ec);
  if (ec) throw std::runtime_error(fmt::format("listener address \"{}\" is not an IP address", address_));
  asio::ip::tcp::endpoint ep(addr, port_);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (ec && addr.is_v6() && addr.is_unspecified()) {
    // No IPv6 on this machine: "::" falls back to every IPv4 address.
    ep = asio::ip::tcp::endpoint(asio::ip::tcp::v4(), port_);
    ec.clear();
    a.open(ep.protocol(), ec);
  }
  if (!ec && ep.address().is_v6()) a.set_option(asio::ip::v6_only(false), ec);  // dual stack
  ec.clear();
  a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(1024, ec);
  if (ec) {
    a.close();
    throw std::runtime_error(fmt::format("cannot listen on [{}]:{}: {}", address_, port_, ec.message()));
  }
  port_ = a.local_endpoint().port();
  impl_->acceptNext();
}

void Listener::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  auto impl = impl_;
  // The acceptor belongs to network thread 0: close it there.
  impl->exec0.post([impl] {
    boost::system::error_code ec;
    impl->acceptor.close(ec);
  });
}

std::uint16_t Listener::port() const {
  return port_;
}

}  // namespace parley::net
