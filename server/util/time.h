// XEP-0082 date and time profiles (UTC, "2026-11-28T01:30:00Z").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley::util {

std::int64_t unixNow();
std::string iso8601(std::int64_t unixSeconds);  // "YYYY-MM-DDThh:mm:ssZ"
// Parses the XEP-0082 DateTime profile (optional fraction, Z or ±hh:mm); nullopt if invalid.
std::optional<std::int64_t> parseIso8601(std::string_view text);

}  // namespace parley::util
