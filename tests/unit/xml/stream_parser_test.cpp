#include "server/xml/stream_parser.h"

#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "server/xml/namespaces.h"
#include "server/xml/writer.h"

namespace parley::xml {
namespace {

constexpr std::string_view kHeader =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0' xml:lang='en'>";
constexpr std::string_view kHeaderNoDecl =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "to='example.com' version='1.0'>";

using Status = XmlStreamParser::Status;

const char* errorName(ParseError e) {
  switch (e) {
    case ParseError::None:
      return "none";
    case ParseError::NotWellFormed:
      return "not-well-formed";
    case ParseError::RestrictedXml:
      return "restricted-xml";
    case ParseError::PolicyViolation:
      return "policy-violation";
    case ParseError::BadFormat:
      return "bad-format";
  }
  return "?";
}

// Records every event as a line of text; elements are serialised, which is canonical (adjacent text is
// merged, namespaces written where they change).
class RecordingHandler : public StreamParserHandler {
 public:
  void onStreamOpen(StreamHeader header) override {
    std::string line = "open {" + header.xmlns + "}" + header.name + " content=" + header.contentNs;
    for (const auto& [k, v] : header.attributes) line += " " + k + "=" + v;
    events.push_back(line);
    headers.push_back(std::move(header));
    if (onOpen) onOpen();
  }
  void onElement(ElementPtr element) override {
    events.push_back("element " + toString(*element));
    elements.push_back(element);
    if (onStanza) onStanza(*element);
  }
  void onStreamClose() override { events.push_back("close"); }
  void onParseError(ParseError error, std::string_view detail) override {
    events.push_back(std::string("error ") + errorName(error));
    errors.push_back(error);
    lastDetail = detail;
  }

  ParseError error() const { return errors.empty() ? ParseError::None : errors.back(); }

