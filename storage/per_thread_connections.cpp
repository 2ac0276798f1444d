#include "storage/per_thread_connections.h"

#include <atomic>

namespace parley::storage {

namespace {

std::atomic<std::uint64_t> gNextId{1};

// This thread's most recently used connection, keyed by the owner's id (see the DESIGN note).
struct ThreadCache {
  std::uint64_t ownerId = 0;
  Connection* connection = nullptr;
};
thread_local ThreadCache tCache;

}  // namespace

PerThreadConnections::PerThreadConnections() : id_(gNextId.fetch_add(1)) {}

PerThreadConnections::~PerThreadConnections() {
  if (tCache.ownerId == id_) tCache = {};
  std::lock_guard lock(mutex_);
  connections_.clear();
}

Connection& PerThreadConnections::get(const std::function<std::unique_ptr<Connection>()>& open) {
  if (tCache.ownerId == id_) return *tCache.connection;
  const auto self = std::this_thread::get_id();
  Connection* found = nullptr;
  {
    std::lock_guard lock(mutex_);
    // A thread id can be reused after its thread exits; the new thread takes over the idle connection.
    if (auto it = connections_.find(self); it != connections_.end()) found = it->second.get();
  }
  if (!found) {
    auto opened = open();  // only this thread adds this key
    std::lock_guard lock(mutex_);
    found = connections_.emplace(self, std::move(opened)).first->second.get();
  }
  tCache = {id_, found};
  return *found;
}

std::size_t PerThreadConnections::size() const {
  std::lock_guard lock(mutex_);
  return connections_.size();
}

}  // namespace parley::storage
