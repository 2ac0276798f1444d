#include "xep/pep/caps.h"

#include <algorithm>
#include <tuple>
#include <utility>
#include <vector>

#include "server/util/crypto.h"
#include "server/xml/namespaces.h"

namespace parley::xep::pep {

namespace {

constexpr std::string_view kNotifySuffix = "+notify";

}  // namespace

std::optional<std::string> capsVerificationString(const xml::Element& query) {
  const std::string_view info = xml::ns::kDiscoInfo;
  // §5.1 steps 2-3: identities sorted by category, type, xml:lang (i;octet), as
  // category/type/lang/name<.
  std::vector<std::tuple<std::string, std::string, std::string, std::string>> identities;
  for (const auto& id : query.childrenNamed("identity", info))
    identities.emplace_back(std::string(id->attr("category")), std::string(id->attr("type")),
                            std::string(id->attr("xml:lang")), std::string(id->attr("name")));
  std::sort(identities.begin(), identities.end());
  if (std::adjacent_find(identities.begin(), identities.end()) != identities.end()) return std::nullopt;  // §5.4 3.3

  std::vector<std::string> features;
  for (const auto& f : query.childrenNamed("feature", info)) features.emplace_back(f->attr("var"));
  std::sort(features.begin(), features.end());
  if (std::adjacent_find(features.begin(), features.end()) != features.end()) return std::nullopt;  // §5.4 3.4

  // §5.1 step 6-8 (XEP-0128 forms): sorted by FORM_TYPE, then each field by var, values sorted.
  std::vector<std::pair<std::string, std::string>> forms;  // FORM_TYPE, its part of S
  for (const auto& x : query.childrenNamed("x", xml::ns::kDataForms)) {
    std::optional<std::string> formType;
    bool hidden = false;
    bool illFormed = false;
    std::vector<std::pair<std::string, std::vector<std::string>>> fields;
    for (const auto& f : x->childrenNamed("field", xml::ns::kDataForms)) {
      std::vector<std::string> values;
      for (const auto& v : f->childrenNamed("value", xml::ns::kDataForms)) values.push_back(v->text());
      if (f->attr("var") == "FORM_TYPE") {
        // §5.4 3.5: one FORM_TYPE value (repeated identical values are tolerated).
        if (values.empty()) continue;
        for (const auto& v : values)
          if (v != values.front()) illFormed = true;
        formType = values.front();
        hidden = f->attr("type") == "hidden";
        continue;
      }
      std::sort(values.begin(), values.end());
      fields.emplace_back(std::string(f->attr("var")), std::move(values));
    }
    if (illFormed) return std::nullopt;
    if (!formType || !hidden) continue;  // §5.4 3.6: ignored, the rest still counts
    std::sort(fields.begin(), fields.end());
    std::string part = *formType + "<";
    for (const auto& [var, values] : fields) {
      part += var + "<";
      for (const auto& v : values) part += v + "<";
    }
    forms.emplace_back(std::move(*formType), std::move(part));
  }
  std::sort(forms.begin(), forms.end());
  for (std::size_t i = 1; i < forms.size(); ++i)
    if (forms[i].first == forms[i - 1].first) return std::nullopt;  // §5.4 3.5: one form per FORM_TYPE

  std::string s;
  for (const auto& [category, type, lang, name] : identities) s += category + "/" + type + "/" + lang + "/" + name + "<";
  for (const auto& f : features) s += f + "<";
  for (const auto& [type, part] : forms) s += part;
  return s;
}

bool verifyCaps(const xml::Element& query, std::string_view hashName, std::string_view ver) {
  std::optional<util::HashAlg> alg;
  if (hashName == "sha-1")
    alg = util::HashAlg::Sha1;
  else if (hashName == "sha-256")
    alg = util::HashAlg::Sha256;
  else if (hashName == "sha-512")
    alg = util::HashAlg::Sha512;
  if (!alg || ver.empty()) return false;
  auto s = capsVerificationString(query);
  if (!s) return false;
  return util::base64Encode(util::hash(*alg, *s)) == ver;
}

std::set<std::string, std::less<>> notifyNodes(const xml::Element& query) {
  std::set<std::string, std::less<>> nodes;
  for (const auto& f : query.childrenNamed("feature", xml::ns::kDiscoInfo)) {
    std::string_view var = f->attr("var");
    if (var.size() > kNotifySuffix.size() && var.ends_with(kNotifySuffix))
      nodes.emplace(var.substr(0, var.size() - kNotifySuffix.size()));
  }
  return nodes;
}

}  // namespace parley::xep::pep
