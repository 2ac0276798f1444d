#include "server/xmpp/jid.h"

#include <cstdint>
#include <vector>

#include <arpa/inet.h>
#include <unicode/uidna.h>

#include "server/util/stringprep.h"

namespace parley::xmpp {
namespace {

using util::PrepProfile;
using util::stringPrep;

constexpr std::size_t kMaxPart = 1023;   // RFC 7622 §3.2–3.4, after preparation
constexpr std::size_t kMaxInput = 3071;  // a whole JID at most; no single part can need more

// Domain policy, chosen once:
//  - IP literals: IPv4 dotted quads and bracketed IPv6 (RFC 7622 §3.2), kept in inet_ntop's
//    canonical form so "[::0001]" and "[::1]" are the same JID.
//  - Names: nameprep (case folding, NFKC; what the deployed network compares with), then every label
//    must be an NR-LDH label (letters, digits, inner hyphens; RFC 5890 §2.3.1) or pass IDNA (UTS #46
//    with STD3 rules, bidi and context checks). A-labels ("xn--…") are turned into U-labels (RFC 7622
//    §3.2.1 compares U-labels), so the stored form is the lowercased Unicode name.
//  - The 253-octet DNS limit is not applied: RFC 7622 allows 1023 bytes, and a component name need
//    not be in the DNS.
// Label separators besides '.': IDEOGRAPHIC FULL STOP, FULLWIDTH FULL STOP, HALFWIDTH IDEOGRAPHIC FULL STOP.
constexpr std::string_view kDotSeparators[] = {"\xE3\x80\x82", "\xEF\xBC\x8E", "\xEF\xBD\xA1"};

constexpr uint32_t kIdnaOptions = UIDNA_USE_STD3_RULES | UIDNA_CHECK_BIDI | UIDNA_CHECK_CONTEXTJ |
                                  UIDNA_CHECK_CONTEXTO | UIDNA_NONTRANSITIONAL_TO_ASCII |
                                  UIDNA_NONTRANSITIONAL_TO_UNICODE;
// Errors we do not treat as fatal: see above for the length; hyphens in positions 3–4 are accepted
// in ASCII labels too ("ab--cd"), so IDNA must agree.
constexpr uint32_t kIgnoredIdnaErrors = UIDNA_ERROR_DOMAIN_NAME_TOO_LONG | UIDNA_ERROR_HYPHEN_3_4;

const UIDNA* uts46() {
  // UIDNA instances are immutable and thread-safe; opened once for the process.
  static const UIDNA* const instance = [] {
    UErrorCode status = U_ZERO_ERROR;
    UIDNA* idna = uidna_openUTS46(kIdnaOptions, &status);
    return U_FAILURE(status) ? nullptr : idna;
  }();
  return instance;
}

using IdnaFn = int32_t (*)(const UIDNA*, const char*, int32_t, char*, int32_t, UIDNAInfo*, UErrorCode*);

std::optional<std::string> runIdna(IdnaFn fn, std::string_view name) {
  const UIDNA* idna = uts46();
  if (!idna) return std::nullopt;
  std::string out(name.size() * 4 + 16, '\0');
  for (int attempt = 0; attempt < 2; ++attempt) {
    UIDNAInfo info = UIDNA_INFO_INITIALIZER;
    UErrorCode status = U_ZERO_ERROR;
    const int32_t len = fn(idna, name.data(), static_cast<int32_t>(name.size()), out.data(),
                           static_cast<int32_t>(out.size()), &info, &status);
    if (status == U_BUFFER_OVERFLOW_ERROR && attempt == 0) {
      out.assign(static_cast<std::size_t>(len), '\0');
      continue;
    }
    if (U_FAILURE(status) || (info.errors & ~kIgnoredIdnaErrors) != 0) return std::nullopt;
    out.resize(static_cast<std::size_t>(len));
    return out;
  }
  return std::nullopt;
}

bool isAscii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

bool isLdhLabel(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Checks every label of an ASCII name; sets `hasALabel` when one starts with "xn--".
bool checkAsciiLabels(std::string_view name, bool& hasALabel) {
  hasALabel = false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = name.find('.', start);
    const std::string_view label = name.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (!isLdhLabel(label)) return false;
    if (label.size() >= 4 && (label[0] == 'x' || label[0] == 'X') && (label[1] == 'n' || label[1] == 'N') &&
        label[2] == '-' && label[3] == '-') {
      hasALabel = true;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::optional<std::string> prepIpLiteral(std::string_view d) {
  if (d.front() == '[') {
    if (d.size() < 3 || d.back() != ']') return std::nullopt;
    const std::string inner(d.substr(1, d.size() - 2));
    in6_addr addr{};
    if (inet_pton(AF_INET6, inner.c_str(), &addr) != 1) return std::nullopt;
    char buf[INET6_ADDRSTRLEN];
    if (!inet_ntop(AF_INET6, &addr, buf, sizeof buf)) return std::nullopt;
    return "[" + std::string(buf) + "]";
  }
  const std::string text(d);
  in_addr addr{};
  if (inet_pton(AF_INET, text.c_str(), &addr) != 1) return std::nullopt;
  char buf[INET_ADDRSTRLEN];
  if (!inet_ntop(AF_INET, &addr, buf, sizeof buf)) return std::nullopt;
  return std::string(buf);
}

bool onlyDigitsAndDots(std::string_view s) {
  for (char c : s) {
    if (!(c >= '0' && c <= '9') && c != '.') return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> Jid::prepLocal(std::string_view local) {
  if (local.empty() || local.size() > kMaxInput) return std::nullopt;
  auto p = stringPrep(PrepProfile::NodePrep, local);
  // RFC 7622 §3.3: at least one byte after preparation (mappings can remove everything).
  if (!p || p->empty() || p->size() > kMaxPart) return std::nullopt;
  // RFC 3920 Appendix A.5: nodeprep also prohibits these ASCII characters. ICU's profile has them;
  // checking again costs nothing and does not depend on the ICU data file.
  if (p->find_first_of("\"&'/:<>@ ") != std::string::npos) return std::nullopt;
  return p;
}

std::optional<std::string> Jid::prepResource(std::string_view resource) {
  if (resource.empty() || resource.size() > kMaxInput) return std::nullopt;
  auto p = stringPrep(PrepProfile::ResourcePrep, resource);
  if (!p || p->empty() || p->size() > kMaxPart) return std::nullopt;
  return p;
}

namespace {
std::optional<std::string> prepDomainOnce(std::string_view domain, bool recheck);
}

std::optional<std::string> Jid::prepDomain(std::string_view domain) {
  return prepDomainOnce(domain, true);
}

namespace {
std::optional<std::string> prepDomainOnce(std::string_view domain, bool recheck) {
  if (domain.empty() || domain.size() > kMaxInput) return std::nullopt;
  // RFC 7622 §3.2: a final label separator is stripped before the domainpart is used or compared.
  std::string_view stripped = domain;
  if (stripped.back() == '.') stripped.remove_suffix(1);
  if (stripped.empty()) return std::nullopt;
  if (stripped.front() == '[' || onlyDigitsAndDots(stripped)) return prepIpLiteral(stripped);

  // IDNA2003 §3.1: nameprep applies label by label (its bidi rule would otherwise refuse an Arabic
  // label next to a Latin one), and U+3002, U+FF0E and U+FF61 separate labels like '.'.
  std::vector<std::string_view> labels;
  std::size_t start = 0;
  for (std::size_t i = 0; i < domain.size();) {
    std::size_t sepLen = 0;
    if (domain[i] == '.') {
      sepLen = 1;
    } else {
      for (std::string_view sep : kDotSeparators) {
        if (domain.substr(i, sep.size()) == sep) sepLen = sep.size();
      }
    }
    if (sepLen == 0) {
      ++i;
      continue;
    }
    labels.push_back(domain.substr(start, i - start));
    i += sepLen;
    start = i;
  }
  labels.push_back(domain.substr(start));
  if (labels.size() > 1 && labels.back().empty()) labels.pop_back();  // RFC 7622 §3.2 trailing dot

  std::string name;
  for (std::string_view label : labels) {
    auto p = label.empty() ? std::nullopt : stringPrep(PrepProfile::NamePrep, label);
    if (!p || p->empty()) return std::nullopt;
    // NFKC can produce a separator (U+2488 "⒈" becomes "1."): IDNA2003 refuses that label.
    if (p->find('.') != std::string::npos) return std::nullopt;
    for (std::string_view sep : kDotSeparators) {
      if (p->find(sep) != std::string::npos) return std::nullopt;
    }
    if (!name.empty()) name += '.';
    name += *p;
    if (name.size() > kMaxInput) return std::nullopt;
  }

  if (onlyDigitsAndDots(name)) return prepIpLiteral(name);  // e.g. written with fullwidth digits

  bool hasALabel = false;
  if (isAscii(name)) {
    if (!checkAsciiLabels(name, hasALabel)) return std::nullopt;
    if (!hasALabel) {
      if (name.size() > kMaxPart) return std::nullopt;
      return name;
    }
  }
  // Internationalised (or A-label) name: validate through ToASCII, keep the ToUnicode form.
  auto ascii = runIdna(uidna_nameToASCII_UTF8, name);
  if (!ascii || !checkAsciiLabels(*ascii, hasALabel)) return std::nullopt;
  auto unicode = runIdna(uidna_nameToUnicodeUTF8, *ascii);
  if (!unicode || unicode->empty() || unicode->size() > kMaxPart) return std::nullopt;
  // The U-label form is what is stored and compared, so it must itself be a domainpart that prepares
  // to itself: an A-label can encode code points nameprep refuses (unassigned in Unicode 3.2, e.g.
  // Samaritan), and such a JID would be accepted once and then fail to parse from its own string
  // (found by fuzzing).
  if (recheck && *unicode != name) {
    auto again = prepDomainOnce(*unicode, false);
    if (!again || *again != *unicode) return std::nullopt;
  }
  return unicode;
}
}  // namespace

std::optional<Jid> Jid::parse(std::string_view text) {
  // 3071 = three parts of 1023 bytes and two separators.
  if (text.empty() || text.size() > kMaxInput) return std::nullopt;
  // RFC 7622 §3.1: the resourcepart is everything after the first '/', then the localpart is
  // everything before the first '@' of what remains.
  std::string_view rest = text;
  std::string_view resource;
  const std::size_t slash = rest.find('/');
  if (slash != std::string_view::npos) {
    resource = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (resource.empty()) return std::nullopt;
  }
  std::string_view local;
  const std::size_t at = rest.find('@');
  if (at != std::string_view::npos) {
    local = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (local.empty()) return std::nullopt;
  }
  return fromParts(local, rest, resource);
}

std::optional<Jid> Jid::fromParts(std::string_view local, std::string_view domain,
                                  std::string_view resource) {
  Jid jid;
  auto d = prepDomain(domain);
  if (!d) return std::nullopt;
  jid.domain_ = std::move(*d);
  if (!local.empty()) {
    auto l = prepLocal(local);
    if (!l) return std::nullopt;
    jid.local_ = std::move(*l);
  }
  if (!resource.empty()) {
    auto r = prepResource(resource);
    if (!r) return std::nullopt;
    jid.resource_ = std::move(*r);
  }
  return jid;
}

Jid Jid::bare() const {
  Jid j = *this;
  j.resource_.clear();
  return j;
}

Jid Jid::withResource(std::string_view resource) const {
  Jid j = *this;
  j.resource_ = std::string(resource);
  return j;
}

std::string Jid::bareStr() const {
  if (local_.empty()) return domain_;
  std::string s;
  s.reserve(local_.size() + 1 + domain_.size());
  s += local_;
  s += '@';
  s += domain_;
  return s;
}

std::string Jid::str() const {
  std::string s = bareStr();
  if (!resource_.empty()) {
    s += '/';
    s += resource_;
  }
  return s;
}

std::size_t JidHash::operator()(const Jid& j) const noexcept {
  const std::hash<std::string> h;
  std::size_t seed = h(j.local());
  for (const std::string* part : {&j.domain(), &j.resource()}) {
    seed ^= h(*part) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  }
  return seed;
}

}  // namespace parley::xmpp
