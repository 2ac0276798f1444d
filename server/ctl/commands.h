// The parleyctl commands. Each returns the process exit code and prints its result or error.
#pragma once

#include <string>

#include "server/core/config.h"

namespace parley::ctl {

struct Args {
  std::string jid;
  std::string password;
  std::string domain;
};

int check(const core::Config& config);
int userAdd(const core::Config& config, const Args& args);
int userDel(const core::Config& config, const Args& args);
int userPasswd(const core::Config& config, const Args& args);
int userList(const core::Config& config, const Args& args);
// Copies every table from the storage of the configuration at `fromPath` to the storage of the one at
// `toPath` (storage::copyDatabase), printing one line per table.
int migrate(const std::string& fromPath, const std::string& toPath);

}  // namespace parley::ctl
