// XEP-0363 upload: what the HTTP side parses from peers — the /upload/<id>/<filename> path, the Range
// header, the file name and media type a client declares. Pure functions (no I/O, no state), apart
// from the module so that the unit tests and the HTTP fuzz target (tests/fuzz) reach them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace parley::xep::upload {

inline constexpr std::string_view kPathPrefix = "/upload/";

// A slot id: exactly 32 lower-case hex characters.
bool validId(std::string_view id);
// The last path component of what the client called the file, without control characters, quotes
// or separators, at most 120 bytes (cut on a UTF-8 boundary, keeping the extension); "file" if nothing
// usable is left.
std::string sanitizeFilename(std::string_view in);
// A media type as RFC 9110 §8.3.1 allows it, lower-cased type/subtype; anything else becomes
// application/octet-stream.
std::string sanitizeContentType(std::string_view in);
// Shown inline only for media a browser renders without running it; SVG can carry scripts.
bool inlineType(std::string_view type);
// Content-Disposition for a download (RFC 6266, RFC 8187 filename*).
std::string contentDisposition(std::string_view type, std::string_view filename);
// Parses "bytes=a-b" (one range, RFC 9110 §14) of a file of `size` bytes. nullopt: no usable Range
// (serve everything); {-1,-1}: unsatisfiable (416).
std::optional<std::pair<std::int64_t, std::int64_t>> parseRange(std::string_view h, std::int64_t size);
// "/upload/<id>/<filename>" (already percent-decoded) -> id and filename; false unless the id is valid
// and the filename not empty.
bool splitUploadPath(std::string_view path, std::string& id, std::string& filename);

}  // namespace parley::xep::upload