  std::vector<std::string> events;
  std::vector<StreamHeader> headers;
  std::vector<ElementPtr> elements;
  std::vector<ParseError> errors;
  std::string lastDetail;
  std::function<void()> onOpen;
  std::function<void(const Element&)> onStanza;
};

ParserLimits bigLimits() {
  ParserLimits l;
  l.maxStanzaBytes = 64 * 1024 * 1024;
  return l;
}

// Feeds `input` split at the given sizes (cycling), resuming whenever a callback suspended.
std::vector<std::string> parseSplit(std::string_view input, const std::vector<std::size_t>& sizes,
                                    ParserLimits limits = {}) {
  RecordingHandler h;
  XmlStreamParser p(h, limits);
  std::size_t off = 0, i = 0;
  while (off < input.size()) {
    const std::size_t n = std::min(sizes[i++ % sizes.size()], input.size() - off);
    if (p.feed(input.substr(off, n)) == Status::Failed) break;
    off += n;
  }
  return h.events;
}

std::vector<std::string> parseWhole(std::string_view input, ParserLimits limits = {}) {
  return parseSplit(input, {input.size() ? input.size() : 1}, limits);
}

bool sameElement(const Element& a, const Element& b) {
  if (a.name() != b.name() || a.xmlns() != b.xmlns() || a.attributes() != b.attributes()) return false;
  if (a.nodes().size() != b.nodes().size()) return false;
  for (std::size_t i = 0; i < a.nodes().size(); ++i) {
    const auto& x = a.nodes()[i];
    const auto& y = b.nodes()[i];
    if (x.index() != y.index()) return false;
    if (const auto* s = std::get_if<std::string>(&x)) {
      if (*s != std::get<std::string>(y)) return false;
    } else if (!sameElement(*std::get<ElementPtr>(x), *std::get<ElementPtr>(y))) {
      return false;
    }
  }
  return true;
}

// --- Stream header and namespaces ------------------------------------------------------------------

TEST(XmlStreamParserTest, StreamHeaderWithPrefixedRoot) {
  RecordingHandler h;
  XmlStreamParser p(h, {});
  EXPECT_EQ(p.feed(kHeader), Status::Ok);
  ASSERT_EQ(h.headers.size(), 1u);
  const StreamHeader& hd = h.headers[0];
  EXPECT_EQ(hd.name, "stream");
  EXPECT_EQ(hd.xmlns, ns::kStream);
  EXPECT_EQ(hd.contentNs, ns::kClient);
  EXPECT_EQ(hd.attr("to"), "example.com");
  EXPECT_EQ(hd.attr("version"), "1.0");
  EXPECT_EQ(hd.attr("xml:lang"), "en");
  EXPECT_FALSE(hd.hasAttr("xmlns"));
  EXPECT_FALSE(hd.hasAttr("xmlns:stream"));
  EXPECT_EQ(hd.attributes.size(), 3u);
}

TEST(XmlStreamParserTest, StreamHeaderWithoutDefaultNamespace) {
  RecordingHandler h;
  XmlStreamParser p(h, {});
  EXPECT_EQ(p.feed("<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><a/>"), Status::Ok);
  ASSERT_EQ(h.headers.size(), 1u);
  EXPECT_EQ(h.headers[0].contentNs, "");
  ASSERT_EQ(h.elements.size(), 1u);
  EXPECT_EQ(h.elements[0]->xmlns(), "");
}

TEST(XmlStreamParserTest, NamespacesOfStanzasAndChildren) {
  RecordingHandler h;
  XmlStreamParser p(h, {});
  ASSERT_EQ(p.feed(std::string(kHeader) +
                   "<message to='a@b' xml:lang='de'><body>hi</body>"
                   "<x xmlns='jabber:x:data' type='form'/><foo:bar xmlns:foo='urn:x' foo:attr='v' plain='p'/>"
                   "<stream:features/></message>"),
            Status::Ok);
  ASSERT_EQ(h.elements.size(), 1u);
  const Element& m = *h.elements[0];
  EXPECT_TRUE(m.is("message", "jabber:client"));
  EXPECT_EQ(m.attr("to"), "a@b");
  EXPECT_EQ(m.attr("xml:lang"), "de");
  EXPECT_EQ(m.childText("body", "jabber:client"), "hi");
  ASSERT_NE(m.child("x", "jabber:x:data"), nullptr);
  EXPECT_EQ(m.child("x", "jabber:x:data")->attr("type"), "form");
  const Element* bar = m.child("bar", "urn:x");
  ASSERT_NE(bar, nullptr);
  EXPECT_EQ(bar->attr("{urn:x}attr"), "v");
  EXPECT_EQ(bar->attr("plain"), "p");
  EXPECT_EQ(bar->attributes().size(), 2u);  // xmlns:foo is a declaration, not an attribute
  EXPECT_NE(m.child("features", ns::kStream), nullptr);
}

TEST(XmlStreamParserTest, TopLevelNonzaInStreamNamespace) {
  RecordingHandler h;
  XmlStreamParser p(h, {});
  ASSERT_EQ(p.feed(std::string(kHeader) + "<stream:error><host-unknown "
                                          "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"),
            Status::Ok);
  ASSERT_EQ(h.elements.size(), 1u);
  EXPECT_TRUE(h.elements[0]->is("error", ns::kStream));
  EXPECT_NE(h.elements[0]->child("host-unknown", ns::kStreams), nullptr);
}

TEST(XmlStreamParserTest, XmlDeclarationIsOptional) {
  EXPECT_EQ(parseWhole(std::string(kHeaderNoDecl) + "<a/>").size(), 2u);
  EXPECT_EQ(parseWhole("<?xml version='1.0' encoding='UTF-8'?>" + std::string(kHeaderNoDecl)).size(), 1u);
}

TEST(XmlStreamParserTest, EntitiesAndCdataBecomeText) {
  RecordingHandler h;
  XmlStreamParser p(h, {});
  ASSERT_EQ(p.feed(std::string(kHeader) +
                   "<message><body a='&lt;&amp;&#x41;'>x &amp; y &lt; z &gt; &quot;&apos; &#233;&#x1F600;"
                   "<![CDATA[<raw & stuff>]]>\r\nend</body></message>"),
            Status::Ok);
  ASSERT_EQ(h.elements.size(), 1u);
  const Element* body = h.elements[0]->child("body", "jabber:client");
  ASSERT_NE(body, nullptr);
  EXPECT_EQ(body->attr("a"), "<&A");
  EXPECT_EQ(body->text(), "x & y < z > \"' é😀<raw & stuff>\nend");
  EXPECT_EQ(body->nodes().size(), 1u);  // adjacent character data is merged
}

TEST(XmlStreamParserTest, WhitespaceBetweenStanzasIsNotReported) {
  const auto events = parseWhole(std::string(kHeader) + " \n\t\r\n<a/>  \n <b/>\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1], "element <a xmlns='jabber:client'/>");
  EXPECT_EQ(events[2], "element <b xmlns='jabber:client'/>");
}

TEST(XmlStreamParserTest, TextBetweenStanzasIsNotWellFormed) {
  RecordingHandler h;
  XmlStreamParser p(h, {});
  EXPECT_EQ(p.feed(std::string(kHeader) + "<a/> hello <b/>"), Status::Failed);
  EXPECT_EQ(h.error(), ParseError::NotWellFormed);
  EXPECT_EQ(h.elements.size(), 1u);
  EXPECT_TRUE(p.failed());
}

TEST(XmlStreamParserTest, StreamCloseStopsParsing) {
  RecordingHandler h;
  XmlStreamParser p(h, {});
  EXPECT_EQ(p.feed(std::string(kHeader) + "<a/></stream:stream><b/>garbage<"), Status::Ok);
  EXPECT_EQ(p.feed("<c/>more garbage"), Status::Ok);
  ASSERT_EQ(h.events.size(), 3u);
  EXPECT_EQ(h.events[2], "close");
  EXPECT_FALSE(p.failed());
}

// --- Restricted XML (RFC 6120 §11.1) --------------------------------------------------------------

struct BadInput {
  const char* name;
  std::string bytes;
  ParseError expected;
};

std::string inStanza(std::string_view inner) {
  return std::string(kHeader) + "<message><body>" + std::string(inner) + "</body></message>";
}

class XmlStreamParserRejectTest : public testing::TestWithParam<BadInput> {};

TEST_P(XmlStreamParserRejectTest, Rejects) {
  const BadInput& in = GetParam();
  RecordingHandler h;
  XmlStreamParser p(h, {});
  EXPECT_EQ(p.feed(in.bytes), Status::Failed);
  ASSERT_EQ(h.errors.size(), 1u) << in.name;
  EXPECT_EQ(h.errors[0], in.expected) << in.name << ": " << h.lastDetail;
  EXPECT_FALSE(h.lastDetail.empty());
  EXPECT_TRUE(p.failed());
  EXPECT_TRUE(h.elements.empty()) << in.name;

  // Nothing else is ever reported, whatever follows.
  const auto before = h.events.size();
  EXPECT_EQ(p.feed("<ok/><another/></stream:stream>"), Status::Failed);
  EXPECT_EQ(h.events.size(), before);

  // The same result when fed one byte at a time.
  EXPECT_EQ(parseSplit(in.bytes, {1}), h.events) << in.name;
}

const std::string kBillionLaughs =
    "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
    "<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
    "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>]>"
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    "<message><body>&lol3;</body></message>";

INSTANTIATE_TEST_SUITE_P(
    RestrictedXml, XmlStreamParserRejectTest,
    testing::Values(
        BadInput{"doctype", "<?xml version='1.0'?><!DOCTYPE stream>" + std::string(kHeaderNoDecl),
                 ParseError::RestrictedXml},
        BadInput{"doctype-system",
                 "<!DOCTYPE stream SYSTEM 'http://evil/x.dtd'>" + std::string(kHeaderNoDecl),
                 ParseError::RestrictedXml},
        BadInput{"billion-laughs", kBillionLaughs, ParseError::RestrictedXml},
        BadInput{"external-entity", "<!DOCTYPE s [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]><s>&xxe;</s>",
                 ParseError::RestrictedXml},
        BadInput{"pi-before-root",
                 "<?xml version='1.0'?><?xml-stylesheet href='a'?>" + std::string(kHeaderNoDecl),
                 ParseError::RestrictedXml},
        BadInput{"pi-in-stanza", inStanza("<?php echo 1; ?>"), ParseError::RestrictedXml},
        BadInput{"pi-between-stanzas", std::string(kHeader) + "<?pi data?>", ParseError::RestrictedXml},
        BadInput{"comment-before-root", "<!-- hi -->" + std::string(kHeaderNoDecl),
                 ParseError::RestrictedXml},
        BadInput{"comment-in-stanza", inStanza("a<!-- hi -->b"), ParseError::RestrictedXml},
        BadInput{"comment-between-stanzas", std::string(kHeader) + " <!-- hi --><b/>",
                 ParseError::RestrictedXml}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& c : n)
        if (c == '-') c = '_';
      return n;
    });

INSTANTIATE_TEST_SUITE_P(
    NotWellFormed, XmlStreamParserRejectTest,
    testing::Values(
        BadInput{"undefined-entity", inStanza("&foo;"), ParseError::NotWellFormed},
        BadInput{"undefined-entity-in-attr", std::string(kHeader) + "<a b='&foo;'/>",
                 ParseError::NotWellFormed},
        BadInput{"invalid-utf8", inStanza("\xC3\x28"), ParseError::NotWellFormed},
        BadInput{"overlong-utf8", inStanza("\xC0\xAF"), ParseError::NotWellFormed},
        BadInput{"lone-continuation", inStanza("a\x80z"), ParseError::NotWellFormed},
        BadInput{"utf16-surrogate", inStanza("\xED\xA0\x80"), ParseError::NotWellFormed},
        BadInput{"latin1-despite-declaration",
                 "<?xml version='1.0' encoding='ISO-8859-1'?>" + std::string(kHeaderNoDecl) +
                     "<message><body>caf\xE9</body></message>",
                 ParseError::NotWellFormed},
        BadInput{"nul-byte", inStanza(std::string_view("a\0b", 3)), ParseError::NotWellFormed},
        BadInput{"nul-char-ref", inStanza("&#0;"), ParseError::NotWellFormed},
        BadInput{"control-char", inStanza("\x01"), ParseError::NotWellFormed},
        BadInput{"fffe-raw", inStanza("\xEF\xBF\xBE"), ParseError::NotWellFormed},
        BadInput{"ffff-raw", inStanza("\xEF\xBF\xBF"), ParseError::NotWellFormed},
        BadInput{"fffe-char-ref", inStanza("&#xFFFE;"), ParseError::NotWellFormed},
        BadInput{"mismatched-tag", std::string(kHeader) + "<message><body></message>",
                 ParseError::NotWellFormed},
        BadInput{"unbound-prefix", std::string(kHeader) + "<foo:bar/>", ParseError::NotWellFormed},
        BadInput{"duplicate-attribute", std::string(kHeader) + "<a x='1' x='2'/>", ParseError::NotWellFormed},
        BadInput{"duplicate-expanded-attribute",
                 std::string(kHeader) + "<a xmlns:p='u' xmlns:q='u' p:x='1' q:x='2'/>",
                 ParseError::NotWellFormed},
        BadInput{"late-xml-declaration", std::string(kHeader) + "<?xml version='1.0'?>",
                 ParseError::NotWellFormed},
        BadInput{"text-between-stanzas", std::string(kHeader) + "x", ParseError::NotWellFormed},
        BadInput{"garbage-before-root", "hello <a/>", ParseError::NotWellFormed},
        BadInput{"close-without-open", std::string(kHeader) + "</message>", ParseError::NotWellFormed}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& c : n)
        if (c == '-') c = '_';
      return n;
    });

// --- Limits ---------------------------------------------------------------------------------------

// A stanza of exactly `size` bytes.
std::string stanzaOfSize(std::size_t size) {
  const std::string open = "<message><body>", close = "</body></message>";
  return open + std::string(size - open.size() - close.size(), 'x') + close;
}

TEST(XmlStreamParserLimitsTest, StanzaExactlyAtLimitIsAccepted) {
  ParserLimits limits;
  limits.maxStanzaBytes = 1000;
  const std::string input = std::string(kHeader) + "\n  " + stanzaOfSize(1000) + stanzaOfSize(1000);
  for (std::size_t split : {std::size_t{1}, std::size_t{7}, std::size_t{999}, input.size()}) {
    const auto events = parseSplit(input, {split}, limits);
    ASSERT_EQ(events.size(), 3u) << "split " << split;
    EXPECT_TRUE(events[2].starts_with("element <message")) << "split " << split;
  }
}

TEST(XmlStreamParserLimitsTest, OneByteOverIsPolicyViolation) {
  ParserLimits limits;
  limits.maxStanzaBytes = 1000;
  const std::string input = std::string(kHeader) + stanzaOfSize(1000) + stanzaOfSize(1001);
  for (std::size_t split : {std::size_t{1}, std::size_t{13}, input.size()}) {
    const auto events = parseSplit(input, {split}, limits);
    ASSERT_EQ(events.size(), 3u) << "split " << split;
    EXPECT_EQ(events[2], "error policy-violation") << "split " << split;
  }
}

TEST(XmlStreamParserLimitsTest, OversizeStartTagIsRefusedWithoutEvents) {
  ParserLimits limits;
  limits.maxStanzaBytes = 1000;
  RecordingHandler h;
  XmlStreamParser p(h, limits);
  ASSERT_EQ(p.feed(kHeader), Status::Ok);
  EXPECT_EQ(p.feed("<message to='" + std::string(900, 'a')), Status::Ok);
  EXPECT_EQ(p.feed(std::string(100, 'a')), Status::Failed);
  EXPECT_EQ(h.error(), ParseError::PolicyViolation);
}

TEST(XmlStreamParserLimitsTest, StreamHeaderCountsAgainstTheLimit) {
  ParserLimits limits;
  limits.maxStanzaBytes = 100;
  const auto events = parseWhole(
      "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' x='" + std::string(100, 'a') + "'>",
      limits);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], "error policy-violation");
}

