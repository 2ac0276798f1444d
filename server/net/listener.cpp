#include "server/net/listener.h"

#include <algorithm>
#include <stdexcept>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include "server/log/log.h"
#include "server/runtime/asio.h"

namespace parley::net {

std::string addressKey(std::string_view ip) {
  std::string s(ip);
  in6_addr a6{};
  if (s.find(':') == std::string::npos || ::inet_pton(AF_INET6, s.c_str(), &a6) != 1) return s;
  if (IN6_IS_ADDR_V4MAPPED(&a6)) {
    // "::ffff:192.0.2.1" (a dual-stack socket, or a proxy's X-Forwarded-For) is an IPv4 client: its /64
    // would be "::/64", one shared limit for every IPv4 client.
    char v4[INET_ADDRSTRLEN];
    if (::inet_ntop(AF_INET, a6.s6_addr + 12, v4, sizeof v4)) return v4;
  }
  std::fill(a6.s6_addr + 8, a6.s6_addr + 16, 0);
  char buf[INET6_ADDRSTRLEN];
  if (!::inet_ntop(AF_INET6, &a6, buf, sizeof buf)) return s;
  return std::string(buf) + "/64";
}

bool AddressLimiter::acquire(const std::string& ip) {
  const std::string key = addressKey(ip);
  std::lock_guard lock(mu_);
  Count& c = counts_[key];
  if (c.total >= maxTotal_ || c.unauth >= maxUnauth_) {
    if (c.total == 0) counts_.erase(key);
    return false;
  }
  ++c.total;
  ++c.unauth;
  return true;
}

void AddressLimiter::authenticated(const std::string& ip) {
  const std::string key = addressKey(ip);
  std::lock_guard lock(mu_);
  auto it = counts_.find(key);
  if (it != counts_.end() && it->second.unauth > 0) --it->second.unauth;
}

void AddressLimiter::release(const std::string& ip, bool wasAuthenticated) {
  const std::string key = addressKey(ip);
  std::lock_guard lock(mu_);
  auto it = counts_.find(key);
  if (it == counts_.end()) return;
  --it->second.total;
  if (!wasAuthenticated && it->second.unauth > 0) --it->second.unauth;
  if (it->second.total <= 0) counts_.erase(it);
}

struct Listener::Impl : std::enable_shared_from_this<Impl> {
  Impl(runtime::IoPool& p, AcceptHandler h)
      : pool(p),
        exec0(p.executor(0)),
        acceptor(exec0.context()),
        retry(exec0.context()),
        handler(std::move(h)) {}
  runtime::IoPool& pool;
  runtime::Executor exec0;
  asio::ip::tcp::acceptor acceptor;
  asio::steady_timer retry;  // after an accept error
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
            // EMFILE and friends: the peer stays in the kernel's accept queue and the next accept fails
            // again at once, so accepting again immediately spun network thread 0 at 100% (starving the
            // sessions on it) for as long as descriptors were exhausted — which an unauthenticated
            // connection flood can cause. Wait a moment instead; the queue keeps the peers meanwhile.
            log::warn("net.accept.failed", "error=\"{}\"", ec.message());
            self->retry.expires_after(std::chrono::milliseconds(100));
            self->retry.async_wait([self](const boost::system::error_code& e) {
              if (!e) self->acceptNext();
            });
            return;
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
    impl->retry.cancel();
    impl->acceptor.close(ec);
  });
}

std::uint16_t Listener::port() const {
  return port_;
}

}  // namespace parley::net
