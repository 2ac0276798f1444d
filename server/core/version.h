// The server's product name and version, defined once (XEP-0092 answers, parleyctl, logs).
#pragma once

#include <string_view>

#define PARLEY_VERSION "0.1.0"

namespace parley::core {

inline constexpr std::string_view kProductName = "Parley";
inline constexpr std::string_view kVersion = PARLEY_VERSION;

}  // namespace parley::core