// The 1 MiB stanza must be refused after about one read past the limit, never buffered whole.
void expectRefusedEarly(const std::string& stanza) {
  ParserLimits limits;
  limits.maxStanzaBytes = 10000;
  RecordingHandler h;
  XmlStreamParser p(h, limits);
  ASSERT_EQ(p.feed(kHeader), Status::Ok);
  constexpr std::size_t kChunk = 16 * 1024;
  std::size_t fed = 0;
  Status st = Status::Ok;
  while (fed < stanza.size() && st == Status::Ok) {
    const auto chunk = std::string_view(stanza).substr(fed, kChunk);
    st = p.feed(chunk);
    fed += chunk.size();
    if (st == Status::Ok) {
      EXPECT_LE(p.bufferedElementBytes(), limits.maxStanzaBytes + kChunk);
    }
  }
  EXPECT_EQ(st, Status::Failed);
  EXPECT_EQ(h.error(), ParseError::PolicyViolation);
  EXPECT_LE(fed, limits.maxStanzaBytes + 2 * kChunk);
  EXPECT_EQ(p.bufferedElementBytes(), 0u);
}

TEST(XmlStreamParserLimitsTest, HugeTextStanzaRefusedEarly) {
  expectRefusedEarly("<message><body>" + std::string(1024 * 1024, 'x') + "</body></message>");
}

