#include "server/module/disco.h"

#include <algorithm>
#include <set>

#include "server/util/crypto.h"

namespace parley::module {

namespace {
constexpr std::string_view kInfoNs = "http://jabber.org/protocol/disco#info";
}

router::IqHandle Disco::add(Entry e) {
  std::uint64_t token;
  {
    std::lock_guard lock(mu_);
    token = e.token = ++nextToken_;
    entries_.push_back(std::move(e));
    ++generation_;
  }
  return router::IqHandle([this, token] {
    std::lock_guard lock(mu_);
    std::erase_if(entries_, [&](const Entry& x) { return x.token == token; });
    ++generation_;
  });
}

router::IqHandle Disco::addFeature(DiscoScope scope, std::string var) {
  return add(Entry{0, scope, std::move(var), std::nullopt, nullptr, std::nullopt});
}
router::IqHandle Disco::addIdentity(DiscoScope scope, DiscoIdentity identity) {
  return add(Entry{0, scope, {}, std::move(identity), nullptr, std::nullopt});
}
router::IqHandle Disco::addExtension(DiscoScope scope, xml::ElementPtr form) {
  return add(Entry{0, scope, {}, std::nullopt, std::move(form), std::nullopt});
}
router::IqHandle Disco::addItem(DiscoItem item) {
  return add(Entry{0, DiscoScope::Server, {}, std::nullopt, nullptr, std::move(item)});
}

router::IqHandle Disco::addNodeProvider(DiscoScope scope, NodeProvider provider) {
  return add(Entry{0, scope, {}, std::nullopt, nullptr, std::nullopt,
                   std::make_shared<NodeProvider>(std::move(provider))});
}

bool Disco::answerNode(DiscoScope scope, const router::IqRequest& request, bool items) const {
  std::vector<std::shared_ptr<NodeProvider>> providers;
  {
    std::lock_guard lock(mu_);
    for (const auto& e : entries_)
      if (e.scope == scope && e.provider) providers.push_back(e.provider);
  }
  for (const auto& p : providers)
    if ((*p)(request, items)) return true;
  return false;
}

std::vector<std::string> Disco::features(DiscoScope scope) const {
  std::set<std::string> out;
  std::lock_guard lock(mu_);
  for (const auto& e : entries_)
    if (e.scope == scope && !e.feature.empty()) out.insert(e.feature);
  return {out.begin(), out.end()};
}

std::vector<DiscoIdentity> Disco::identities(DiscoScope scope) const {
  std::set<DiscoIdentity> out;
  std::lock_guard lock(mu_);
  for (const auto& e : entries_)
    if (e.scope == scope && e.identity) out.insert(*e.identity);
  return {out.begin(), out.end()};
}

std::vector<xml::ElementPtr> Disco::extensions(DiscoScope scope) const {
  std::vector<xml::ElementPtr> out;
  std::lock_guard lock(mu_);
  for (const auto& e : entries_)
    if (e.scope == scope && e.extension) out.push_back(e.extension);
  return out;
}

std::vector<DiscoItem> Disco::items() const {
  std::vector<DiscoItem> out;
  std::lock_guard lock(mu_);
  for (const auto& e : entries_)
    if (e.item) out.push_back(*e.item);
  return out;
}

std::uint64_t Disco::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

xml::ElementPtr Disco::infoQuery(DiscoScope scope, std::string_view node) const {
  auto q = xml::make("query", std::string(kInfoNs));
  if (!node.empty()) q->setAttr("node", node);
  for (const auto& id : identities(scope)) {
    auto i = xml::make("identity", std::string(kInfoNs));
    i->setAttr("category", id.category);
    i->setAttr("type", id.type);
    if (!id.name.empty()) i->setAttr("name", id.name);
    q->addChild(i);
  }
  for (const auto& f : features(scope)) {
    auto e = xml::make("feature", std::string(kInfoNs));
    e->setAttr("var", f);
    q->addChild(e);
  }
  for (const auto& x : extensions(scope)) q->addChild(x);
  return q;
}

// XEP-0115 §5.1: identities "category/type/lang/name<", features "var<", then each form.
std::string Disco::capsHash() const {
  std::string s;
  auto ids = identities(DiscoScope::Server);
  std::vector<std::string> idStrings;
  for (const auto& id : ids) idStrings.push_back(id.category + "/" + id.type + "//" + id.name);
  std::sort(idStrings.begin(), idStrings.end());
  for (const auto& i : idStrings) s += i + "<";
  for (const auto& f : features(DiscoScope::Server)) s += f + "<";
  // Extension forms: FORM_TYPE first, then fields sorted by var, values sorted.
  std::vector<std::pair<std::string, std::string>> forms;
  for (const auto& x : extensions(DiscoScope::Server)) {
    std::string formType;
    std::vector<std::pair<std::string, std::vector<std::string>>> fields;
    for (const auto& f : x->childrenNamed("field", "jabber:x:data")) {
      std::vector<std::string> values;
      for (const auto& v : f->childrenNamed("value", "jabber:x:data")) values.push_back(v->text());
      std::sort(values.begin(), values.end());
      if (f->attr("var") == "FORM_TYPE")
        formType = values.empty() ? "" : values.front();
      else
        fields.emplace_back(std::string(f->attr("var")), std::move(values));
    }
    std::sort(fields.begin(), fields.end());
    std::string fs = formType + "<";
    for (const auto& [var, values] : fields) {
      fs += var + "<";
      for (const auto& v : values) fs += v + "<";
    }
    forms.emplace_back(formType, fs);
  }
  std::sort(forms.begin(), forms.end());
  for (const auto& [t, fs] : forms) s += fs;
  return util::base64Encode(util::hash(util::HashAlg::Sha1, s));
}

}  // namespace parley::module
