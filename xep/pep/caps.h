// XEP-0115 entity capabilities, the receiving side: the verification string of a disco#info result
// (§5.1), its hash checked against the advertised 'ver' (§5.4), and the "+notify" interests a client
// expresses through its features (XEP-0163 §4.3.3 filtered notifications).
// Pure functions: no threads, no storage.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "server/xml/element.h"

namespace parley::xep::pep {

// The XEP-0115 §5.1 verification string S of a <query xmlns='…disco#info'/>, or nullopt when the
// result is ill-formed per §5.4 (duplicate identities or features, several forms of one FORM_TYPE, a
// FORM_TYPE with different values). Forms without a hidden FORM_TYPE are ignored (§5.4 step 3.6).
std::optional<std::string> capsVerificationString(const xml::Element& query);

// True when `ver` is the base64 hash of the verification string of `query` with the algorithm named
// by `hashName` ("sha-1", "sha-256", "sha-512": the IANA names XEP-0115 §5.1 uses).
bool verifyCaps(const xml::Element& query, std::string_view hashName, std::string_view ver);

// The nodes a disco#info result asks notifications for: "urn:xmpp:avatar:metadata+notify" gives
// "urn:xmpp:avatar:metadata".
std::set<std::string, std::less<>> notifyNodes(const xml::Element& query);

}  // namespace parley::xep::pep
