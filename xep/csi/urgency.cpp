#include "xep/csi/urgency.h"

#include <string_view>

#include "server/xml/namespaces.h"

namespace parley::xep::csi {

namespace ns = xml::ns;

namespace {

// Payload namespaces of messages a user is notified of even without a <body/>.
bool notifying(std::string_view childNs) {
  return childNs == "eu.siacs.conversations.axolotl"  // OMEMO (legacy, what clients deploy)
         || childNs == "urn:xmpp:omemo:2"             // XEP-0384
         || childNs == "jabber:x:encrypted"           // XEP-0027
         || childNs == "urn:xmpp:openpgp:0"           // XEP-0373
         || childNs == "urn:xmpp:eme:0"               // XEP-0380
         || childNs == "jabber:x:conference"          // XEP-0249 invitation
         || childNs == "urn:xmpp:jingle-message:0"    // XEP-0353: a call rings now
         || childNs == "urn:xmpp:jingle-message:1";
}

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

Classifier::Classifier(std::vector<std::string> urgentNamespaces, std::vector<std::string> urgentPepNodes)
    : urgentNamespaces_(urgentNamespaces.begin(), urgentNamespaces.end()),
      urgentPepNodes_(urgentPepNodes.begin(), urgentPepNodes.end()) {}

Urgency Classifier::classify(const xmpp::Stanza& stanza) const {
  const std::string_view type = stanza.type();
  switch (stanza.kind()) {
    case xmpp::StanzaKind::Iq:
      return Urgency::Urgent;
    case xmpp::StanzaKind::Presence:
      if (type.empty() || type == "unavailable") return Urgency::Supersede;
      if (type == "error") return Urgency::Hold;
      return Urgency::Urgent;  // subscription management (RFC 6121 §3) asks the user or changes the roster
    case xmpp::StanzaKind::Message:
      if (type == "error") return Urgency::Urgent;
      return urgentMessage(stanza.element(), 0) ? Urgency::Urgent : Urgency::Hold;
  }
  return Urgency::Urgent;
}

bool Classifier::urgentMessage(const xml::Element& m, int depth) const {
  if (m.child("body", ns::kClient) || m.child("subject", ns::kClient)) return true;
  for (const auto& c : m.children()) {
    const auto& cns = c->xmlns();
    if (notifying(cns) || urgentNamespaces_.count(cns)) return true;
    if (startsWith(cns, "urn:xmpp:mam:") && c->name() == "result") return true;  // XEP-0313 query results
    if (cns == ns::kMucUser && c->child("invite", ns::kMucUser)) return true;    // XEP-0045 §7.8.2
    if (cns == ns::kCarbons && (c->name() == "sent" || c->name() == "received") && depth == 0) {
      // XEP-0280: as urgent as the message it carries.
      if (const auto* fwd = c->child("forwarded", ns::kForward))
        if (const auto* inner = fwd->child("message", ns::kClient)) return urgentMessage(*inner, depth + 1);
      return false;
    }
    if (cns == ns::kPubsubEvent && !urgentPepNodes_.empty()) {
      for (const auto& items : c->childrenNamed("items", ns::kPubsubEvent))
        if (urgentPepNodes_.count(std::string(items->attr("node")))) return true;
    }
  }
  return false;
}

}  // namespace parley::xep::csi
