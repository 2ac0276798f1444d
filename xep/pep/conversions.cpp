#include "xep/pep/conversions.h"

#include "server/util/crypto.h"
#include "server/xml/namespaces.h"

namespace parley::xep::pep {

namespace {

bool truthy(std::string_view v) {
  return v == "true" || v == "1";
}

}  // namespace

std::map<std::string, xml::ElementPtr> legacyToBookmarks(const xml::Element& storage,
                                                         const std::map<std::string, xml::ElementPtr>& previous) {
  std::map<std::string, xml::ElementPtr> out;
  const std::string bm(kBookmarksNs);
  for (const auto& c : storage.childrenNamed("conference", kLegacyBookmarksNs)) {
    std::string jid(c->attr("jid"));
    if (jid.empty()) continue;
    auto conf = xml::make("conference", bm);
    if (c->hasAttr("name")) conf->setAttr("name", c->attr("name"));
    conf->setAttr("autojoin", truthy(c->attr("autojoin")) ? "true" : "false");
    if (auto nick = c->child("nick", kLegacyBookmarksNs)) conf->addTextChild("nick", bm, nick->text());
    if (auto pw = c->child("password", kLegacyBookmarksNs)) conf->addTextChild("password", bm, pw->text());
    if (auto it = previous.find(jid); it != previous.end() && it->second)
      if (auto ext = it->second->childPtr("extensions", bm)) conf->addChild(ext);
    out[jid] = conf;
  }
  return out;
}

xml::ElementPtr bookmarksToLegacy(const std::map<std::string, xml::ElementPtr>& items,
                                  const xml::Element* previousStorage) {
  const std::string legacy(kLegacyBookmarksNs);
  auto storage = xml::make("storage", legacy);
  for (const auto& [jid, conf] : items) {
    if (!conf || !conf->is("conference", kBookmarksNs)) continue;
    auto c = xml::make("conference", legacy);
    c->setAttr("jid", jid);
    if (conf->hasAttr("name")) c->setAttr("name", conf->attr("name"));
    c->setAttr("autojoin", truthy(conf->attr("autojoin")) ? "true" : "false");
    if (auto nick = conf->child("nick", kBookmarksNs)) c->addTextChild("nick", legacy, nick->text());
    if (auto pw = conf->child("password", kBookmarksNs)) c->addTextChild("password", legacy, pw->text());
    storage->addChild(c);
  }
  if (previousStorage)
    for (const auto& url : previousStorage->childrenNamed("url", kLegacyBookmarksNs)) storage->addChild(url);
  return storage;
}

bool sameLegacyBookmark(const xml::Element& a, const xml::Element& b) {
  auto text = [](const xml::Element& e, std::string_view name) {
    auto c = e.child(name, kBookmarksNs);
    return c ? std::optional<std::string>(c->text()) : std::nullopt;
  };
  return a.attr("name") == b.attr("name") && truthy(a.attr("autojoin")) == truthy(b.attr("autojoin")) &&
         text(a, "nick") == text(b, "nick") && text(a, "password") == text(b, "password");
}

std::optional<std::string> decodeBase64Loose(std::string_view text) {
  std::string compact;
  compact.reserve(text.size());
  for (char ch : text)
    if (ch != ' ' && ch != '\n' && ch != '\r' && ch != '\t') compact += ch;
  return util::base64Decode(compact);
}

std::string sha1Hex(std::string_view bytes) {
  return util::hexEncode(util::hash(util::HashAlg::Sha1, bytes));
}

std::optional<Photo> vcardPhoto(const xml::Element& vcard) {
  const auto* photo = vcard.child("PHOTO", xml::ns::kVcard);
  if (!photo) return std::nullopt;
  const auto* binval = photo->child("BINVAL", xml::ns::kVcard);
  if (!binval) return std::nullopt;
  auto bytes = decodeBase64Loose(binval->text());
  if (!bytes || bytes->empty()) return std::nullopt;
  Photo p;
  p.type = photo->childText("TYPE", xml::ns::kVcard);
  if (p.type.empty()) p.type = "image/png";
  p.sha1 = sha1Hex(*bytes);
  p.bytes = std::move(*bytes);
  return p;
}

xml::ElementPtr vcardWithPhoto(const xml::Element& vcard, const std::optional<Photo>& photo) {
  auto out = vcard.clone();
  out->removeChildren("PHOTO", xml::ns::kVcard);
  if (photo) {
    const std::string ns(xml::ns::kVcard);
    auto p = xml::make("PHOTO", ns);
    p->addTextChild("TYPE", ns, photo->type);
    p->addTextChild("BINVAL", ns, util::base64Encode(photo->bytes));
    out->addChild(p);
  }
  return out;
}

}  // namespace parley::xep::pep
