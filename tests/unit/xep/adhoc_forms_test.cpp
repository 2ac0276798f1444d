// XEP-0004 data forms of the ad-hoc framework: what is sent, and how submissions are validated.
#include <gtest/gtest.h>

#include "server/xml/parse_fragment.h"
#include "xep/adhoc/adhoc.h"

namespace parley::xep::adhoc {
namespace {

Form userForm() {
  Form f("Add a user", "Fill in the form");
  f.formType("http://jabber.org/protocol/admin");
  f.add(Field::jidSingle("accountjid", "The Jabber ID").require());
  f.add(Field::textPrivate("password", "Password").require().limit(16));
  f.add(Field::boolean("notify", "Notify"));
  f.add(Field::listSingle("max", "Maximum", {{"25", "25"}, {"50", "50"}}));
  f.add(Field::jidMulti("others", "Others"));
  return f;
}

xml::ElementPtr submit(const std::string& fields) {
  auto e = xml::parseElement("<x xmlns='jabber:x:data' type='submit'>" + fields + "</x>");
  EXPECT_TRUE(e);
  return e;
}

std::string field(const std::string& var, const std::vector<std::string>& values) {
  std::string s = "<field var='" + var + "'>";
  for (const auto& v : values) s += "<value>" + v + "</value>";
  return s + "</field>";
}

FormError error(const Form& f, const xml::ElementPtr& x) {
  auto r = parseSubmission(f, x.get());
  EXPECT_TRUE(std::holds_alternative<FormError>(r));
  return std::holds_alternative<FormError>(r) ? std::get<FormError>(r) : FormError{};
}

TEST(AdhocForms, FormXmlCarriesTypesRequiredAndOptions) {
  auto x = userForm().toXml("form");
  EXPECT_EQ(x->attr("type"), "form");
  EXPECT_EQ(x->childText("title", kDataNs), "Add a user");
  auto fields = x->childrenNamed("field", kDataNs);
  ASSERT_EQ(fields.size(), 6u);
  EXPECT_EQ(fields[0]->attr("var"), "FORM_TYPE");
  EXPECT_EQ(fields[0]->attr("type"), "hidden");
  EXPECT_EQ(fields[1]->attr("type"), "jid-single");
  EXPECT_TRUE(fields[1]->child("required", kDataNs));
  EXPECT_EQ(fields[2]->attr("type"), "text-private");
  EXPECT_EQ(fields[4]->childrenNamed("option", kDataNs).size(), 2u);
}

TEST(AdhocForms, ValidSubmissionIsNormalised) {
  auto r = parseSubmission(userForm(), submit(field("FORM_TYPE", {"http://jabber.org/protocol/admin"}) +
                                              field("accountjid", {"Alice@LocalHost"}) +
                                              field("password", {"s3cret"}) + field("notify", {"true"}) +
                                              field("max", {"50"}) +
                                              field("others", {"b@x", "a@x", "b@x"}))
                                           .get());
  ASSERT_TRUE(std::holds_alternative<Values>(r));
  const auto& v = std::get<Values>(r);
  EXPECT_EQ(v.text("accountjid"), "alice@localhost");
  ASSERT_TRUE(v.jid("accountjid"));
  EXPECT_EQ(v.jid("accountjid")->local(), "alice");
  EXPECT_TRUE(v.flag("notify"));
  EXPECT_EQ(v.text("max"), "50");
  EXPECT_EQ(v.all("others"), (std::vector<std::string>{"a@x", "b@x"}));
  EXPECT_FALSE(v.has("unknown"));
}

TEST(AdhocForms, RequiredFieldMissingNamesTheField) {
  auto e = error(userForm(), submit(field("password", {"x"})));
  EXPECT_EQ(e.var, "accountjid");
  EXPECT_NE(e.text.find("'accountjid'"), std::string::npos);
  EXPECT_NE(e.text.find("required"), std::string::npos);
  // An empty <value/> is no value.
  EXPECT_EQ(error(userForm(), submit(field("accountjid", {""}) + field("password", {"x"}))).var, "accountjid");
  // No form at all.
  auto r = parseSubmission(userForm(), nullptr);
  EXPECT_TRUE(std::holds_alternative<FormError>(r));
}

TEST(AdhocForms, TypeViolationsAreRefused) {
  const std::string ok = field("accountjid", {"a@localhost"}) + field("password", {"x"});
  EXPECT_EQ(error(userForm(), submit(field("accountjid", {"@@bad"}) + field("password", {"x"}))).var,
            "accountjid");
  EXPECT_EQ(error(userForm(), submit(ok + field("notify", {"maybe"}))).var, "notify");
  EXPECT_EQ(error(userForm(), submit(ok + field("max", {"99"}))).var, "max");
  EXPECT_EQ(error(userForm(), submit(ok + field("others", {"ok@x", "not a jid@"}))).var, "others");
  EXPECT_EQ(error(userForm(), submit(field("accountjid", {"a@x", "b@x"}) + field("password", {"x"}))).var,
            "accountjid");
  EXPECT_EQ(error(userForm(), submit(field("accountjid", {"a@x"}) + field("password", {"12345678901234567"})))
                .var,
            "password");
  EXPECT_EQ(error(userForm(), submit(ok + field("FORM_TYPE", {"urn:other"}))).var, "FORM_TYPE");
  EXPECT_EQ(error(userForm(), submit(ok + field("notify", {"1"}) + field("notify", {"0"}))).var, "notify");
  auto wrongType = xml::parseElement("<x xmlns='jabber:x:data' type='form'/>");
  EXPECT_TRUE(std::holds_alternative<FormError>(parseSubmission(userForm(), wrongType.get())));
}

TEST(AdhocForms, ResultFormHasNoRequiredOrOptions) {
  Form f("Users");
  f.add(Field::text("count", "Number of users").value("3").require());
  auto x = f.toXml("result");
  EXPECT_EQ(x->attr("type"), "result");
  auto fields = x->childrenNamed("field", kDataNs);
  ASSERT_EQ(fields.size(), 1u);
  EXPECT_FALSE(fields[0]->child("required", kDataNs));
  EXPECT_EQ(fields[0]->childText("value", kDataNs), "3");
}

}  // namespace
}  // namespace parley::xep::adhoc
