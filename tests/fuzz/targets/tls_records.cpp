// The TLS 1.3 record layer after the handover (server/net/tls13_records.h), fed what a client could
// send once the keys are agreed: records a second record layer protects with the client's key (any
// content type, any plaintext: KeyUpdates, alerts, padding-only records…) mixed with raw bytes
// (headers of every kind, truncated and oversize records, forgeries).
// Input: byte 0 picks the suite; then commands. 0x00–0x7f: protect a record whose content type is
// the next byte, with the next two bytes giving the plaintext length (the rest of the input if
// shorter). 0x80–0xff: append (command & 0x7f) raw bytes.
// Invariants: the server reads records the way Connection::openRecords() does without crashing;
// every application-data plaintext it delivers is one the client protected, in order; any reply
// it writes (a KeyUpdate) opens with the client's read key.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "server/net/tls13_records.h"
#include "tests/fuzz/fuzz_target.h"

PARLEY_FUZZ_TARGET(tls_records) {
  using parley::net::Tls13Records;
  using parley::net::TlsAlert;
  if (size < 1) return 0;
  static const std::uint16_t kSuites[] = {0x1301, 0x1302, 0x1303};
  const std::uint16_t suite = kSuites[data[0] % 3];
  const std::size_t secretSize = suite == 0x1302 ? 48 : 32;
  const std::string clientSecret(secretSize, 'c'), serverSecret(secretSize, 's');
  auto server = Tls13Records::create(suite, clientSecret, 0, serverSecret, 0);
  auto client = Tls13Records::create(suite, serverSecret, 0, clientSecret, 0);
  PARLEY_FUZZ_CHECK(server && client);

  std::string wire;
  std::vector<std::string> sentData;  // application data the client protected, in order
  std::size_t i = 1;
  while (i < size) {
    const std::uint8_t op = data[i++];
    if (op < 0x80) {
      if (i + 3 > size) break;
      const std::uint8_t type = data[i];
      std::size_t len = std::size_t{data[i + 1]} << 8 | data[i + 2];
      i += 3;
      len = std::min({len, size - i, Tls13Records::kMaxPlaintext});
      std::string_view plain(reinterpret_cast<const char*>(data + i), len);
      i += len;
      PARLEY_FUZZ_CHECK(client->sealTo(type, plain, wire));
      // What the server must see (RFC 8446 §5.4): the last non-zero byte of plaintext + type is the
      // content type, so a "type 0" record whose plaintext ends in 23 is application data.
      std::string inner(plain);
      inner.push_back(static_cast<char>(type));
      while (!inner.empty() && inner.back() == 0) inner.pop_back();
      if (!inner.empty() && static_cast<std::uint8_t>(inner.back()) == Tls13Records::kApplicationData) {
        inner.pop_back();
        sentData.push_back(std::move(inner));
      }
    } else {
      std::size_t len = std::min<std::size_t>(op & 0x7f, size - i);
      wire.append(reinterpret_cast<const char*>(data + i), len);
      i += len;
    }
  }

  std::string reply;
  std::size_t delivered = 0;
  std::size_t off = 0;
  while (true) {
    std::optional<TlsAlert> bad;
    const std::size_t rec = Tls13Records::recordSize(std::string_view(wire).substr(off), bad);
    if (bad || rec == 0 || rec > wire.size() - off) break;
    PARLEY_FUZZ_CHECK(rec <= Tls13Records::kHeaderSize + Tls13Records::kMaxCiphertext);
    TlsAlert alert{};
    auto opened = server->open(wire.data() + off, rec, alert);
    off += rec;
    if (!opened) break;
    PARLEY_FUZZ_CHECK(opened->size <= Tls13Records::kMaxPlaintext);
    if (server->handshakePending() && opened->type != Tls13Records::kHandshake) break;
    if (opened->type == Tls13Records::kApplicationData) {
      // Only what the client protected opens, and in order (a raw forgery never authenticates).
      PARLEY_FUZZ_CHECK(delivered < sentData.size());
      PARLEY_FUZZ_CHECK(std::string_view(opened->data, opened->size) == sentData[delivered]);
      ++delivered;
    } else if (opened->type == Tls13Records::kHandshake) {
      if (!server->onHandshakeData(std::string_view(opened->data, opened->size), reply, alert)) break;
      // The fake client does not switch keys after its own KeyUpdate: what follows fails to open.
    } else if (opened->type != Tls13Records::kAlert) {
      break;
    }
  }

  // The server's replies (KeyUpdates) open with the client's read key.
  std::size_t roff = 0;
  while (roff < reply.size()) {
    std::optional<TlsAlert> bad;
    const std::size_t rec = Tls13Records::recordSize(std::string_view(reply).substr(roff), bad);
    PARLEY_FUZZ_CHECK(!bad && rec > 0 && rec <= reply.size() - roff);
    TlsAlert alert{};
    auto opened = client->open(reply.data() + roff, rec, alert);
    PARLEY_FUZZ_CHECK(opened && opened->type == Tls13Records::kHandshake);
    std::string ignored;
    PARLEY_FUZZ_CHECK(client->onHandshakeData(std::string_view(opened->data, opened->size), ignored, alert));
    roff += rec;
  }
  return 0;
}
