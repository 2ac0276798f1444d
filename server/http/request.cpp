// The Beast-free parts of the HTTP server (http_server.h): request accessors, the request-target split
// and percent-encoding. Kept apart so the HTTP fuzz target (tests/fuzz) links them without Beast.
#include <string>
#include <string_view>

#include "server/http/http_server.h"

namespace parley::http {

std::string_view Request::header(std::string_view lowerName) const {
  for (const auto& h : headers)
    if (h.name == lowerName) return h.value;
  return {};
}

std::optional<std::string> Request::queryParam(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view item = q.substr(0, amp);
    auto eq = item.find('=');
    std::string_view k = item.substr(0, eq);
    if (percentDecode(k) == name) {
      bool ok = true;
      std::string v = eq == std::string_view::npos ? std::string() : percentDecode(item.substr(eq + 1), &ok);
      if (!ok) return std::nullopt;
      return v;
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

Response Response::text(int status, std::string body, std::string contentType) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers.push_back({"Content-Type", std::move(contentType)});
  return r;
}

std::string percentDecode(std::string_view s, bool* ok) {
  std::string out;
  out.reserve(s.size());
  if (ok) *ok = true;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
        out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
        i += 2;
        continue;
      }
      if (ok) *ok = false;
    }
    out += s[i];
  }
  return out;
}

std::string percentEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

bool parseTarget(Request& req) {
  std::string_view target = req.target;
  const auto qm = target.find('?');
  bool ok = true;
  req.path = percentDecode(target.substr(0, qm), &ok);
  req.query = qm == std::string_view::npos ? std::string() : std::string(target.substr(qm + 1));
  return ok && !req.path.empty() && req.path[0] == '/' && req.path.find('\0') == std::string::npos;
}

}  // namespace parley::http
