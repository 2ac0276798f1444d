#include "xep/mam/archive_id.h"

#include <cctype>
#include <chrono>

#include <fmt/format.h>

#include "server/util/crypto.h"
#include "server/util/time.h"

namespace parley::xep::mam {

namespace {

constexpr std::size_t kTagBytes = 4;
constexpr std::size_t kEncodedChars = 16;  // base64url of 8 + 4 bytes, no padding

std::string bigEndian(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

std::uint64_t fromBigEndian(std::string_view b) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(b[i]);
  return v;
}

}  // namespace

ArchiveIdCodec::ArchiveIdCodec(std::string_view secret)
    : key_(util::HashAlg::Sha256, util::hmac(util::HashAlg::Sha256, secret, "parley mam archive ids")) {
  mask_ = fromBigEndian(key_.mac("mask"));
}

std::string ArchiveIdCodec::tag(std::uint64_t raw, std::string_view account) const {
  std::string data = bigEndian(raw);
  data += account;
  return key_.mac(data).substr(0, kTagBytes);
}

std::string ArchiveIdCodec::encode(std::int64_t id, std::string_view account) const {
  const auto raw = static_cast<std::uint64_t>(id);
  std::string bytes = bigEndian(raw ^ mask_) + tag(raw, account);
  std::string text = util::base64Encode(bytes);  // 12 bytes: 16 characters, no padding
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

std::optional<std::int64_t> ArchiveIdCodec::decode(std::string_view text, std::string_view account) const {
  if (text.size() != kEncodedChars) return std::nullopt;
  std::string b64(text);
  for (char& c : b64) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
    else if (c == '+' || c == '/')
      return std::nullopt;  // base64url only
  }
  auto bytes = util::base64Decode(b64);
  if (!bytes || bytes->size() != 8 + kTagBytes) return std::nullopt;
  const std::uint64_t raw = fromBigEndian(*bytes) ^ mask_;
  if (!util::constantTimeEqual(bytes->substr(8), tag(raw, account))) return std::nullopt;
  return static_cast<std::int64_t>(raw);
}

void ArchiveClock::raiseFloor(std::int64_t floor) {
  std::int64_t cur = last_.load();
  while (cur < floor && !last_.compare_exchange_weak(cur, floor)) {
  }
}

std::int64_t ArchiveClock::next(std::int64_t& stamp) {
  const std::int64_t now = unixMicros();
  std::int64_t cur = last_.load();
  std::int64_t id = 0;
  do {
    id = cur >= now ? cur + 1 : now;
  } while (!last_.compare_exchange_weak(cur, id));
  stamp = id;
  return id;
}

std::int64_t unixMicros() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

std::string formatMicros(std::int64_t micros) {
  std::int64_t secs = micros / 1'000'000;
  std::int64_t frac = micros % 1'000'000;
  if (frac < 0) {
    frac += 1'000'000;
    --secs;
  }
  std::string s = util::iso8601(secs);  // "…:ssZ"
  s.pop_back();
  return s + fmt::format(".{:06}Z", frac);
}

std::optional<std::int64_t> parseMicros(std::string_view text) {
  auto secs = util::parseIso8601(text);  // validates the whole profile, drops the fraction
  if (!secs) return std::nullopt;
  std::int64_t frac = 0;
  if (text.size() > 19 && text[19] == '.') {
    int digits = 0;
    for (std::size_t i = 20; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      if (digits < 6) {
        frac = frac * 10 + (text[i] - '0');
        ++digits;
      }
    }
    for (; digits < 6; ++digits) frac *= 10;
  }
  if (*secs > (INT64_MAX / 1'000'000) - 1 || *secs < (INT64_MIN / 1'000'000) + 1) return std::nullopt;
  return *secs * 1'000'000 + frac;
}

}  // namespace parley::xep::mam
