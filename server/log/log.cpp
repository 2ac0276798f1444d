#include "server/log/log.h"

#include <memory>
#include <optional>

#include <spdlog/sinks/stdout_sinks.h>

namespace parley::log {

namespace {
std::optional<spdlog::level::level_enum> parseLevel(std::string_view level) {
  if (level == "trace") return spdlog::level::trace;
  if (level == "debug") return spdlog::level::debug;
  if (level == "info") return spdlog::level::info;
  if (level == "warn") return spdlog::level::warn;
  if (level == "error") return spdlog::level::err;
  return std::nullopt;
}
}  // namespace

bool validLevel(std::string_view level) {
  return parseLevel(level).has_value();
}

bool init(std::string_view level) {
  auto parsed = parseLevel(level);
  if (!parsed) return false;
  static bool installed = false;
  if (!installed) {
    auto logger =
        std::make_shared<spdlog::logger>("parley", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
    spdlog::set_default_logger(logger);
    installed = true;
  }
  spdlog::set_level(*parsed);
  spdlog::flush_on(spdlog::level::info);
  return true;
}

bool debugEnabled() {
  return spdlog::should_log(spdlog::level::debug);
}

}  // namespace parley::log
