#include "contrib/bench/json.h"

#include <cmath>

#include <fmt/format.h>

namespace parley::bench {

std::string jsonQuote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        else
          out += c;
    }
  }
  out += '"';
  return out;
}

JsonObject& JsonObject::set(std::string_view key, std::string_view value) {
  return setRaw(key, jsonQuote(value));
}

JsonObject& JsonObject::set(std::string_view key, bool value) {
  return setRaw(key, value ? "true" : "false");
}

JsonObject& JsonObject::set(std::string_view key, double value) {
  if (!std::isfinite(value)) return setRaw(key, "null");
  // Four decimals are plenty for seconds, milliseconds and rates; fmt prints the shortest form.
  return setRaw(key, fmt::format("{}", std::round(value * 1e4) / 1e4));
}

JsonObject& JsonObject::setRaw(std::string_view key, std::string raw) {
  for (auto& [k, v] : fields_) {
    if (k == key) {
      v = std::move(raw);
      return *this;
    }
  }
  fields_.emplace_back(std::string(key), std::move(raw));
  return *this;
}

std::string JsonObject::str() const {
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : fields_) {
    if (!first) out += ',';
    first = false;
    out += jsonQuote(k);
    out += ':';
    out += v;
  }
  out += '}';
  return out;
}

}  // namespace parley::bench
