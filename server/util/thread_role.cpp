#include "server/util/thread_role.h"

#include <string>

#include <pthread.h>

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
void nameThread(std::string_view name) {
  const std::string n(name.substr(0, 15));
  pthread_setname_np(pthread_self(), n.c_str());
}
}  // namespace parley::util