TEST(XmlStreamParserLimitsTest, HugeAttributeRefusedEarly) {
  expectRefusedEarly("<message to='" + std::string(1024 * 1024, 'x') + "'/>");
}

TEST(XmlStreamParserLimitsTest, HugeElementCountRefusedEarly) {
  std::string s = "<message>";
  while (s.size() < 1024 * 1024) s += "<a/>";
  expectRefusedEarly(s + "</message>");
}

TEST(XmlStreamParserLimitsTest, WhitespaceKeepalivesNeverAccumulate) {
  ParserLimits limits;
  limits.maxStanzaBytes = 10000;
  const std::string spaces(100000, ' ');
  const std::string input = std::string(kHeader) + stanzaOfSize(10000) + spaces + "\n\r\n\t" + spaces +
                            stanzaOfSize(10000) + spaces;
  for (std::size_t split : {std::size_t{1}, std::size_t{1000}, std::size_t{16384}, input.size()}) {
    const auto events = parseSplit(input, {split}, limits);
    ASSERT_EQ(events.size(), 3u) << "split " << split;
    EXPECT_TRUE(events[2].starts_with("element")) << "split " << split;
  }
}

TEST(XmlStreamParserLimitsTest, KeepalivesOneAtATimeForALongTime) {
  ParserLimits limits;
  limits.maxStanzaBytes = 200;
  RecordingHandler h;
  XmlStreamParser p(h, limits);
  ASSERT_EQ(p.feed(kHeaderNoDecl), Status::Ok);
  for (int i = 0; i < 20000; ++i) ASSERT_EQ(p.feed(i % 2 ? " " : "\n"), Status::Ok);
  EXPECT_LE(p.bufferedElementBytes(), 1u);
  EXPECT_EQ(p.feed("<presence/>"), Status::Ok);
  EXPECT_EQ(h.elements.size(), 1u);
  EXPECT_EQ(p.bufferedElementBytes(), 0u);
}

TEST(XmlStreamParserLimitsTest, DepthLimit) {
  ParserLimits limits;
  limits.maxDepth = 5;
  auto nested = [](int depth) {
    std::string s;
    for (int i = 0; i < depth; ++i) s += "<a>";
    for (int i = 0; i < depth; ++i) s += "</a>";
    return std::string(kHeader) + s;
  };
  EXPECT_EQ(parseWhole(nested(5), limits).back().substr(0, 7), "element");
  EXPECT_EQ(parseWhole(nested(6), limits).back(), "error policy-violation");
}

TEST(XmlStreamParserLimitsTest, HundredThousandDeepNestingIsPolicyViolation) {
  std::string s(kHeader);
  for (int i = 0; i < 100000; ++i) s += "<a>";
  for (std::size_t split : {std::size_t{3}, s.size()}) {
    const auto events = parseSplit(s, {split}, bigLimits());
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[1], "error policy-violation");
  }
}

TEST(XmlStreamParserLimitsTest, ChildrenLimit) {
  ParserLimits limits;
  limits.maxChildren = 10;
  auto withChildren = [](int n) {
    std::string s = std::string(kHeader) + "<iq><query>";
    for (int i = 0; i < n; ++i) s += "<item/>text";
    return s + "</query></iq>";
  };
  EXPECT_EQ(parseWhole(withChildren(10), limits).back().substr(0, 7), "element");
  EXPECT_EQ(parseWhole(withChildren(11), limits).back(), "error policy-violation");
}

TEST(XmlStreamParserLimitsTest, AttributeLimitExcludesNamespaceDeclarations) {
  ParserLimits limits;
  limits.maxAttributes = 4;
  const std::string ok =
      std::string(kHeader) + "<a xmlns='u' xmlns:p='v' xmlns:q='w' a='1' b='2' p:c='3' q:d='4'/>";
  EXPECT_EQ(parseWhole(ok, limits).back(),
            "element <a xmlns='u' a='1' b='2' xmlns:ns0='v' ns0:c='3' xmlns:ns1='w' ns1:d='4'/>");
  EXPECT_EQ(parseWhole(std::string(kHeader) + "<a a='1' b='2' c='3' d='4' e='5'/>", limits).back(),
            "error policy-violation");
  // The stream header is limited too.
  EXPECT_EQ(
      parseWhole("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' a='1' b='2' c='3' d='4' "
                 "e='5'>",
                 limits)
          .back(),
      "error policy-violation");
}

