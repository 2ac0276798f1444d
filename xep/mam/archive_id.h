// Archive ids as clients see them (XEP-0313 §3.3, XEP-0359 <stanza-id/>), and the clock behind them.
//
// Inside the server an archive id is a 64-bit integer: max(previous + 1, now in microseconds), so ids
// grow with time, are unique across every archive of the server, and a page query is an index range.
// Clients get an opaque 16-character string: the integer masked with a server key, followed by a
// 32-bit HMAC tag over (integer, account). The tag makes ids unpredictable (XEP-0313 §3.3 "MUST be
// unpredictable") and lets the server recognise, without storage, a <stanza-id by='account'/> it
// stamped itself (a message re-routed after a session ended) from one a sender forged (XEP-0359 §7).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/util/crypto.h"

namespace parley::xep::mam {

class ArchiveIdCodec {
 public:
  // `secret`: persistent server secret bytes (ids must decode after a restart).
  explicit ArchiveIdCodec(std::string_view secret);
  std::string encode(std::int64_t id, std::string_view accountBareJid) const;
  // nullopt when the text is not an id this server issued for this account.
  std::optional<std::int64_t> decode(std::string_view text, std::string_view accountBareJid) const;

 private:
  std::string tag(std::uint64_t raw, std::string_view account) const;
  util::HmacKey key_;
  std::uint64_t mask_ = 0;
};

// Hands out increasing ids. Thread-safe.
class ArchiveClock {
 public:
  // Ids handed out start above `floor` (the largest id already stored).
  void raiseFloor(std::int64_t floor);
  // Returns the new id and stores in `stamp` the time it stands for: the id itself, unix microseconds.
  // Ids are max(previous + 1, now), so in a burst of more than one message per microsecond, or after
  // the system clock stepped back, stamps run a little ahead of the clock, never out of order; the
  // archive then needs no index on stamps ('start'/'end' are id ranges).
  std::int64_t next(std::int64_t& stamp);
  // The last id handed out (the floor before any).
  std::int64_t last() const { return last_.load(); }

 private:
  std::atomic<std::int64_t> last_{0};
};

std::int64_t unixMicros();
// XEP-0082 DateTime with microseconds: "2026-11-28T01:30:00.123456Z".
std::string formatMicros(std::int64_t micros);
// XEP-0082 DateTime (any fraction, Z or offset) to unix microseconds; nullopt if invalid.
std::optional<std::int64_t> parseMicros(std::string_view text);

}  // namespace parley::xep::mam
