// JID parsing and preparation (server/xmpp/jid.h, RFC 7622 with ICU stringprep).
// Invariants: a parsed JID prints to a string that parses back to the same JID (normalisation is
// idempotent), each part stays within 1023 bytes, and the profiles accept what they produce.
#include "server/xmpp/jid.h"

#include <string>

#include "tests/fuzz/fuzz_target.h"

PARLEY_FUZZ_TARGET(jid) {
  using parley::xmpp::Jid;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto j = Jid::parse(input)) {
    PARLEY_FUZZ_CHECK(!j->domain().empty());
    PARLEY_FUZZ_CHECK(j->local().size() <= 1023 && j->domain().size() <= 1023 &&
                      j->resource().size() <= 1023);
    auto again = Jid::parse(j->str());
    PARLEY_FUZZ_CHECK(again.has_value());
    PARLEY_FUZZ_CHECK(*again == *j);
    PARLEY_FUZZ_CHECK(Jid::parse(j->bareStr()) == j->bare());
    auto parts = Jid::fromParts(j->local(), j->domain(), j->resource());
    PARLEY_FUZZ_CHECK(parts.has_value() && *parts == *j);
    (void)parley::xmpp::JidHash{}(*j);
  }
  if (auto l = Jid::prepLocal(input)) PARLEY_FUZZ_CHECK(Jid::prepLocal(*l) == l);
  if (auto d = Jid::prepDomain(input)) PARLEY_FUZZ_CHECK(Jid::prepDomain(*d) == d);
  if (auto r = Jid::prepResource(input)) PARLEY_FUZZ_CHECK(Jid::prepResource(*r) == r);
  return 0;
}
