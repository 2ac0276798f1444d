// THE registration list: one line per module. A module's folder holds everything else about it.
#include "server/module/module.h"

#define PARLEY_MODULE(ns)                  \
  namespace parley::xep::ns {              \
  extern const module::ModuleInfo kModule; \
  }
PARLEY_MODULE(disco)
PARLEY_MODULE(ping)
PARLEY_MODULE(version)
PARLEY_MODULE(time)
PARLEY_MODULE(last)
PARLEY_MODULE(private_storage)
PARLEY_MODULE(vcard)
PARLEY_MODULE(blocking)
PARLEY_MODULE(offline)
PARLEY_MODULE(contact_addresses)
PARLEY_MODULE(mam)
PARLEY_MODULE(sm)
PARLEY_MODULE(carbons)
PARLEY_MODULE(csi)
PARLEY_MODULE(metrics_module)
PARLEY_MODULE(upload)
PARLEY_MODULE(muc)
PARLEY_MODULE(push)
PARLEY_MODULE(push_appserver)
PARLEY_MODULE(adhoc)
PARLEY_MODULE(admin)
PARLEY_MODULE(reg)
PARLEY_MODULE(pep)
PARLEY_MODULE(websocket)
#undef PARLEY_MODULE

namespace parley::module {

const std::vector<ModuleInfo>& builtinModules() {
  static const std::vector<ModuleInfo> modules = {
      xep::disco::kModule,              // XEP-0030, XEP-0115, XEP-0128
      xep::ping::kModule,               // XEP-0199
      xep::version::kModule,            // XEP-0092
      xep::time::kModule,               // XEP-0202
      xep::last::kModule,               // XEP-0012
      xep::private_storage::kModule,    // XEP-0049
      xep::vcard::kModule,              // XEP-0054
      xep::blocking::kModule,           // XEP-0191
      xep::offline::kModule,            // XEP-0160
      xep::contact_addresses::kModule,  // XEP-0157
      xep::mam::kModule,                // XEP-0313, XEP-0359, XEP-0441
      xep::sm::kModule,                 // XEP-0198
      xep::carbons::kModule,            // XEP-0280
      xep::csi::kModule,                // XEP-0352
      xep::metrics_module::kModule,     // server metrics (Prometheus text) for admins
      xep::upload::kModule,             // XEP-0363 HTTP file upload (component upload.<host>)
      xep::muc::kModule,                // XEP-0045 multi-user chat (component muc.<host>)
      xep::push::kModule,               // XEP-0357 push notifications to app servers
      xep::push_appserver::kModule,     // push.<host>: XEP-0357 app server, FCM and APNs (push/)
      xep::adhoc::kModule,              // XEP-0050 ad-hoc commands (framework: xep/adhoc/adhoc.h)
      xep::admin::kModule,              // XEP-0133 service administration, message of the day
      xep::reg::kModule,                // XEP-0077 in-band registration (off by default), XEP-0401 invites
      xep::pep::kModule,                // XEP-0163 PEP, XEP-0223, XEP-0402, XEP-0084/XEP-0398
      xep::websocket::kModule,          // RFC 7395 XMPP over WebSocket, XEP-0156 host-meta
  };
  return modules;
}

}  // namespace parley::module