TEST(XmlStreamParserLimitsTest, NamespaceAmplificationIsBounded) {
  // A long default namespace inherited by many tiny children would be copied into each of them.
  ParserLimits limits;
  limits.maxStanzaBytes = 100000;
  limits.maxChildren = 100000;
  std::string s = std::string(kHeader) + "<message xmlns='urn:" + std::string(40000, 'u') + "'>";
  while (s.size() < 99000) s += "<a/>";
  const auto events = parseWhole(s + "</message>", limits);
  EXPECT_EQ(events.back(), "error policy-violation");
}

TEST(XmlStreamParserLimitsTest, SetLimitsRaisesTheLimitForLaterStanzas) {
  ParserLimits small;
  small.maxStanzaBytes = 1000;
  RecordingHandler h;
  XmlStreamParser p(h, small);
  ASSERT_EQ(p.feed(kHeader), Status::Ok);
  ParserLimits big = small;
  big.maxStanzaBytes = 5000;
  p.setLimits(big);
  EXPECT_EQ(p.limits().maxStanzaBytes, 5000u);
  EXPECT_EQ(p.feed(stanzaOfSize(5000)), Status::Ok);
  EXPECT_EQ(h.elements.size(), 1u);
}

// --- Suspend, resume, restart ---------------------------------------------------------------------

TEST(XmlStreamParserSuspendTest, SaslRestartReplaysTheTail) {
  const std::string auth =
      "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABy</auth>";
  const std::string header2 = std::string(kHeaderNoDecl);
  RecordingHandler h;
  XmlStreamParser p(h, {});
  h.onStanza = [&](const Element& e) {
    if (e.is("auth", ns::kSasl)) p.suspend();
  };
  ASSERT_EQ(p.feed(kHeader), Status::Ok);
  ASSERT_EQ(p.feed(auth + header2), Status::Suspended);
  EXPECT_TRUE(p.suspended());
  EXPECT_EQ(p.takeTail(), header2);
  EXPECT_EQ(h.events.size(), 2u);

  p.restart();
  EXPECT_FALSE(p.suspended());
  EXPECT_EQ(p.feed(header2), Status::Ok);
  ASSERT_EQ(h.headers.size(), 2u);
  EXPECT_EQ(h.headers[1].contentNs, ns::kClient);
  EXPECT_EQ(p.feed("<iq type='set' id='b'/>"), Status::Ok);
  EXPECT_EQ(h.elements.size(), 2u);
}

TEST(XmlStreamParserSuspendTest, EmptyElementSuspensionPoint) {
  RecordingHandler h;
  XmlStreamParser p(h, {});
  h.onStanza = [&](const Element& e) {
    if (e.name() == "starttls") p.suspend();
  };
  ASSERT_EQ(p.feed(kHeader), Status::Ok);
  // Plaintext injected after <starttls/> must be handed back, never parsed (CVE-2011-0411).
  ASSERT_EQ(p.feed("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><iq type='set'/>"), Status::Suspended);
  EXPECT_EQ(p.takeTail(), "<iq type='set'/>");
  EXPECT_EQ(h.elements.size(), 1u);
  p.restart();
  EXPECT_EQ(p.takeTail(), "");
  EXPECT_EQ(p.feed(kHeader), Status::Ok);
  EXPECT_EQ(h.headers.size(), 2u);
  EXPECT_EQ(h.elements.size(), 1u);
}

TEST(XmlStreamParserSuspendTest, SuspendAtTheLastByteHasAnEmptyTail) {
  RecordingHandler h;
  XmlStreamParser p(h, {});
  h.onStanza = [&](const Element&) { p.suspend(); };
  ASSERT_EQ(p.feed(kHeader), Status::Ok);
  ASSERT_EQ(p.feed("<a/>"), Status::Suspended);
  EXPECT_EQ(p.takeTail(), "");
  EXPECT_EQ(p.resume(), Status::Ok);
  EXPECT_EQ(p.feed("<b/>"), Status::Suspended);
  EXPECT_EQ(h.elements.size(), 2u);
}

TEST(XmlStreamParserSuspendTest, SuspendInStreamOpen) {
  RecordingHandler h;
  XmlStreamParser p(h, {});
  h.onOpen = [&] { p.suspend(); };
  ASSERT_EQ(p.feed(std::string(kHeader) + "<a/>"), Status::Suspended);
  EXPECT_EQ(p.takeTail(), "<a/>");
  EXPECT_EQ(h.elements.size(), 0u);
  EXPECT_EQ(p.resume(), Status::Ok);
  EXPECT_EQ(h.elements.size(), 1u);
}

// Suspending at every stanza of a chunk much larger than expat's pieces, resuming each time, gives the
// same events as parsing straight through; every tail is exactly the rest of the input.
TEST(XmlStreamParserSuspendTest, SuspendAtEveryStanzaOfABigChunk) {
  std::string body;
  std::vector<std::size_t> ends;  // offset in `body` just after each stanza
  for (int i = 0; i < 300; ++i) {
    body += "<message id='m" + std::to_string(i) + "'><body>" +
            std::string(static_cast<std::size_t>(i % 97), 'z') + "</body></message>";
    ends.push_back(body.size());
    if (i % 3 == 0) body += "\n";
  }
  body += "<tail/>";
  const std::string input = std::string(kHeader) + body;
  ASSERT_GT(input.size(), 5u * 4096);
  const auto expected = parseWhole(input);

  for (std::size_t split : {std::size_t{1}, std::size_t{4000}, input.size()}) {
    RecordingHandler h;
    XmlStreamParser p(h, {});
    h.onStanza = [&](const Element& e) {
      if (e.name() == "message") p.suspend();
    };
    std::size_t off = 0, suspensions = 0;
    while (off < input.size()) {
      const std::size_t n = std::min(split, input.size() - off);
      Status st = p.feed(std::string_view(input).substr(off, n));
      off += n;
      while (st == Status::Suspended) {
        ASSERT_LT(suspensions, ends.size());
        const std::size_t tailStart = kHeader.size() + ends[suspensions++];
        EXPECT_EQ(p.takeTail(), input.substr(tailStart, off - tailStart)) << "split " << split;
        st = p.resume();
      }
      ASSERT_EQ(st, Status::Ok);
    }
    EXPECT_EQ(suspensions, ends.size());
    EXPECT_EQ(h.events, expected) << "split " << split;
  }
}

