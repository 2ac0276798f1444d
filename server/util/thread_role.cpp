#include "server/util/thread_role.h"

namespace parley::util {
namespace {
thread_local ThreadRole tRole = ThreadRole::Other;
}
void setThreadRole(ThreadRole role) {
  tRole = role;
}
ThreadRole threadRole() {
  return tRole;
}
}  // namespace parley::util
