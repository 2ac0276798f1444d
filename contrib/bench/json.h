// A tiny ordered JSON object writer for the report on stdout. Values are serialised when they are set,
// so nesting is just setting an object as a value.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parley::bench {

class JsonObject {
 public:
  JsonObject& set(std::string_view key, std::string_view value);
  JsonObject& set(std::string_view key, const char* value) { return set(key, std::string_view(value)); }
  JsonObject& set(std::string_view key, const std::string& value) {
    return set(key, std::string_view(value));
  }
  JsonObject& set(std::string_view key, bool value);
  JsonObject& set(std::string_view key, double value);  // NaN and infinities become null
  template <std::integral T>
  requires(!std::same_as<T, bool>) JsonObject& set(std::string_view key, T value) {
    return setRaw(key, std::to_string(value));
  }
  JsonObject& set(std::string_view key, const JsonObject& value) { return setRaw(key, value.str()); }
  JsonObject& setNull(std::string_view key) { return setRaw(key, "null"); }
  // `raw` must already be valid JSON.
  JsonObject& setRaw(std::string_view key, std::string raw);

  bool empty() const { return fields_.empty(); }
  std::string str() const;

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

std::string jsonQuote(std::string_view text);

}  // namespace parley::bench