TEST(XmlStreamParserSuspendTest, RestartInTheMiddleOfABigChunk) {
  // The new stream header arrives in the same read as the stanza that triggers the restart, past
  // several of expat's pieces.
  std::string first = std::string(kHeader);
  for (int i = 0; i < 10; ++i) first += "<presence>" + std::string(1000, ' ') + "</presence>";
  first += "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>";
  std::string second = std::string(kHeaderNoDecl);
  for (int i = 0; i < 10; ++i)
    second += "<iq id='" + std::to_string(i) + "'>" + std::string(1000, ' ') + "</iq>";

  RecordingHandler h;
  XmlStreamParser p(h, {});
  h.onStanza = [&](const Element& e) {
    if (e.name() == "auth") p.suspend();
  };
  ASSERT_EQ(p.feed(first + second), Status::Suspended);
  const std::string tail = p.takeTail();
  EXPECT_EQ(tail, second);
  p.restart();
  EXPECT_EQ(p.feed(tail), Status::Ok);
  EXPECT_EQ(h.headers.size(), 2u);
  EXPECT_EQ(h.elements.size(), 21u);
}

TEST(XmlStreamParserSuspendTest, RestartFromACallbackContinuesWithTheNewStream) {
  RecordingHandler h;
  XmlStreamParser p(h, {});
  h.onStanza = [&](const Element& e) {
    if (e.name() == "success") p.restart();
  };
  const std::string input = std::string(kHeader) + "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" +
                            std::string(kHeader) + "<iq/>";
  EXPECT_EQ(p.feed(input), Status::Ok);
  EXPECT_EQ(h.headers.size(), 2u);
  EXPECT_EQ(h.elements.size(), 2u);
  EXPECT_FALSE(p.suspended());
}

TEST(XmlStreamParserSuspendTest, RestartClearsFailure) {
  RecordingHandler h;
  XmlStreamParser p(h, {});
  EXPECT_EQ(p.feed("<!-- x -->"), Status::Failed);
  p.restart();
  EXPECT_FALSE(p.failed());
  EXPECT_EQ(p.feed(kHeader), Status::Ok);
  EXPECT_EQ(h.headers.size(), 1u);
}

TEST(XmlStreamParserSuspendTest, FeedWhileSuspendedKeepsTheBytes) {
  RecordingHandler h;
  XmlStreamParser p(h, {});
  h.onStanza = [&](const Element& e) {
    if (e.name() == "a") p.suspend();
  };
  ASSERT_EQ(p.feed(std::string(kHeader) + "<a/><b"), Status::Suspended);
  EXPECT_EQ(p.feed("/>"), Status::Suspended);
  EXPECT_EQ(p.takeTail(), "<b/>");
  EXPECT_EQ(p.resume(), Status::Ok);
  ASSERT_EQ(h.elements.size(), 2u);
  EXPECT_EQ(h.elements[1]->name(), "b");
}

TEST(XmlStreamParserSuspendTest, LimitStillAppliesAcrossSuspension) {
  ParserLimits limits;
  limits.maxStanzaBytes = 1000;
  RecordingHandler h;
  XmlStreamParser p(h, limits);
  h.onStanza = [&](const Element& e) {
    if (e.name() == "a") p.suspend();
  };
  ASSERT_EQ(p.feed(std::string(kHeader) + "<a/><b x='" + std::string(2000, 'x')), Status::Suspended);
  EXPECT_EQ(p.resume(), Status::Failed);
  EXPECT_EQ(h.error(), ParseError::PolicyViolation);
}

TEST(XmlStreamParserSuspendTest, ResumeWithoutSuspensionIsHarmless) {
  RecordingHandler h;
  XmlStreamParser p(h, {});
  p.suspend();  // outside a callback: ignored
  EXPECT_EQ(p.resume(), Status::Ok);
  EXPECT_EQ(p.feed(kHeader), Status::Ok);
  EXPECT_EQ(h.headers.size(), 1u);
}

TEST(XmlStreamParserTest, HandlerExceptionIsRethrownAfterExpatReturns) {
  RecordingHandler h;
  XmlStreamParser p(h, {});
  h.onStanza = [](const Element&) { throw std::runtime_error("handler bug"); };
  ASSERT_EQ(p.feed(kHeader), Status::Ok);
  EXPECT_THROW(p.feed("<a/><b/>"), std::runtime_error);
  EXPECT_TRUE(p.failed());
  EXPECT_EQ(p.feed("<c/>"), Status::Failed);
  EXPECT_EQ(h.elements.size(), 1u);
}

// --- Split anywhere -------------------------------------------------------------------------------

const std::string kRichStream =
    std::string(kHeader) +
    "\n<message to='juliet@capulet.lit/balcony' xml:lang='fr' id='m1'>"
    "<body>Wherefore art thou, Romeo? Grüße 😀 日本語 &amp; &lt;&gt; &#x1F600; &#233;</body>"
    "<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>"
    "<p>a<b>b</b>c</p></body></html>"
    "<foo:bar xmlns:foo='urn:x' foo:attr='v&apos;' plain=\"q&quot;\"><foo:baz/></foo:bar>"
    "<![CDATA[cdata <here> & there]]>\r\nline2\rline3"
    "</message>  \n\t"
    "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"
    "<presence><status>é</status><priority>5</priority></presence>\r\n"
    "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
    "</stream:stream>";

