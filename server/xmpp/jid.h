// DESIGN: Jid is a value type holding an address already validated and normalised (RFC 7622 §3),
// so comparing and hashing JIDs is plain string work everywhere else. Normalisation uses ICU's
// stringprep profiles (nodeprep for the localpart, nameprep + IDNA ToUnicode rules for the
// domainpart, resourceprep for the resourcepart): the profiles the deployed XMPP network uses.
// Each part is limited to 1023 bytes after preparation (RFC 7622 §3.2–3.4).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace parley::xmpp {

class Jid {
 public:
  Jid() = default;

  // Parses and normalises a JID; nullopt when it is not a valid JID (callers answer jid-malformed).
  static std::optional<Jid> parse(std::string_view text);
  // Builds from parts; each part is prepared. nullopt when any part is invalid. An empty local or
  // resource means "absent".
  static std::optional<Jid> fromParts(std::string_view local, std::string_view domain,
                                      std::string_view resource = {});

  // Individual profiles (also used for SCRAM usernames and resource binding). nullopt when invalid.
  static std::optional<std::string> prepLocal(std::string_view local);
  static std::optional<std::string> prepDomain(std::string_view domain);
  static std::optional<std::string> prepResource(std::string_view resource);

  const std::string& local() const { return local_; }
  const std::string& domain() const { return domain_; }
  const std::string& resource() const { return resource_; }

  bool empty() const { return domain_.empty(); }
  bool isBare() const { return resource_.empty(); }
  bool isFull() const { return !resource_.empty(); }
  bool isDomain() const { return local_.empty() && resource_.empty(); }  // a server or service

  Jid bare() const;                                   // without the resource
  Jid withResource(std::string_view resource) const;  // resource must already be prepared
  std::string str() const;                            // "local@domain/resource"
  std::string bareStr() const;                        // "local@domain"

  friend bool operator==(const Jid&, const Jid&) = default;
  friend auto operator<=>(const Jid&, const Jid&) = default;

 private:
  std::string local_;
  std::string domain_;
  std::string resource_;
};

struct JidHash {
  std::size_t operator()(const Jid& j) const noexcept;
};

}  // namespace parley::xmpp
