// XEP-0157 contact addresses for XMPP services: the operator's addresses (abuse, admin, support…),
// published in the server's service discovery information as a XEP-0128 extension form.
#include <array>

#include "server/core/server.h"
#include "server/module/module.h"
#include "server/xml/namespaces.h"

namespace parley::xep::contact_addresses {

namespace {

// XEP-0157 §3 / §6: configuration key -> form field (the registered serverinfo fields).
constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kFields{{
    {"abuse", "abuse-addresses"},
    {"admin", "admin-addresses"},
    {"feedback", "feedback-addresses"},
    {"sales", "sales-addresses"},
    {"security", "security-addresses"},
    {"status", "status-addresses"},
    {"support", "support-addresses"},
}};
constexpr std::string_view kFormType = "http://jabber.org/network/serverinfo";

class ContactAddressesModule final : public module::Module {
 public:
  void configure(core::ConfigSection& section) override {
    fields_.clear();
    for (const auto& [key, var] : kFields) {
      auto uris = section.getStringList(key, {});
      for (const auto& u : uris) {
        // XEP-0157 §3: each value is a URI (mailto:, xmpp:, https:…).
        auto colon = u.find(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == u.size())
          section.fail(key, "each address must be a URI such as mailto:abuse@example.org");
      }
      if (!uris.empty()) fields_.emplace_back(std::string(var), std::move(uris));
    }
  }

  void start(module::ModuleContext& ctx) override {
    if (fields_.empty()) return;  // nothing configured: no form at all
    const std::string ns(xml::ns::kDataForms);
    auto form = xml::make("x", ns);
    form->setAttr("type", "result");
    auto formType = xml::make("field", ns);
    formType->setAttr("var", "FORM_TYPE");
    formType->setAttr("type", "hidden");
    formType->addTextChild("value", ns, kFormType);
    form->addChild(formType);
    for (const auto& [var, uris] : fields_) {
      auto field = xml::make("field", ns);
      field->setAttr("var", var);
      for (const auto& u : uris) field->addTextChild("value", ns, u);
      form->addChild(field);
    }
    ctx.discoExtension(module::DiscoScope::Server, form);
  }

 private:
  std::vector<std::pair<std::string, std::vector<std::string>>> fields_;  // only those with values
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{
    "contact_addresses", "XEP-0157 contact addresses in service discovery", {}, true, [] {
      return std::unique_ptr<module::Module>(new ContactAddressesModule);
    }};

}  // namespace parley::xep::contact_addresses
