#include "server/xml/writer.h"

#include <gtest/gtest.h>

#include "server/xml/namespaces.h"

namespace parley::xml {
namespace {

TEST(WriterTest, EmptyElement) {
  EXPECT_EQ(toString(Element("ping", "urn:xmpp:ping")), "<ping xmlns='urn:xmpp:ping'/>");
  EXPECT_EQ(toString(Element("ping", "urn:xmpp:ping"), "urn:xmpp:ping"), "<ping/>");
}

TEST(WriterTest, NamespaceOnlyWhenItDiffersFromScope) {
  auto iq = make("iq", std::string(ns::kClient));
  iq->setAttr("type", "result").setAttr("id", "a1");
  auto query = make("query", std::string(ns::kRoster));
  query->addChild(make("item", std::string(ns::kRoster)));
  iq->addChild(query);
  EXPECT_EQ(toString(*iq, ns::kClient),
            "<iq type='result' id='a1'><query xmlns='jabber:iq:roster'><item/></query></iq>");
  EXPECT_EQ(toString(*iq),
            "<iq xmlns='jabber:client' type='result' id='a1'><query xmlns='jabber:iq:roster'><item/></query>"
            "</iq>");
}

TEST(WriterTest, NoNamespaceInsideDefaultNamespaceIsUndeclared) {
  auto outer = make("x", "urn:a");
  outer->addChild(make("y", ""));
  EXPECT_EQ(toString(*outer, "urn:a"), "<x><y xmlns=''/></x>");
  EXPECT_EQ(toString(Element("y", "")), "<y/>");
}

TEST(WriterTest, EscapesText) {
  Element body("body", "jabber:client");
  body.addText("a < b && c > d ]]> 'q' \"dq\"");
  EXPECT_EQ(toString(body, ns::kClient), "<body>a &lt; b &amp;&amp; c &gt; d ]]&gt; 'q' \"dq\"</body>");
}

TEST(WriterTest, EscapesAttributes) {
  Element e("x", "y");
  e.setAttr("a", "it's \"<&>\"");
  EXPECT_EQ(toString(e, "y"), "<x a='it&apos;s &quot;&lt;&amp;&gt;&quot;'/>");
}

TEST(WriterTest, PreservesWhitespaceThatReadersWouldNormalise) {
  Element e("x", "y");
  e.setAttr("a", "1\t2\n3\r4");
  e.addText("l1\r\nl2");
  EXPECT_EQ(toString(e, "y"), "<x a='1&#9;2&#10;3&#13;4'>l1&#13;\nl2</x>");
}

TEST(WriterTest, DropsCharactersXmlCannotCarry) {
  Element e("x", "y");
  e.setAttr("a", std::string("a\x01"
                             "b",
                             3));
  e.addText(
      std::string("c\x00\x1f"
                  "d",
                  4));
  EXPECT_EQ(toString(e, "y"), "<x a='ab'>cd</x>");
}

TEST(WriterTest, Utf8PassesThrough) {
  Element e("body", "jabber:client");
  e.addText("Grüße 😀");
  EXPECT_EQ(toString(e, ns::kClient), "<body>Grüße 😀</body>");
}

TEST(WriterTest, XmlLangAttribute) {
  Element e("message", "jabber:client");
  e.setAttr("xml:lang", "en");
  EXPECT_EQ(toString(e, ns::kClient), "<message xml:lang='en'/>");
  Element f("message", "jabber:client");
  f.setAttr("{http://www.w3.org/XML/1998/namespace}space", "preserve");
  EXPECT_EQ(toString(f, ns::kClient), "<message xml:space='preserve'/>");
}

TEST(WriterTest, QualifiedAttributesGetPrefixDeclarations) {
  Element e("x", "y");
  e.setAttr("{urn:a}one", "1").setAttr("plain", "p").setAttr("{urn:b}two", "2").setAttr("{urn:a}three", "3");
  EXPECT_EQ(toString(e, "y"),
            "<x xmlns:ns0='urn:a' ns0:one='1' plain='p' xmlns:ns1='urn:b' ns1:two='2' ns0:three='3'/>");
}

TEST(WriterTest, NamespaceDeclarationsAreNotAttributes) {
  Element e("x", "y");
  e.setAttr("xmlns", "z").setAttr("xmlns:p", "q").setAttr("{http://www.w3.org/2000/xmlns/}r", "s");
  e.setAttr("k", "v");
  EXPECT_EQ(toString(e, "y"), "<x k='v'/>");
}

TEST(WriterTest, MixedContentInOrder) {
  Element p("p", "urn:x");
  p.addText("a");
  p.addTextChild("b", "urn:x", "bold");
  p.addText("c");
  EXPECT_EQ(toString(p, "urn:x"), "<p>a<b>bold</b>c</p>");
}

TEST(WriterTest, SerializeAppends) {
  std::string out = "prefix:";
  serialize(Element("a", "b"), out, "b");
  serialize(Element("c", "b"), out, "b");
  EXPECT_EQ(out, "prefix:<a/><c/>");
}

TEST(WriterTest, EscapeHelpers) {
  std::string out;
  appendEscapedText(out, "&<>'\"");
  EXPECT_EQ(out, "&amp;&lt;&gt;'\"");
  out.clear();
  appendEscapedAttr(out, "&<>'\"");
  EXPECT_EQ(out, "&amp;&lt;&gt;&apos;&quot;");
  out.clear();
  appendEscapedText(out, "");
  EXPECT_EQ(out, "");
}

}  // namespace
}  // namespace parley::xml

#include "server/xml/parse_fragment.h"

namespace parley::xml {
namespace {

// Found by fuzzing (tests/fuzz/corpus/xml_stream/regress-*): <xml:foo/> from a peer (the xml prefix
// is always bound) was written as <foo xmlns='http://www.w3.org/XML/1998/namespace'/>, which no parser
// accepts: a recipient's stream would have broken on it.
TEST(WriterTest, ElementInTheXmlNamespaceKeepsItsPrefix) {
  auto in = parseElement("<message><xml:note a='1'><xml:inner/><body>hi</body></xml:note></message>");
  ASSERT_TRUE(in);
  const std::string out = toString(*in, "jabber:client");
  EXPECT_EQ(out, "<message><xml:note a='1'><xml:inner/><body xmlns='jabber:client'>hi</body></xml:note></message>");
  auto again = parseElement(out);
  ASSERT_TRUE(again);
  EXPECT_EQ(toString(*again, "jabber:client"), out);
}

}  // namespace
}  // namespace parley::xml
