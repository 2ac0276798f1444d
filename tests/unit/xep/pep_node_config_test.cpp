// XEP-0223 publish-options as preconditions (XEP-0060 §7.1.5) and the PEP node configuration form.
#include <string>

#include <gtest/gtest.h>

#include "server/xml/parse_fragment.h"
#include "xep/pep/node_config.h"

namespace parley::xep::pep {
namespace {

xml::ElementPtr options(const std::string& fields) {
  auto e = xml::parseElement(
      "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>"
      "http://jabber.org/protocol/pubsub#publish-options</value></field>" +
      fields + "</x>");
  EXPECT_TRUE(e);
  return e;
}

std::string field(const std::string& var, const std::string& value) {
  return "<field var='" + var + "'><value>" + value + "</value></field>";
}

TEST(PepNodeConfigTest, PublishOptionsCreateAndThenMustMatch) {
  ConfigLimits limits{100, 1};
  NodeConfig c = defaultConfig("urn:xmpp:omemo:2:devices", limits);
  EXPECT_EQ(c.access, AccessModel::Presence);  // XEP-0163 §8
  EXPECT_EQ(c.maxItems, 1);
  auto open = options(field("pubsub#access_model", "open") + field("pubsub#max_items", "max"));
  ASSERT_FALSE(applyForm(c, *open, limits));
  EXPECT_EQ(c.access, AccessModel::Open);
  EXPECT_EQ(c.maxItems, 100);
  EXPECT_TRUE(meetsPreconditions(c, *open, limits));
  EXPECT_FALSE(meetsPreconditions(c, *options(field("pubsub#access_model", "presence")), limits));
  EXPECT_FALSE(meetsPreconditions(c, *options(field("pubsub#max_items", "5")), limits));
  EXPECT_TRUE(meetsPreconditions(c, *options(field("pubsub#persist_items", "true")), limits));
  // A field the server does not know cannot be met.
  EXPECT_FALSE(meetsPreconditions(c, *options(field("pubsub#frobnicate", "1")), limits));
}

TEST(PepNodeConfigTest, BadValuesChangeNothing) {
  ConfigLimits limits{100, 1};
  NodeConfig c;
  NodeConfig before = c;
  EXPECT_TRUE(applyForm(c, *options(field("pubsub#access_model", "authorize")), limits));
  EXPECT_TRUE(applyForm(c, *options(field("pubsub#max_items", "101")), limits));
  EXPECT_TRUE(applyForm(c, *options(field("pubsub#max_items", "0")), limits));
  EXPECT_TRUE(applyForm(c, *options(field("pubsub#persist_items", "maybe")), limits));
  EXPECT_TRUE(applyForm(c, *options(field("pubsub#title", "x") + field("pubsub#nonsense", "1")), limits));
  EXPECT_EQ(c, before);
}

TEST(PepNodeConfigTest, StoredTextRoundTrips) {
  ConfigLimits limits{1000, 1};
  NodeConfig c;
  c.title = "line one\nline \\ two";
  c.access = AccessModel::Roster;
  c.rosterGroups = {"Friends", "Family"};
  c.persistItems = false;
  c.maxItems = 42;
  c.sendLast = SendLast::Never;
  c.notifyRetract = false;
  EXPECT_EQ(parseConfig(serializeConfig(c), limits), c);
  // A lower limit than when stored applies.
  EXPECT_EQ(parseConfig(serializeConfig(c), ConfigLimits{10, 1}).maxItems, 10);
}

TEST(PepNodeConfigTest, BookmarksDefaultToPrivate) {
  ConfigLimits limits{1000, 1};
  auto c = defaultConfig("urn:xmpp:bookmarks:1", limits);
  EXPECT_EQ(c.access, AccessModel::Whitelist);  // XEP-0402 §3
  EXPECT_EQ(c.maxItems, 1000);
  EXPECT_EQ(c.sendLast, SendLast::Never);
  // What XEP-0402 clients send as publish-options matches the default.
  EXPECT_TRUE(meetsPreconditions(c,
                                 *options(field("pubsub#persist_items", "true") + field("pubsub#max_items", "max") +
                                          field("pubsub#send_last_published_item", "never") +
                                          field("pubsub#access_model", "whitelist")),
                                 limits));
}

TEST(PepNodeConfigTest, FormListsTheConfiguration) {
  NodeConfig c;
  c.access = AccessModel::Open;
  auto form = configForm(c);
  EXPECT_EQ(formType(*form), "http://jabber.org/protocol/pubsub#node_config");
  bool found = false;
  for (const auto& f : form->childrenNamed("field", "jabber:x:data"))
    if (f->attr("var") == "pubsub#access_model") found = f->childText("value", "jabber:x:data") == "open";
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace parley::xep::pep
