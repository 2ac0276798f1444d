#include "xep/carbons/eligibility.h"

#include "server/xml/namespaces.h"

namespace parley::xep::carbons {

namespace ns = xml::ns;

bool eligible(const xml::Element& m, Direction direction) {
  if (!m.is("message", ns::kClient)) return false;
  // §7 and XEP-0334 §4.3: the sender asked for no copies.
  if (m.child("private", ns::kCarbons) || m.child("no-copy", ns::kHints)) return false;
  // A carbon copy is never copied again (a client that sends one, or one on its way back).
  if (m.child("sent", ns::kCarbons) || m.child("received", ns::kCarbons)) return false;
  const std::string_view type = m.attr("type");
  // §6.1 MUC rules: room traffic is replicated by the room to every joined client.
  if (type == "groupchat") return false;
  // §6.1: an error is eligible only if it answers an eligible message, which would need tracking
  // every message; errors are not copied.
  if (type == "error") return false;
  const xml::Element* mucUser = m.child("x", ns::kMucUser);
  // XEP-0249 direct and XEP-0045 §7.8.2 mediated invitations are copied.
  if (m.child("x", "jabber:x:conference") || (mucUser && mucUser->child("invite", ns::kMucUser))) return true;
  // A private message from a room occupant: the room sends it to each of the user's joined clients.
  // One the user sends to an occupant is copied (the <x/> marks it as a MUC PM on the way out too).
  if (mucUser && direction == Direction::Received) return false;
  if (type == "chat") return true;
  if ((type.empty() || type == "normal") && m.child("body", ns::kClient)) return true;
  // Payloads of instant messaging (XEP-0184 receipts, XEP-0085 chat states, XEP-0333 markers).
  for (const auto& c : m.children()) {
    const auto& cns = c->xmlns();
    if (cns == ns::kReceipts || cns == ns::kChatStates || cns == "urn:xmpp:chat-markers:0") return true;
  }
  return false;
}

xml::ElementPtr wrap(const xml::ElementPtr& original, Direction direction) {
  auto forwarded = xml::make("forwarded", std::string(ns::kForward));
  forwarded->addChild(original);
  auto marker = xml::make(direction == Direction::Sent ? "sent" : "received", std::string(ns::kCarbons));
  marker->addChild(std::move(forwarded));
  auto message = xml::make("message", std::string(ns::kClient));
  // §5, §6: the wrapper keeps the original's type.
  if (auto type = original->findAttr("type"); type && !type->empty()) message->setAttr("type", *type);
  message->addChild(std::move(marker));
  return message;
}

}  // namespace parley::xep::carbons
