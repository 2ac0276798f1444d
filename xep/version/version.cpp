// XEP-0092 software version of the server: name, version and (unless hidden) the operating system.
#include "server/core/version.h"

#include <sys/utsname.h>

#include "server/core/server.h"
#include "server/module/module.h"
#include "server/xml/namespaces.h"

namespace parley::xep::version {

namespace {

// "Linux 6.1.0-18-amd64"; read once at start (uname does not block).
std::string operatingSystem() {
  struct utsname u {};
  if (uname(&u) != 0) return {};
  return std::string(u.sysname) + " " + u.release;
}

class VersionModule final : public module::Module {
 public:
  void configure(core::ConfigSection& section) override { hideOs_ = section.getBool("hide_os", false); }

  void start(module::ModuleContext& ctx) override {
    const std::string ns(xml::ns::kVersion);
    // XEP-0092 §2: the answer is the same for every request, so it is built once.
    auto query = xml::make("query", ns);
    query->addTextChild("name", ns, core::kProductName);
    query->addTextChild("version", ns, core::kVersion);
    if (!hideOs_) {
      std::string os = operatingSystem();
      if (!os.empty()) query->addTextChild("os", ns, os);  // XEP-0092 §2: optional
    }
    xml::ElementPtr answer = query;
    ctx.feature(module::DiscoScope::Server, ns);
    ctx.iq(router::IqScope::Server, "get", ns, "query",
           [answer](const router::IqRequest& req) { req.result(answer); });
  }

 private:
  bool hideOs_ = false;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{"version", "XEP-0092 software version", {}, true, [] {
                                   return std::unique_ptr<module::Module>(new VersionModule);
                                 }};

}  // namespace parley::xep::version
