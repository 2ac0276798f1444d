// DESIGN: typed hooks. A hook is a C++ type declared once in hooks.h with the context struct its
// handlers receive; registering or running an undeclared hook does not compile. Handlers run in order
// of priority (lower first), ties in registration order. A handler returns Continue or Stop; Stop ends
// the chain (the handler took responsibility, e.g. it answered or stored the stanza). A handler that
// throws is logged and counted, and the chain goes on, so one broken module cannot stop routing.
// Registration returns an RAII HookHandle; a module keeps its handles and unloading it removes them.
// Handlers are registered at start-up and removed at shutdown, so the lists are copy-on-write: running a
// hook is one atomic load of the current list, with no lock and no reference count (every routed stanza
// runs several hooks on every network thread; a shared counter there bounces between cores). A list
// replaced by an add or remove is kept until the registry goes away, since a run on another thread may
// still be reading it; that is a few hundred small vectors over a process's life.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

namespace parley::hooks {

enum class Action { Continue, Stop };

namespace priority {
inline constexpr int kFirst = 0;     // security checks (blocking, rate limits)
inline constexpr int kEarly = 100;   // stamping (stanza ids)
inline constexpr int kNormal = 500;  // most features
inline constexpr int kLate = 900;    // copies and notifications (carbons, push)
inline constexpr int kLast = 1000;   // fallbacks (offline storage)
}  // namespace priority

void reportHandlerFailure(std::string_view hook, std::string_view what);
std::uint64_t handlerFailures();

namespace detail {
std::size_t nextHookId();
template <class Hook>
inline const std::size_t kHookId = nextHookId();

struct HandlerListBase {
  virtual ~HandlerListBase() = default;
  virtual void remove(std::uint64_t token) = 0;
};
}  // namespace detail

class HookRegistry;

// Removes its handler when destroyed.
class HookHandle {
 public:
  HookHandle() = default;
  HookHandle(std::weak_ptr<detail::HandlerListBase> list, std::uint64_t token)
      : list_(std::move(list)), token_(token) {}
  HookHandle(HookHandle&& o) noexcept : list_(std::move(o.list_)), token_(o.token_) { o.token_ = 0; }
  HookHandle& operator=(HookHandle&& o) noexcept {
    if (this != &o) {
      reset();
      list_ = std::move(o.list_);
      token_ = o.token_;
      o.token_ = 0;
    }
    return *this;
  }
  ~HookHandle() { reset(); }
  void reset() {
    if (token_)
      if (auto l = list_.lock()) l->remove(token_);
    token_ = 0;
  }

 private:
  std::weak_ptr<detail::HandlerListBase> list_;
  std::uint64_t token_ = 0;
};

class HookRegistry {
 public:
  static constexpr std::size_t kMaxHooks = 256;

  template <class Hook>
  using Handler = std::function<Action(typename Hook::Context&)>;

  template <class Hook>
  [[nodiscard]] HookHandle add(Handler<Hook> fn, int prio = priority::kNormal) {
    std::shared_ptr<List<Hook>> list = listFor<Hook>();
    std::uint64_t token = nextToken_.fetch_add(1) + 1;
    {
      std::lock_guard lock(list->writeMu);
      auto next = std::make_unique<std::vector<Entry<Hook>>>(*list->handlers.load());
      auto pos = next->begin();
      while (pos != next->end() && pos->priority <= prio) ++pos;
      next->insert(pos, Entry<Hook>{prio, token, std::move(fn)});
      list->publish(std::move(next));
    }
    return HookHandle(list, token);
  }

  // Runs the chain; Stop if a handler stopped it.
  template <class Hook>
  Action run(typename Hook::Context& ctx) {
    auto* list = static_cast<List<Hook>*>(slots_[detail::kHookId<Hook>].load(std::memory_order_acquire));
    if (!list) return Action::Continue;
    const auto* snapshot = list->handlers.load(std::memory_order_acquire);
    for (const auto& e : *snapshot) {
      try {
        if (e.fn(ctx) == Action::Stop) return Action::Stop;
      } catch (const std::exception& ex) {
        reportHandlerFailure(Hook::kName, ex.what());
      } catch (...) {
        reportHandlerFailure(Hook::kName, "unknown exception");
      }
    }
    return Action::Continue;
  }

  template <class Hook>
  std::size_t count() {
    auto* list = static_cast<List<Hook>*>(slots_[detail::kHookId<Hook>].load(std::memory_order_acquire));
    return list ? list->handlers.load(std::memory_order_acquire)->size() : 0;
  }

 private:
  template <class Hook>
  struct Entry {
    int priority;
    std::uint64_t token;
    Handler<Hook> fn;
  };
  // Copy-on-write list: runs read the current immutable vector without locking; writers (under
  // writeMu) publish a new one and retire the old one, which lives as long as the list.
  template <class Hook>
  struct List : detail::HandlerListBase {
    using Vector = std::vector<Entry<Hook>>;
    List() { publish(std::make_unique<Vector>()); }
    std::mutex writeMu;
    std::atomic<const Vector*> handlers{nullptr};
    std::vector<std::unique_ptr<const Vector>> versions;  // every vector ever published (writeMu)
    void publish(std::unique_ptr<const Vector> next) {
      handlers.store(next.get(), std::memory_order_release);
      versions.push_back(std::move(next));
    }
    void remove(std::uint64_t token) override {
      std::lock_guard lock(writeMu);
      auto next = std::make_unique<Vector>(*handlers.load(std::memory_order_acquire));
      std::erase_if(*next, [&](const Entry<Hook>& e) { return e.token == token; });
      publish(std::move(next));
    }
  };

  template <class Hook>
  std::shared_ptr<List<Hook>> listFor() {
    const std::size_t id = detail::kHookId<Hook>;
    std::lock_guard lock(mu_);
    if (owned_.size() <= id) owned_.resize(id + 1);
    if (!owned_[id]) {
      owned_[id] = std::make_shared<List<Hook>>();
      slots_.at(id).store(owned_[id].get(), std::memory_order_release);
    }
    return std::static_pointer_cast<List<Hook>>(owned_[id]);
  }

  std::mutex mu_;
  std::vector<std::shared_ptr<detail::HandlerListBase>> owned_;
  std::array<std::atomic<detail::HandlerListBase*>, kMaxHooks> slots_{};
  std::atomic<std::uint64_t> nextToken_{0};
};

}  // namespace parley::hooks
