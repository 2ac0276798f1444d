// XEP-0202 entity time of the server. The server reports UTC: its clock is what matters to clients
// comparing timestamps, and its local time zone is nobody's business.
#include "server/util/time.h"

#include "server/core/server.h"
#include "server/module/module.h"
#include "server/xml/namespaces.h"

namespace parley::xep::time {

namespace {

class TimeModule final : public module::Module {
 public:
  void start(module::ModuleContext& ctx) override {
    const std::string ns(xml::ns::kTime);
    ctx.feature(module::DiscoScope::Server, ns);
    ctx.iq(router::IqScope::Server, "get", ns, "time", [ns](const router::IqRequest& req) {
      // XEP-0202 §3: offset and UTC time in the XEP-0082 profiles.
      auto t = xml::make("time", ns);
      t->addTextChild("tzo", ns, "+00:00");
      t->addTextChild("utc", ns, util::iso8601(util::unixNow()));
      req.result(t);
    });
  }
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{
    "time", "XEP-0202 entity time", {}, true, [] { return std::unique_ptr<module::Module>(new TimeModule); }};

}  // namespace parley::xep::time
