// THE registration list: one line per module. A module's folder holds everything else about it.
#include "server/module/module.h"

#define PARLEY_MODULE(ns) \
  namespace parley::xep::ns { \
  extern const module::ModuleInfo kModule; \
  }
PARLEY_MODULE(disco)
PARLEY_MODULE(offline)
#undef PARLEY_MODULE

namespace parley::module {

const std::vector<ModuleInfo>& builtinModules() {
  static const std::vector<ModuleInfo> modules = {
      xep::disco::kModule,            // XEP-0030, XEP-0115, XEP-0128/0157
      xep::offline::kModule,          // XEP-0160
  };
  return modules;
}

}  // namespace parley::module