TEST(XmlStreamParserSplitTest, ByteAtATimeMatchesWhole) {
  const auto whole = parseWhole(kRichStream);
  ASSERT_EQ(whole.size(), 6u);
  EXPECT_EQ(whole.back(), "close");
  EXPECT_EQ(parseSplit(kRichStream, {1}), whole);
  EXPECT_EQ(parseSplit(kRichStream, {2}), whole);
  EXPECT_EQ(parseSplit(kRichStream, {3}), whole);
}

TEST(XmlStreamParserSplitTest, RandomSplitsMatchWhole) {
  const auto whole = parseWhole(kRichStream);
  std::mt19937 rng(20240601);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::size_t> sizes;
    std::uniform_int_distribution<std::size_t> d(1, round % 2 ? 5 : 60);
    for (int i = 0; i < 50; ++i) sizes.push_back(d(rng));
    ASSERT_EQ(parseSplit(kRichStream, sizes), whole) << "round " << round;
  }
}

TEST(XmlStreamParserSplitTest, EveryTwoWaySplitMatchesWhole) {
  const auto whole = parseWhole(kRichStream);
  for (std::size_t cut = 1; cut < kRichStream.size(); ++cut) {
    RecordingHandler h;
    XmlStreamParser p(h, {});
    p.feed(std::string_view(kRichStream).substr(0, cut));
    p.feed(std::string_view(kRichStream).substr(cut));
    ASSERT_EQ(h.events, whole) << "cut at " << cut;
  }
}

TEST(XmlStreamParserSplitTest, ErrorsAreTheSameWhateverTheSplit) {
  for (const std::string& input :
       {std::string(kHeader) + "<a/><b>&bogus;</b>", std::string(kHeader) + "<a/><b>\xE2\x82</b>",
        std::string(kHeader) + "<a/><!--x-->", kBillionLaughs}) {
    const auto whole = parseWhole(input);
    EXPECT_EQ(parseSplit(input, {1}), whole);
    EXPECT_EQ(parseSplit(input, {5, 1, 3}), whole);
  }
}

TEST(XmlStreamParserSplitTest, MultiByteCharactersSplitAcrossFeeds) {
  RecordingHandler h;
  XmlStreamParser p(h, {});
  ASSERT_EQ(p.feed(kHeader), Status::Ok);
  const std::string emoji = "\xF0\x9F\x98\x80";  // U+1F600, four bytes
  ASSERT_EQ(p.feed("<body>" + emoji.substr(0, 1)), Status::Ok);
  ASSERT_EQ(p.feed(emoji.substr(1, 2)), Status::Ok);
  ASSERT_EQ(p.feed(emoji.substr(3) + "\xC3"), Status::Ok);
  ASSERT_EQ(p.feed("\xA9</body>"), Status::Ok);
  ASSERT_EQ(h.elements.size(), 1u);
  EXPECT_EQ(h.elements[0]->text(), emoji + "\xC3\xA9");
  EXPECT_EQ(h.elements[0]->nodes().size(), 1u);
}

TEST(XmlStreamParserSplitTest, MutatedStreamsGiveTheSameEventsWhateverTheSplit) {
  // A small fuzz: corrupt the stream in random places; whatever the outcome, it must not depend on how
  // the bytes were split (and must be clean under the sanitizers).
  std::mt19937 rng(7);
  std::string alphabet = "<>&;/='\"![]?-x \n\r\xC3\xA9\xFF\x01";
  alphabet += '\0';
  for (int round = 0; round < 300; ++round) {
    std::string input = kRichStream;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < edits; ++i) {
      const std::size_t at = rng() % input.size();
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0:
          input[at] = c;
          break;
        case 1:
          input.insert(at, 1, c);
          break;
        default:
          input.erase(at, 1);
          break;
      }
    }
    const auto whole = parseWhole(input);
    ASSERT_EQ(parseSplit(input, {1}), whole) << "round " << round;
    ASSERT_EQ(parseSplit(input, {1 + rng() % 40, 1 + rng() % 7}), whole) << "round " << round;
  }
}

// --- Round trip -----------------------------------------------------------------------------------

TEST(XmlStreamParserTest, RoundTripParseSerializeParse) {
  RecordingHandler first;
  XmlStreamParser p1(first, {});
  ASSERT_EQ(p1.feed(kRichStream), Status::Ok);
  ASSERT_EQ(first.elements.size(), 4u);

  std::string again(kHeader);
  for (const auto& e : first.elements) serialize(*e, again, first.headers[0].contentNs);
  again += "</stream:stream>";
  RecordingHandler second;
  XmlStreamParser p2(second, {});
  ASSERT_EQ(p2.feed(again), Status::Ok);
  ASSERT_EQ(second.elements.size(), first.elements.size());
  for (std::size_t i = 0; i < first.elements.size(); ++i)
    EXPECT_TRUE(sameElement(*first.elements[i], *second.elements[i])) << toString(*first.elements[i]);

  // Awkward values survive too.
  auto e = make("message", "jabber:client");
  e->setAttr("a", "'\"<>&\t\n\r x").setAttr("{urn:q}b", "1").setAttr("xml:lang", "en");
  e->addText("text\r\n with ]]> and \t tabs");
  e->addTextChild("x", "", "no namespace");
  RecordingHandler third;
  XmlStreamParser p3(third, {});
  ASSERT_EQ(p3.feed(std::string(kHeader) + toString(*e, ns::kClient)), Status::Ok);
  ASSERT_EQ(third.elements.size(), 1u);
  EXPECT_TRUE(sameElement(*e, *third.elements[0])) << toString(*third.elements[0]);
}

