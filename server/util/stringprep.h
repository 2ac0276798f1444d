// Stringprep (RFC 3454) profiles through ICU, on UTF-8 strings. Used by SASLprep (passwords) and by
// the JID parts (nodeprep, nameprep, resourceprep).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace parley::util {

enum class PrepProfile { SaslPrep, NamePrep, NodePrep, ResourcePrep };

// Applies the profile. nullopt when the input is not well-formed UTF-8, contains a prohibited code
// point, fails the bidi rules, or is absurdly long (> 1 MiB). Unassigned code points are allowed
// ("query" semantics, RFC 3454 §7): ICU's tables are Unicode 3.2, and rejecting everything newer would
// refuse e.g. emoji in resources and MUC nicknames, which the deployed network uses. RFC 5802 §2.2
// asks for the same treatment of SCRAM passwords.
// ASCII input takes a short path that gives ICU's result without ICU.
std::optional<std::string> stringPrep(PrepProfile profile, std::string_view utf8);

namespace detail {
// Always through ICU (the tests compare the short path with it).
std::optional<std::string> stringPrepIcu(PrepProfile profile, std::string_view utf8);
}  // namespace detail

}  // namespace parley::util
