#include "server/xml/element.h"

#include <gtest/gtest.h>

namespace parley::xml {
namespace {

TEST(ElementTest, NameAndNamespace) {
  Element e("iq", "jabber:client");
  EXPECT_EQ(e.name(), "iq");
  EXPECT_EQ(e.xmlns(), "jabber:client");
  EXPECT_TRUE(e.is("iq", "jabber:client"));
  EXPECT_FALSE(e.is("iq", "jabber:server"));
  EXPECT_FALSE(e.is("message", "jabber:client"));
}

TEST(ElementTest, Attributes) {
  Element e("iq", "jabber:client");
  EXPECT_FALSE(e.hasAttr("type"));
  EXPECT_EQ(e.attr("type"), "");
  EXPECT_FALSE(e.findAttr("type").has_value());

  e.setAttr("type", "get").setAttr("id", "1");
  EXPECT_TRUE(e.hasAttr("type"));
  EXPECT_EQ(e.attr("type"), "get");
  ASSERT_EQ(e.attributes().size(), 2u);

  e.setAttr("type", "set");  // replaces in place, keeps order
  ASSERT_EQ(e.attributes().size(), 2u);
  EXPECT_EQ(e.attributes()[0].first, "type");
  EXPECT_EQ(e.attributes()[0].second, "set");

  e.setAttr("empty", "");
  EXPECT_TRUE(e.hasAttr("empty"));
  EXPECT_EQ(e.findAttr("empty"), std::optional<std::string_view>(""));

  e.removeAttr("type").removeAttr("missing");
  EXPECT_FALSE(e.hasAttr("type"));
  EXPECT_EQ(e.attributes().size(), 2u);
}

TEST(ElementTest, ChildrenLookup) {
  auto query = make("query", "jabber:iq:roster");
  query->addChild(make("item", "jabber:iq:roster"));
  query->addText("between");
  auto second = make("item", "jabber:iq:roster");
  second->setAttr("jid", "b@x");
  query->addChild(second);
  query->addChild(make("item", "other"));

  EXPECT_EQ(query->childCount(), 3u);
  EXPECT_EQ(query->children().size(), 3u);
  EXPECT_EQ(query->nodes().size(), 4u);
  EXPECT_EQ(query->childrenNamed("item", "jabber:iq:roster").size(), 2u);
  EXPECT_EQ(query->childrenNamed("item", "other").size(), 1u);
  EXPECT_EQ(query->childrenNamed("nope", "other").size(), 0u);
  ASSERT_NE(query->child("item", "other"), nullptr);
  EXPECT_EQ(query->child("item", "nope"), nullptr);
  EXPECT_EQ(query->childPtr("item", "nope"), nullptr);
  EXPECT_EQ(query->childrenNamed("item", "jabber:iq:roster")[1], second);
  ASSERT_NE(query->firstChild(), nullptr);
  EXPECT_EQ(query->firstChild()->name(), "item");
  EXPECT_EQ(query->childPtr("item", "jabber:iq:roster").get(), query->firstChild());

  Element empty("x", "y");
  EXPECT_EQ(empty.firstChild(), nullptr);
  EXPECT_EQ(empty.childCount(), 0u);
  EXPECT_EQ(empty.text(), "");
}

TEST(ElementTest, AddTextMergesAdjacentRuns) {
  Element e("body", "jabber:client");
  e.addText("Hello").addText(", ").addText("");
  e.addText("world");
  ASSERT_EQ(e.nodes().size(), 1u);
  EXPECT_EQ(e.text(), "Hello, world");

  e.addChild(make("b", "x"));
  e.addText("!");
  EXPECT_EQ(e.nodes().size(), 3u);
  EXPECT_EQ(e.text(), "Hello, world!");  // direct character data only
}

TEST(ElementTest, EmptyTextAddsNoNode) {
  Element e("body", "jabber:client");
  e.addText("");
  EXPECT_TRUE(e.nodes().empty());
}

TEST(ElementTest, TextChild) {
  Element msg("message", "jabber:client");
  msg.addTextChild("body", "jabber:client", "hi").addTextChild("subject", "jabber:client", "");
  EXPECT_EQ(msg.childText("body", "jabber:client"), "hi");
  EXPECT_EQ(msg.childText("subject", "jabber:client"), "");
  EXPECT_EQ(msg.childText("thread", "jabber:client"), "");
  ASSERT_NE(msg.child("subject", "jabber:client"), nullptr);
  EXPECT_TRUE(msg.child("subject", "jabber:client")->nodes().empty());
}

TEST(ElementTest, RemoveChildren) {
  Element msg("message", "jabber:client");
  msg.addTextChild("body", "jabber:client", "a");
  msg.addText("t");
  msg.addChild(make("delay", "urn:xmpp:delay"));
  msg.addTextChild("body", "jabber:client", "b");
  msg.removeChildren("body", "jabber:client");
  EXPECT_EQ(msg.childCount(), 1u);
  EXPECT_EQ(msg.nodes().size(), 2u);
  EXPECT_EQ(msg.text(), "t");
  msg.clearNodes();
  EXPECT_TRUE(msg.nodes().empty());
}

TEST(ElementTest, NullChildIgnored) {
  Element e("x", "y");
  e.addChild(nullptr);
  EXPECT_TRUE(e.nodes().empty());
}

TEST(ElementTest, CloneSharesChildrenAndLeavesOriginalAlone) {
  auto body = make("body", "jabber:client");
  body->addText("hi");
  auto msg = make("message", "jabber:client");
  msg->setAttr("to", "a@b").addChild(body);
  ElementPtr frozen = msg;

  MutableElementPtr copy = frozen->clone();
  copy->setAttr("to", "c@d").addTextChild("thread", "jabber:client", "t");
  EXPECT_EQ(frozen->attr("to"), "a@b");
  EXPECT_EQ(frozen->childCount(), 1u);
  EXPECT_EQ(copy->childCount(), 2u);
  EXPECT_EQ(copy->childPtr("body", "jabber:client"), frozen->childPtr("body", "jabber:client"));
}

}  // namespace
}  // namespace parley::xml
