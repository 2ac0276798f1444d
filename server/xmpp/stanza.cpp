#include "server/xmpp/stanza.h"

#include "server/xml/writer.h"

namespace parley::xmpp {

std::optional<StanzaKind> stanzaKindOf(std::string_view name) {
  if (name == "message") return StanzaKind::Message;
  if (name == "presence") return StanzaKind::Presence;
  if (name == "iq") return StanzaKind::Iq;
  return std::nullopt;
}

StanzaPtr Stanza::make(xml::ElementPtr element) {
  if (!element) return nullptr;
  auto kind = stanzaKindOf(element->name());
  if (!kind) return nullptr;
  Jid from, to;
  if (auto f = element->findAttr("from"); f && !f->empty()) {
    auto j = Jid::parse(*f);
    if (!j) return nullptr;
    from = std::move(*j);
  }
  if (auto t = element->findAttr("to"); t && !t->empty()) {
    auto j = Jid::parse(*t);
    if (!j) return nullptr;
    to = std::move(*j);
  }
  return std::make_shared<const Stanza>(*kind, std::move(element), std::move(from), std::move(to));
}

StanzaPtr Stanza::make(xml::ElementPtr element, const Jid& from, const Jid& to) {
  return readdress(*element, from, to, std::make_shared<SharedContent>());
}

StanzaPtr Stanza::adopt(xml::MutableElementPtr&& element, const Jid& from, const Jid& to) {
  return addressed(std::move(element), from, to, std::make_shared<SharedContent>());
}

StanzaPtr Stanza::readdress(const xml::Element& element, const Jid& from, const Jid& to,
                            std::shared_ptr<SharedContent> content) {
  return addressed(element.clone(), from, to, std::move(content));
}

StanzaPtr Stanza::addressed(xml::MutableElementPtr e, const Jid& from, const Jid& to,
                            std::shared_ptr<SharedContent> content) {
  auto kind = stanzaKindOf(e->name());
  if (!kind) return nullptr;
  if (from.empty())
    e->removeAttr("from");
  else
    e->setAttr("from", from.str());
  if (to.empty())
    e->removeAttr("to");
  else
    e->setAttr("to", to.str());
  return std::make_shared<const Stanza>(*kind, std::move(e), from, to, std::move(content));
}

StanzaPtr Stanza::withAddresses(const Jid& from, const Jid& to) const {
  return readdress(*element_, from, to, content_);
}

const std::string& Stanza::serialized() const {
  return serialized_.get([this] {
    const xml::Element& e = *element_;
    std::string out;
    xml::serializeStartTag(e, out, "jabber:client");
    if (e.nodes().empty()) {
      out += "/>";
      return out;
    }
    const std::string& content = content_->bytes.get([&] {
      std::string c;
      xml::serializeContent(e, c);
      return c;
    });
    out.reserve(out.size() + content.size() + e.name().size() + 4);
    out += '>';
    out += content;
    out += "</";
    out += e.name();
    out += '>';
    return out;
  });
}

}  // namespace parley::xmpp
