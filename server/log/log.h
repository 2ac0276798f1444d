// Structured logging: every line is "<time> <level> <event> key=value…", with a stable dotted event name
// (`c2s.auth.failed`) so operators can grep and alert on it. Message bodies, passwords and tokens are
// never logged above debug level. Lines go to stderr (systemd/journald collects them).
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

namespace parley::log {

// Installs the stderr logger. `level`: trace, debug, info, warn, error. Returns false on a bad level.
bool init(std::string_view level);
bool validLevel(std::string_view level);
bool debugEnabled();

template <class... Args>
void trace(std::string_view event, fmt::format_string<Args...> f, Args&&... args) {
  if (spdlog::should_log(spdlog::level::trace))
    spdlog::trace("{} {}", event, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void debug(std::string_view event, fmt::format_string<Args...> f, Args&&... args) {
  if (spdlog::should_log(spdlog::level::debug))
    spdlog::debug("{} {}", event, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void info(std::string_view event, fmt::format_string<Args...> f, Args&&... args) {
  if (spdlog::should_log(spdlog::level::info))
    spdlog::info("{} {}", event, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void warn(std::string_view event, fmt::format_string<Args...> f, Args&&... args) {
  if (spdlog::should_log(spdlog::level::warn))
    spdlog::warn("{} {}", event, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void error(std::string_view event, fmt::format_string<Args...> f, Args&&... args) {
  if (spdlog::should_log(spdlog::level::err))
    spdlog::error("{} {}", event, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace parley::log
