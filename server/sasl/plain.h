// SASL PLAIN (RFC 4616): parsing only. The password check runs util::verifyPassword on the blocking
// pool; the caller also decides whether PLAIN is offered at all (only over TLS, RFC 6120 §6.4.1).
#pragma once

#include <string>
#include <string_view>

namespace parley::sasl {

struct PlainMessage {
  bool ok = false;      // false: malformed-request (RFC 6120 §6.5.5)
  std::string authzid;  // empty when absent
  std::string authcid;
  std::string password;  // raw; SASLprep is applied by util::verifyPassword
};

// message = [authzid] UTF8NUL authcid UTF8NUL passwd  (RFC 4616 §2)
PlainMessage parsePlain(std::string_view message);

}  // namespace parley::sasl
