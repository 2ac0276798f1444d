// DESIGN: a Listener accepts TCP connections on one address and hands each to a factory on the network
// thread that will own it (round-robin over the IO pool). Per-IP limits are checked before anything
// else is allocated. Port 0 binds a free port; port() tells which (tests and the benchmark use it).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "server/runtime/executor.h"
#include "server/runtime/io_pool.h"

namespace parley::net {

// The key per-address limits count under: an IPv4 address as it is, an IPv6 address as its /64 network
// ("2001:db8:1:2::/64"). An IPv6 host is normally given a whole /64 and may use any address in it
// (privacy addresses, RFC 8981), so counting single IPv6 addresses would let one client multiply its
// limits by 2^64. Anything that does not parse is returned unchanged.
std::string addressKey(std::string_view ip);

// Counts connections per remote address (by addressKey()) (total and not yet authenticated). Thread-safe.
class AddressLimiter {
 public:
  AddressLimiter(int maxPerIp, int maxUnauthenticatedPerIp)
      : maxTotal_(maxPerIp), maxUnauth_(maxUnauthenticatedPerIp) {}
  // Reserves a slot for a new, unauthenticated connection; false when a limit is reached.
  bool acquire(const std::string& ip);
  void authenticated(const std::string& ip);  // the connection stops counting as unauthenticated
  void release(const std::string& ip, bool wasAuthenticated);

 private:
  struct Count {
    int total = 0;
    int unauth = 0;
  };
  int maxTotal_, maxUnauth_;
  std::mutex mu_;
  std::unordered_map<std::string, Count> counts_;
};

// Called on the chosen network thread with a connected, non-blocking socket it must own.
using AcceptHandler = std::function<void(runtime::Executor executor, int fd, std::string remoteIp)>;

class Listener {
 public:
  Listener(runtime::IoPool& pool, std::string address, std::uint16_t port, AcceptHandler handler);
  ~Listener();
  // Binds and starts accepting; throws std::runtime_error with the address on failure.
  void start();
  void stop();
  std::uint16_t port() const;
  const std::string& address() const { return address_; }

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  std::string address_;
  std::uint16_t port_ = 0;
};

}  // namespace parley::net
