// The HTTP-facing parsing of XEP-0363 uploads (upload_http.h): pure functions, no I/O.
#include "xep/upload/upload_http.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include <fmt/format.h>

#include "server/http/http_server.h"
#include "server/util/utf8.h"

namespace parley::xep::upload {

bool validId(std::string_view id) {
  if (id.size() != 32) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// The last path component of what the client called the file, without control characters, quotes
// or separators, at most 120 bytes (cut on a UTF-8 boundary, keeping the extension).
std::string sanitizeFilename(std::string_view in) {
  if (auto slash = in.find_last_of("/\\"); slash != std::string_view::npos) in = in.substr(slash + 1);
  std::string out;
  for (unsigned char c : in) {
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\' || c == '/' || c == ':' || c == '*' || c == '?' ||
        c == '<' || c == '>' || c == '|' || c == '%')
      out += '_';
    else
      out += static_cast<char>(c);
  }
  while (!out.empty() && (out.front() == '.' || out.front() == ' ')) out.erase(0, 1);
  while (!out.empty() && (out.back() == ' ' || out.back() == '.')) out.pop_back();
  constexpr std::size_t kMax = 120;
  if (out.size() > kMax) {
    std::string ext;
    if (auto dot = out.rfind('.'); dot != std::string::npos && out.size() - dot <= 16) ext = out.substr(dot);
    std::size_t cut = kMax - ext.size();
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
    out = out.substr(0, cut) + ext;
  }
  if (out.empty() || !util::isValidUtf8(out)) out = "file";
  return out;
}

// A media type as RFC 9110 §8.3.1 allows it (type/subtype, optional parameters), lower-cased type;
// anything else becomes application/octet-stream.
std::string sanitizeContentType(std::string_view in) {
  auto tchar = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::strchr("!#$&-^_.+", c) != nullptr;
  };
  if (in.empty() || in.size() > 200) return "application/octet-stream";
  for (char c : in)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return "application/octet-stream";
  auto slash = in.find('/');
  if (slash == std::string_view::npos || slash == 0) return "application/octet-stream";
  std::size_t end = in.find(';');
  std::string_view type = in.substr(0, slash);
  std::string_view sub =
      in.substr(slash + 1, end == std::string_view::npos ? std::string_view::npos : end - slash - 1);
  if (sub.empty() || !std::all_of(type.begin(), type.end(), tchar) ||
      !std::all_of(sub.begin(), sub.end(), tchar))
    return "application/octet-stream";
  std::string out(in);
  for (std::size_t i = 0; i < slash + 1 + sub.size(); ++i)
    out[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[i])));
  return out;
}

// Shown inline only for media a browser renders without running it; SVG can carry scripts.
bool inlineType(std::string_view type) {
  if (type.rfind("image/svg", 0) == 0) return false;
  return type.rfind("image/", 0) == 0 || type.rfind("video/", 0) == 0 || type.rfind("audio/", 0) == 0;
}

std::string contentDisposition(std::string_view type, std::string_view filename) {
  std::string ascii;
  for (unsigned char c : filename)
    ascii += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? static_cast<char>(c) : '_';
  // RFC 6266 §4.3: filename for old clients, filename* (RFC 8187) with the real name.
  return fmt::format("{}; filename=\"{}\"; filename*=UTF-8''{}", inlineType(type) ? "inline" : "attachment",
                     ascii, http::percentEncode(filename));
}

// Parses "bytes=a-b" (one range). nullopt: no usable Range (serve everything); {-1,-1}: unsatisfiable.
std::optional<std::pair<std::int64_t, std::int64_t>> parseRange(std::string_view h, std::int64_t size) {
  if (h.rfind("bytes=", 0) != 0) return std::nullopt;
  h.remove_prefix(6);
  if (h.find(',') != std::string_view::npos) return std::nullopt;  // several ranges: send it all (allowed)
  auto dash = h.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto num = [](std::string_view s, std::int64_t& v) {
    if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string_view::npos)
      return false;
    v = std::stoll(std::string(s));
    return true;
  };
  std::int64_t a = 0, b = 0;
  std::string_view first = h.substr(0, dash), last = h.substr(dash + 1);
  if (first.empty()) {  // suffix: the last N bytes
    if (!num(last, b)) return std::nullopt;
    if (b == 0 || size == 0) return std::make_pair<std::int64_t, std::int64_t>(-1, -1);
    return std::make_pair(std::max<std::int64_t>(0, size - b), size - 1);
  }
  if (!num(first, a)) return std::nullopt;
  if (last.empty())
    b = size - 1;
  else if (!num(last, b) || b < a)
    return std::nullopt;
  if (a >= size) return std::make_pair<std::int64_t, std::int64_t>(-1, -1);
  return std::make_pair(a, std::min(b, size - 1));
}

bool splitUploadPath(std::string_view path, std::string& id, std::string& filename) {
  if (path.rfind(kPathPrefix, 0) != 0) return false;
  path.remove_prefix(kPathPrefix.size());
  auto slash = path.find('/');
  if (slash == std::string_view::npos) return false;
  id = std::string(path.substr(0, slash));
  filename = std::string(path.substr(slash + 1));
  return validId(id) && !filename.empty();
}

}  // namespace parley::xep::upload
