#include "server/runtime/executor.h"

#include "server/runtime/asio.h"

namespace parley::runtime {

namespace {
thread_local Executor tCurrent;
}

Executor Executor::current() {
  return tCurrent;
}
void Executor::setCurrent(Executor e) {
  tCurrent = e;
}

void Executor::post(std::function<void()> fn) const {
  asio::post(*ctx_, std::move(fn));
}

bool Executor::runningInThisThread() const {
  return ctx_ && ctx_->get_executor().running_in_this_thread();
}

struct Timer::Impl {
  explicit Impl(asio::io_context& ctx) : timer(ctx) {}
  asio::steady_timer timer;
  bool cancelled = false;
};

Timer::Timer(Executor exec, std::chrono::steady_clock::duration after, std::function<void()> fn)
    : impl_(std::make_shared<Impl>(exec.context())) {
  impl_->timer.expires_after(after);
  // The handler holds the Impl alive; `cancelled` guards against a completion already queued.
  impl_->timer.async_wait([impl = impl_, fn = std::move(fn)](const boost::system::error_code& ec) {
    if (!ec && !impl->cancelled) fn();
  });
}

Timer::~Timer() {
  cancel();
}

void Timer::cancel() {
  if (!impl_) return;
  impl_->cancelled = true;
  impl_->timer.cancel();
}

}  // namespace parley::runtime