TEST(XmlStreamParserTest, BufferedBytesDropAfterEachStanza) {
  RecordingHandler h;
  XmlStreamParser p(h, bigLimits());
  ASSERT_EQ(p.feed(kHeader), Status::Ok);
  ASSERT_EQ(p.feed("<message><body>" + std::string(100000, 'x')), Status::Ok);
  EXPECT_GE(p.bufferedElementBytes(), 100000u);
  ASSERT_EQ(p.feed("</body></message>"), Status::Ok);
  EXPECT_EQ(p.bufferedElementBytes(), 0u);
}

}  // namespace
}  // namespace parley::xml

namespace parley::xml {
namespace {

struct HibernationRecorder : StreamParserHandler {
  int opens = 0;
  std::vector<ElementPtr> elements;
  std::string error;
  void onStreamOpen(StreamHeader) override { ++opens; }
  void onElement(ElementPtr e) override { elements.push_back(std::move(e)); }
  void onStreamClose() override {}
  void onParseError(ParseError, std::string_view d) override { error = std::string(d); }
};

TEST(XmlStreamParserHibernationTest, AnIdleParserIsFreedAndRevivedWithTheStreamsNamespaces) {
  HibernationRecorder r;
  XmlStreamParser p(r, ParserLimits{});
  ASSERT_EQ(p.feed("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                   "xmlns:x='urn:x' version='1.0'><message><body>one</body></message>  "),
            XmlStreamParser::Status::Ok);
  ASSERT_TRUE(p.hibernate());
  EXPECT_TRUE(p.hibernated());
  // Default and prefixed namespaces declared on the root still apply after revival.
  ASSERT_EQ(p.feed("<iq type='get' id='1'><x:q/></iq><stream:features/>"), XmlStreamParser::Status::Ok);
  EXPECT_EQ(r.opens, 1) << "reviving is not a new stream";
  ASSERT_EQ(r.elements.size(), 3u);
  EXPECT_EQ(r.elements[1]->xmlns(), "jabber:client");
  EXPECT_EQ(r.elements[1]->firstChild()->xmlns(), "urn:x");
  EXPECT_EQ(r.elements[2]->xmlns(), "http://etherx.jabber.org/streams");
  EXPECT_TRUE(r.error.empty()) << r.error;
}

TEST(XmlStreamParserHibernationTest, NotWhileAnElementIsHalfReceived) {
  HibernationRecorder r;
  XmlStreamParser p(r, ParserLimits{});
  p.feed("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><message><bo");
  EXPECT_FALSE(p.hibernate());
  p.feed("dy>x</body></message>");
  EXPECT_TRUE(p.hibernate());
  // Limits still hold after revival: the size is counted from the revived stream's start.
  ParserLimits small;
  small.maxStanzaBytes = 100;
  p.setLimits(small);
  EXPECT_EQ(p.feed("<message><body>" + std::string(200, 'a') + "</body></message>"),
            XmlStreamParser::Status::Failed);
  EXPECT_EQ(r.elements.size(), 1u);
}

TEST(XmlStreamParserHibernationTest, ClosingAfterRevival) {
  HibernationRecorder r;
  XmlStreamParser p(r, ParserLimits{});
  p.feed("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><presence/>");
  ASSERT_TRUE(p.hibernate());
  EXPECT_EQ(p.feed("</stream:stream>"), XmlStreamParser::Status::Ok);
  p.restart();  // a restart after hibernation starts a real new stream
  EXPECT_EQ(p.feed("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"),
            XmlStreamParser::Status::Ok);
  EXPECT_EQ(r.opens, 2);
}

// Hibernated parsers go back to a per-thread spare list, reset, and revive the next connection on the
// thread: two streams that hibernate in turn trade the same expat parser. Nothing of one stream's
// namespace bindings, nor of a failed stream's state, may reach the other.
TEST(XmlStreamParserHibernationTest, RecycledParsersCarryNothingBetweenStreams) {
  HibernationRecorder ra, rb, rc;
  XmlStreamParser a(ra, ParserLimits{}), b(rb, ParserLimits{});
  ASSERT_EQ(a.feed("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                   "xmlns:x='urn:a'><presence/>"),
            XmlStreamParser::Status::Ok);
  ASSERT_EQ(b.feed("<s:stream xmlns='jabber:server' xmlns:s='http://etherx.jabber.org/streams' "
                   "xmlns:x='urn:b' xmlns:y='urn:y'><presence/>"),
            XmlStreamParser::Status::Ok);
  {
    // A stream that fails in the middle of a long token, then goes away: its parser is not kept.
    XmlStreamParser c(rc, bigLimits());
    c.feed(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        "<message to='" +
        std::string(20000, 'a'));
    c.feed("<");
    EXPECT_FALSE(rc.error.empty());
  }
  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(a.hibernate());
    ASSERT_TRUE(b.hibernate());
    ASSERT_EQ(a.feed("<message><x:q/></message>"), XmlStreamParser::Status::Ok) << ra.error;
    ASSERT_EQ(b.feed("<message><x:q/><y:q/></message>"), XmlStreamParser::Status::Ok) << rb.error;
  }
  ASSERT_EQ(ra.elements.size(), 21u);
  ASSERT_EQ(rb.elements.size(), 21u);
  EXPECT_EQ(ra.elements.back()->xmlns(), "jabber:client");
  EXPECT_EQ(ra.elements.back()->firstChild()->xmlns(), "urn:a");
  EXPECT_EQ(rb.elements.back()->xmlns(), "jabber:server");
  EXPECT_EQ(rb.elements.back()->firstChild()->xmlns(), "urn:b");
  // Stream b's prefix y was bound in a parser stream a now uses: in a it is still unbound.
  ASSERT_TRUE(a.hibernate());
  ASSERT_TRUE(b.hibernate());
  EXPECT_EQ(a.feed("<message><y:q/></message>"), XmlStreamParser::Status::Failed);
  EXPECT_NE(ra.error.find("unbound prefix"), std::string::npos) << ra.error;
}

}  // namespace
}  // namespace parley::xml
