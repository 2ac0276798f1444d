// XEP-0004 data forms as the server parses them (xep/adhoc/adhoc.h parseSubmission, used by every
// ad-hoc command, registration and service administration): the input is parsed as one XML element
// with the network's parser (a <command/> holding an <x/>, or an <x/> itself) and checked against a
// form with one field of every type.
// Invariants: a submission that validates gives exactly the declared shape (one value for single
// fields, valid JIDs, booleans as 0/1, list values among the options, length limits kept).
#include <string>
#include <variant>

#include "server/xml/parse_fragment.h"
#include "server/xml/writer.h"
#include "tests/fuzz/fuzz_target.h"
#include "xep/adhoc/adhoc.h"

namespace {

using namespace parley;
using xep::adhoc::Field;

const xep::adhoc::Form& form() {
  static const xep::adhoc::Form f = [] {
    xep::adhoc::Form f("Everything", "One field of every type");
    f.formType("urn:parley:fuzz");
    f.add(Field::text("text", "Text").require().limit(64));
    f.add(Field::textPrivate("password", "Password"));
    f.add(Field::textMulti("lines", "Lines"));
    f.add(Field::jidSingle("jid", "JID"));
    f.add(Field::jidMulti("jids", "JIDs"));
    f.add(Field::boolean("flag", "Flag"));
    f.add(Field::listSingle("one", "One", {{"A", "a"}, {"B", "b"}}));
    f.add(Field::listMulti("many", "Many", {{"A", "a"}, {"B", "b"}, {"C", "c"}}));
    f.add(Field::hidden("secret", "s"));
    f.add(Field::fixed("Just text"));
    return f;
  }();
  return f;
}

}  // namespace

PARLEY_FUZZ_TARGET(forms) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto e = xml::parseElement(input, "jabber:client", 64 * 1024);
  if (!e) return 0;
  const xml::Element* x = e->is("x", "jabber:x:data") ? e.get() : xep::adhoc::submittedForm(*e);
  auto result = xep::adhoc::parseSubmission(form(), x);
  if (auto* v = std::get_if<xep::adhoc::Values>(&result)) {
    PARLEY_FUZZ_CHECK(v->has("text"));
    PARLEY_FUZZ_CHECK(v->all("text").size() == 1 && v->text("text").size() <= 64);
    PARLEY_FUZZ_CHECK(v->all("jid").size() <= 1 && v->all("one").size() <= 1 && v->all("flag").size() <= 1);
    if (v->has("jid")) PARLEY_FUZZ_CHECK(v->jid("jid").has_value());
    PARLEY_FUZZ_CHECK(v->jids("jids").size() == v->all("jids").size());
    if (v->has("flag")) PARLEY_FUZZ_CHECK(v->text("flag") == "1" || v->text("flag") == "0");
    for (const auto& m : v->all("many")) PARLEY_FUZZ_CHECK(m == "a" || m == "b" || m == "c");
    (void)v->flag("flag");
  }
  (void)xml::toString(*form().toXml("form"));
  return 0;
}
