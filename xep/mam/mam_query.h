// The protocol half of an XEP-0313 query, shared by every archive the server exposes (user archives in
// xep/mam, room archives in xep/muc): the query form and XEP-0059 <set/> parsed into an ArchiveQuery,
// the query form a client asks for (§4.1.5), and the answer (result messages, then <fin/>). What an
// archive holds, who may read it and how its ids are encoded stay with the module that owns it.
// No blocking, no state: safe on any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "server/xml/element.h"
#include "server/xmpp/errors.h"
#include "server/xmpp/jid.h"
#include "xep/mam/archive_store.h"

namespace parley::xep::mam {

// When <count/> and <first index/> are computed (each costs a pass over the matching messages).
enum class RsmCount { Always, FirstPage, Never };

struct QueryLimits {
  std::int64_t defaultPageSize = 50;
  std::int64_t maxPageSize = 250;
  RsmCount count = RsmCount::FirstPage;
};

struct QueryError {
  xmpp::StanzaError condition;
  std::string text;
};

struct ParsedQuery {
  // Filled except domain, user and the 'with' filter (the module maps `with` onto its archive).
  ArchiveQuery query;
  std::optional<xmpp::Jid> with;        // the 'with' field as given
  std::vector<std::int64_t> mustExist;  // ids the client named: item-not-found unless in the archive
  std::string queryId;
  bool flip = false;
};

// Decodes an id a client names; nullopt when it is not one of this archive's ids.
using IdDecoder = std::function<std::optional<std::int64_t>(std::string_view)>;

// XEP-0313 §4.1 form fields and XEP-0059 paging in <query xmlns='urn:xmpp:mam:2'/>.
std::variant<ParsedQuery, QueryError> parseQuery(const xml::Element& query, const QueryLimits& limits,
                                                 const IdDecoder& decode);

// XEP-0313 §4.1.5: the fields a query may use (the payload of the answer to an IQ get).
xml::ElementPtr queryForm();

// The answer to a query: the <message><result/></message> payloads in the order to send them (flipped
// if asked, §4.3.4), each still without from/to, and the <fin/> for the IQ result.
struct QueryAnswer {
  std::vector<xml::ElementPtr> results;
  xml::ElementPtr fin;
};
// `encode` turns an archive id into the client's id; `forwarded` gives the archived message to forward
// (nullptr skips it, e.g. an unreadable row).
QueryAnswer buildAnswer(const ParsedQuery& p, const ArchivePage& page,
                        const std::function<std::string(std::int64_t)>& encode,
                        const std::function<xml::ElementPtr(const ArchivedMessage&)>& forwarded);

// XEP-0313 §5 metadata payload for an archive's oldest and newest message (none: empty archive).
xml::ElementPtr metadataElement(const std::optional<std::pair<ArchivedMessage, ArchivedMessage>>& bounds,
                                const std::function<std::string(std::int64_t)>& encode);

}  // namespace parley::xep::mam
