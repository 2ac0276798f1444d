#include "xep/mam/mam_query.h"

#include <algorithm>
#include <atomic>

#include "server/xml/namespaces.h"
#include "xep/mam/archive_id.h"

namespace parley::xep::mam {

namespace {

using xmpp::Jid;
using xmpp::StanzaError;

constexpr std::string_view kMam = xml::ns::kMam;
constexpr std::string_view kForms = xml::ns::kDataForms;
constexpr std::string_view kRsm = xml::ns::kRsm;

std::vector<std::string> fieldValues(const xml::Element& field) {
  std::vector<std::string> out;
  for (const auto& v : field.childrenNamed("value", kForms)) out.push_back(v->text());
  return out;
}

std::atomic<std::uint64_t> resultSeq{0};

}  // namespace

std::variant<ParsedQuery, QueryError> parseQuery(const xml::Element& q, const QueryLimits& limits,
                                                 const IdDecoder& decodeId) {
  ParsedQuery p;
  p.queryId = std::string(q.attr("queryid"));
  auto& aq = p.query;
  aq.max = limits.defaultPageSize;
  auto unknownId = QueryError{StanzaError::ItemNotFound, "no message with that id in this archive"};
  if (const auto* x = q.child("x", kForms)) {
    if (!x->attr("type").empty() && x->attr("type") != "submit")
      return QueryError{StanzaError::BadRequest, "the query form must be of type submit"};
    for (const auto& field : x->childrenNamed("field", kForms)) {
      const auto var = field->attr("var");
      auto values = fieldValues(*field);
      if (var == "ids") {
        if (values.size() > static_cast<std::size_t>(limits.maxPageSize))
          return QueryError{StanzaError::PolicyViolation, "too many ids"};
        for (const auto& v : values) {
          auto id = decodeId(v);
          if (!id) return unknownId;
          aq.ids.push_back(*id);
          p.mustExist.push_back(*id);
        }
        continue;
      }
      if (values.size() > 1)
        return QueryError{StanzaError::BadRequest, std::string(var) + " takes one value"};
      const std::string value = values.empty() ? std::string() : values[0];
      if (var == "FORM_TYPE") {
        if (value != kMam) return QueryError{StanzaError::BadRequest, "FORM_TYPE must be urn:xmpp:mam:2"};
      } else if (var == "with") {
        auto jid = Jid::parse(value);
        if (!jid) return QueryError{StanzaError::JidMalformed, "'with' is not a JID"};
        p.with = *jid;
      } else if (var == "start" || var == "end") {
        auto t = parseMicros(value);
        if (!t) return QueryError{StanzaError::BadRequest, std::string(var) + " is not a XEP-0082 DateTime"};
        (var == "start" ? aq.start : aq.end) = *t;
      } else if (var == "after-id" || var == "before-id") {
        auto id = decodeId(value);
        if (!id) return unknownId;
        p.mustExist.push_back(*id);
        auto& bound = var == "after-id" ? aq.afterId : aq.beforeId;
        bound = *id;
      } else {
        // XEP-0313 §4.1.5: fields the server does not know.
        return QueryError{StanzaError::FeatureNotImplemented, "unsupported field: " + std::string(var)};
      }
    }
  }
  if (const auto* set = q.child("set", kRsm)) {
    if (set->child("index", kRsm))
      return QueryError{StanzaError::FeatureNotImplemented, "RSM <index/> is not supported; page by id"};
    if (const auto* max = set->child("max", kRsm)) {
      const std::string t = max->text();
      if (t.empty() || t.size() > 9 ||
          !std::all_of(t.begin(), t.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
        return QueryError{StanzaError::BadRequest, "<max/> must be a non-negative integer"};
      aq.max = std::min<std::int64_t>(std::stoll(t), limits.maxPageSize);  // §4.3.1: the server's limit
    }
    if (const auto* after = set->child("after", kRsm)) {
      auto id = decodeId(after->text());
      if (!id) return unknownId;  // XEP-0313 §4.3.2
      aq.pageAfter = *id;
      p.mustExist.push_back(*id);
    }
    if (const auto* before = set->child("before", kRsm)) {
      aq.fromEnd = true;  // XEP-0059 §2.5: paging backwards; empty: the last page (XEP-0313 §4.3.3)
      const std::string t = before->text();
      if (!t.empty()) {
        auto id = decodeId(t);
        if (!id) return unknownId;
        aq.pageBefore = *id;
        p.mustExist.push_back(*id);
      }
    }
  }
  p.flip = q.child("flip-page", kMam) != nullptr;
  // <count/> and <first index/> cost a pass over the matching messages: by default only for a query
  // that starts a scroll (no RSM <after/>, no <before>id</before>), which is where clients read them.
  aq.count = limits.count == RsmCount::Always ||
             (limits.count == RsmCount::FirstPage && !aq.pageAfter && !aq.pageBefore);
  return p;
}

xml::ElementPtr queryForm() {
  auto x = xml::make("x", std::string(kForms));
  x->setAttr("type", "form");
  auto field = [&](std::string_view var, std::string_view type) {
    auto f = xml::make("field", std::string(kForms));
    f->setAttr("var", var);
    f->setAttr("type", type);
    return f;
  };
  auto formType = field("FORM_TYPE", "hidden");
  formType->addTextChild("value", kForms, kMam);
  x->addChild(std::move(formType));
  x->addChild(field("with", "jid-single"));
  x->addChild(field("start", "text-single"));
  x->addChild(field("end", "text-single"));
  x->addChild(field("before-id", "text-single"));
  x->addChild(field("after-id", "text-single"));
  auto ids = field("ids", "list-multi");
  auto validate = xml::make("validate", "http://jabber.org/protocol/xdata-validate");
  validate->setAttr("datatype", "xs:string");
  validate->addChild(xml::make("open", "http://jabber.org/protocol/xdata-validate"));
  ids->addChild(std::move(validate));
  x->addChild(std::move(ids));
  auto q = xml::make("query", std::string(kMam));
  q->addChild(std::move(x));
  return q;
}

QueryAnswer buildAnswer(const ParsedQuery& p, const ArchivePage& page,
                        const std::function<std::string(std::int64_t)>& encode,
                        const std::function<xml::ElementPtr(const ArchivedMessage&)>& forwarded) {
  QueryAnswer a;
  std::vector<std::string> ids;
  ids.reserve(page.messages.size());
  for (const auto& m : page.messages) ids.push_back(encode(m.id));
  auto one = [&](std::size_t i) {
    const auto& m = page.messages[i];
    auto stored = forwarded(m);
    if (!stored) return;
    auto result = xml::make("result", std::string(kMam));
    if (!p.queryId.empty()) result->setAttr("queryid", p.queryId);
    result->setAttr("id", ids[i]);
    auto fwd = xml::make("forwarded", std::string(xml::ns::kForward));
    auto delay = xml::make("delay", std::string(xml::ns::kDelay));
    delay->setAttr("stamp", formatMicros(m.stamp));
    fwd->addChild(std::move(delay));
    fwd->addChild(std::move(stored));
    result->addChild(std::move(fwd));
    auto msg = xml::make("message", std::string(xml::ns::kClient));
    msg->setAttr("id", "mam-" + std::to_string(resultSeq.fetch_add(1)));
    msg->addChild(std::move(result));
    a.results.push_back(std::move(msg));
  };
  // XEP-0313 §4.3.4: a flipped page is the same page, sent newest first.
  if (p.flip) {
    for (std::size_t i = page.messages.size(); i-- > 0;) one(i);
  } else {
    for (std::size_t i = 0; i < page.messages.size(); ++i) one(i);
  }
  auto fin = xml::make("fin", std::string(kMam));
  if (page.complete) fin->setAttr("complete", "true");
  auto set = xml::make("set", std::string(kRsm));
  if (!ids.empty()) {
    auto first = xml::make("first", std::string(kRsm));
    if (page.firstIndex >= 0) first->setAttr("index", std::to_string(page.firstIndex));
    first->addText(ids.front());
    set->addChild(std::move(first));
    set->addTextChild("last", kRsm, ids.back());
  }
  if (page.count >= 0) set->addTextChild("count", kRsm, std::to_string(page.count));
  fin->addChild(std::move(set));
  a.fin = std::move(fin);
  return a;
}

xml::ElementPtr metadataElement(const std::optional<std::pair<ArchivedMessage, ArchivedMessage>>& bounds,
                                const std::function<std::string(std::int64_t)>& encode) {
  auto md = xml::make("metadata", std::string(kMam));
  if (bounds) {
    for (const auto& [name, m] : {std::pair{"start", bounds->first}, std::pair{"end", bounds->second}}) {
      auto e = xml::make(name, std::string(kMam));
      e->setAttr("id", encode(m.id));
      e->setAttr("timestamp", formatMicros(m.stamp));
      md->addChild(std::move(e));
    }
  }
  return md;
}

}  // namespace parley::xep::mam
