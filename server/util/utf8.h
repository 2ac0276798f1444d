// UTF-8 well-formedness (RFC 3629 §4): shortest form only, no surrogates, nothing above U+10FFFF.
#pragma once

#include <string_view>

namespace parley::util {

// True when `text` is well-formed UTF-8. NUL is well-formed; callers that forbid it check separately.
bool isValidUtf8(std::string_view text);

}  // namespace parley::util
