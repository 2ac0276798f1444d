// Shared bits of the load and durability tests (kill9_test, flood_test, shutdown_test): XEP-0198 acks
// and message bodies read out of what a RawClient received, environment knobs, percentiles.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace parley::test {

inline int envInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// The largest h of the XEP-0198 <a/> elements in `xml` (`known` if none is larger).
inline std::uint32_t lastAck(const std::string& xml, std::uint32_t known = 0) {
  constexpr std::string_view kAck = "<a xmlns='urn:xmpp:sm:3' h='";
  for (auto pos = xml.find(kAck); pos != std::string::npos; pos = xml.find(kAck, pos + 1)) {
    const auto h = static_cast<std::uint32_t>(std::strtoul(xml.c_str() + pos + kAck.size(), nullptr, 10));
    if (h > known) known = h;
  }
  return known;
}

// The bodies starting with `prefix` of the complete messages in `xml`, in order. A message cut off at
// the end (the connection closed in the middle of it) does not count: its client never got it.
inline std::vector<std::string> messageBodies(const std::string& xml, std::string_view prefix) {
  std::vector<std::string> out;
  const std::string open = "<body>" + std::string(prefix);
  for (auto pos = xml.find(open); pos != std::string::npos; pos = xml.find(open, pos + 1)) {
    const auto start = pos + 6;
    const auto end = xml.find("</body>", start);
    if (end == std::string::npos || xml.find("</message>", end) == std::string::npos) break;
    out.push_back(xml.substr(start, end - start));
  }
  return out;
}

// The p-th percentile (0–100, nearest rank) of `values`; 0 when empty.
inline double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(values.size()) + 0.5);
  rank = std::clamp<std::size_t>(rank, 1, values.size());
  return values[rank - 1];
}

}  // namespace parley::test
