#include "server/sasl/plain.h"

#include "server/util/utf8.h"

namespace parley::sasl {

PlainMessage parsePlain(std::string_view message) {
  PlainMessage result;
  const std::size_t nul1 = message.find('\0');
  if (nul1 == std::string_view::npos) return result;
  const std::size_t nul2 = message.find('\0', nul1 + 1);
  if (nul2 == std::string_view::npos) return result;
  const std::string_view authzid = message.substr(0, nul1);
  const std::string_view authcid = message.substr(nul1 + 1, nul2 - nul1 - 1);
  const std::string_view password = message.substr(nul2 + 1);
  // authcid and passwd are 1*SAFE (UTF-8 without NUL): a third NUL lands in passwd and is refused.
  if (authcid.empty() || password.empty() || password.find('\0') != std::string_view::npos) return result;
  if (!util::isValidUtf8(authzid) || !util::isValidUtf8(authcid) || !util::isValidUtf8(password)) {
    return result;
  }
  result.ok = true;
  result.authzid = std::string(authzid);
  result.authcid = std::string(authcid);
  result.password = std::string(password);
  return result;
}

}  // namespace parley::sasl
