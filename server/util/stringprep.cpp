#include "server/util/stringprep.h"

#include <array>
#include <cstddef>

#include <unicode/usprep.h>
#include <unicode/ustring.h>
#include <unicode/utypes.h>

#include "server/util/utf8.h"

namespace parley::util {
namespace {

constexpr std::size_t kMaxInput = 1 << 20;  // keeps every length comfortably inside int32_t

// ICU profiles are immutable after opening and safe to share between threads; they are opened once
// (thread-safe static initialisation) and live for the whole process.
struct Profiles {
  std::array<UStringPrepProfile*, 4> p{};
  Profiles() {
    const UStringPrepProfileType types[] = {USPREP_RFC4013_SASLPREP, USPREP_RFC3491_NAMEPREP,
                                            USPREP_RFC3920_NODEPREP, USPREP_RFC3920_RESOURCEPREP};
    for (std::size_t i = 0; i < p.size(); ++i) {
      UErrorCode status = U_ZERO_ERROR;
      p[i] = usprep_openByType(types[i], &status);
      if (U_FAILURE(status)) p[i] = nullptr;  // missing ICU data: every preparation then fails
    }
  }
  ~Profiles() {
    for (auto* profile : p) {
      if (profile) usprep_close(profile);
    }
  }
};

const UStringPrepProfile* profileFor(PrepProfile which) {
  static const Profiles profiles;
  return profiles.p[static_cast<std::size_t>(which)];
}

std::optional<std::u16string> toUtf16(std::string_view utf8) {
  std::u16string out(utf8.size(), u'\0');  // UTF-16 never needs more units than UTF-8 has bytes
  int32_t len = 0;
  UErrorCode status = U_ZERO_ERROR;
  u_strFromUTF8(reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()), &len, utf8.data(),
                static_cast<int32_t>(utf8.size()), &status);
  // U_STRING_NOT_TERMINATED_WARNING (no room for a terminator) is not a failure: we keep the length.
  if (U_FAILURE(status)) return std::nullopt;
  out.resize(static_cast<std::size_t>(len));
  return out;
}

std::optional<std::string> toUtf8(const std::u16string& utf16) {
  std::string out(utf16.size() * 3, '\0');  // each UTF-16 unit gives at most 3 bytes
  int32_t len = 0;
  UErrorCode status = U_ZERO_ERROR;
  u_strToUTF8(out.data(), static_cast<int32_t>(out.size()), &len,
              reinterpret_cast<const UChar*>(utf16.data()), static_cast<int32_t>(utf16.size()), &status);
  if (U_FAILURE(status)) return std::nullopt;
  out.resize(static_cast<std::size_t>(len));
  return out;
}

// The profiles on ASCII input (JIDs and SASL names nearly always are), without two UTF-16 conversions
// and ICU's table walk. On ASCII, NFKC and the bidi rules change nothing, no code point is unassigned,
// and the tables of RFC 3454 reduce to: B.2 case folding (A-Z to a-z) for nameprep and nodeprep; C.2.1
// (control characters) prohibited by nodeprep, resourceprep and SASLprep; and for nodeprep (RFC 3920
// appendix A) also the space (C.1.1) and " & ' / : < > @. Nameprep leaves control characters and the
// space to the IDNA label rules that follow it.
std::optional<std::string> asciiPrep(PrepProfile which, std::string_view s) {
  const bool fold = which == PrepProfile::NamePrep || which == PrepProfile::NodePrep;
  std::string out(s);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 || u == 0x7f) && which != PrepProfile::NamePrep) return std::nullopt;
    if (fold && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (which != PrepProfile::NodePrep) continue;
    switch (c) {
      case ' ':
      case '"':
      case '&':
      case '\'':
      case '/':
      case ':':
      case '<':
      case '>':
      case '@':
        return std::nullopt;
      default:
        break;
    }
  }
  return out;
}

bool isAscii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

}  // namespace

std::optional<std::string> stringPrep(PrepProfile which, std::string_view utf8) {
  if (utf8.size() <= kMaxInput && isAscii(utf8)) return asciiPrep(which, utf8);
  return detail::stringPrepIcu(which, utf8);
}

std::optional<std::string> detail::stringPrepIcu(PrepProfile which, std::string_view utf8) {
  const UStringPrepProfile* profile = profileFor(which);
  if (!profile || utf8.size() > kMaxInput || !isValidUtf8(utf8)) return std::nullopt;
  if (utf8.empty()) return std::string();
  auto src = toUtf16(utf8);
  if (!src) return std::nullopt;

  // Mappings can expand (case folding, NFKC); retry once with the size ICU reports.
  std::u16string dest(src->size() * 2 + 16, u'\0');
  for (int attempt = 0; attempt < 2; ++attempt) {
    UErrorCode status = U_ZERO_ERROR;
    UParseError parseError;
    const int32_t len = usprep_prepare(
        // usprep_prepare takes a non-const profile but does not modify it.
        const_cast<UStringPrepProfile*>(profile), reinterpret_cast<const UChar*>(src->data()),
        static_cast<int32_t>(src->size()), reinterpret_cast<UChar*>(dest.data()),
        static_cast<int32_t>(dest.size()), USPREP_ALLOW_UNASSIGNED, &parseError, &status);
    if (status == U_BUFFER_OVERFLOW_ERROR && attempt == 0) {
      dest.assign(static_cast<std::size_t>(len), u'\0');
      continue;
    }
    if (U_FAILURE(status)) return std::nullopt;
    dest.resize(static_cast<std::size_t>(len));
    return toUtf8(dest);
  }
  return std::nullopt;
}

}  // namespace parley::util
