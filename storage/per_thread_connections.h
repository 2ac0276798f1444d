// DESIGN: one Connection per calling thread, for the Database backends (SQLite, MySQL). Storage runs
// only on the blocking pool, so the pool's threads are the connection pool: a connection is opened on a
// thread's first use and never shared, so no engine-side locking is needed. Connections live in a
// mutex-protected map keyed by thread id, with a thread_local one-entry cache in front so the common
// path takes no lock. The cache is keyed by a process-unique id (never by address), so an entry left
// behind by a destroyed database can never match a new one.
//
// Lifetime: the destructor closes every connection; it must run after the pools that use the database
// have drained. Connections of threads that exited stay open until then (a new thread that reuses the
// id takes the idle connection over). A backend declares this member last, so its connections close
// before the settings they were opened with go away.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "storage/database.h"

namespace parley::storage {

class PerThreadConnections {
 public:
  PerThreadConnections();
  ~PerThreadConnections();
  PerThreadConnections(const PerThreadConnections&) = delete;
  PerThreadConnections& operator=(const PerThreadConnections&) = delete;

  // This thread's connection, opened with `open` on first use (outside the lock: opening may wait on
  // a busy timeout or a network connect). Exceptions from `open` propagate; nothing is cached then.
  Connection& get(const std::function<std::unique_ptr<Connection>()>& open);
  // Open connections, one per thread that has used the database (for tests and metrics).
  std::size_t size() const;

 private:
  const std::uint64_t id_;
  mutable std::mutex mutex_;
  std::unordered_map<std::thread::id, std::unique_ptr<Connection>> connections_;
};

}  // namespace parley::storage
