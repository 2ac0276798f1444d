// XEP-0157 contact addresses in the server's disco#info.
#include "integration/module_helpers.h"

namespace parley::test {
namespace {

constexpr const char* kInfo = "http://jabber.org/protocol/disco#info";
constexpr const char* kData = "jabber:x:data";

class ContactAddressesTest : public ModuleTest {
 protected:
  ContactAddressesTest()
      : ModuleTest(
            "[modules.contact_addresses]\n"
            "abuse = [\"mailto:abuse@localhost\", \"xmpp:abuse@localhost\"]\n"
            "support = [\"https://localhost/support\"]\n") {}
};

TEST_F(ContactAddressesTest, PublishedInDiscoInfo) {
  auto alice = client("alice", "a");
  auto info = alice->request(
      "<iq type='get' id='d1' to='localhost'><query xmlns='" + std::string(kInfo) + "'/></iq>", "d1");
  ASSERT_TRUE(isResult(info));
  const xml::Element* form = nullptr;
  for (const auto& x : info->child("query", kInfo)->childrenNamed("x", kData)) {
    for (const auto& f : x->childrenNamed("field", kData))
      if (f->attr("var") == "FORM_TYPE" &&
          f->childText("value", kData) == "http://jabber.org/network/serverinfo")
        form = x.get();
  }
  ASSERT_TRUE(form) << "a serverinfo form (XEP-0128)";
  EXPECT_EQ(form->attr("type"), "result");
  std::map<std::string, std::vector<std::string>> fields;
  for (const auto& f : form->childrenNamed("field", kData)) {
    auto& values = fields[std::string(f->attr("var"))];
    for (const auto& v : f->childrenNamed("value", kData)) values.push_back(v->text());
  }
  EXPECT_EQ(fields["abuse-addresses"],
            (std::vector<std::string>{"mailto:abuse@localhost", "xmpp:abuse@localhost"}));
  EXPECT_EQ(fields["support-addresses"], (std::vector<std::string>{"https://localhost/support"}));
  // Only configured fields appear.
  EXPECT_EQ(fields.count("security-addresses"), 0u);
  EXPECT_EQ(fields.size(), 3u);  // FORM_TYPE, abuse, support
}

class NoContactAddressesTest : public ModuleTest {};

TEST_F(NoContactAddressesTest, NothingConfiguredNoForm) {
  auto alice = client("alice", "a");
  auto info = alice->request(
      "<iq type='get' id='d1' to='localhost'><query xmlns='" + std::string(kInfo) + "'/></iq>", "d1");
  ASSERT_TRUE(isResult(info));
  EXPECT_TRUE(info->child("query", kInfo)->childrenNamed("x", kData).empty());
}

}  // namespace
}  // namespace parley::test
