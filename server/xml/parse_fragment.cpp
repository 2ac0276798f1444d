#include "server/xml/parse_fragment.h"

#include <string>

#include "server/xml/stream_parser.h"
#include "server/xml/writer.h"

namespace parley::xml {

namespace {
struct Collector : StreamParserHandler {
  ElementPtr element;
  int count = 0;
  bool failed = false;
  void onStreamOpen(StreamHeader) override {}
  void onElement(ElementPtr e) override {
    ++count;
    element = std::move(e);
  }
  void onStreamClose() override {}
  void onParseError(ParseError, std::string_view) override { failed = true; }
};
}  // namespace

ElementPtr parseElement(std::string_view text, std::string_view defaultNs, std::size_t maxBytes) {
  Collector c;
  ParserLimits limits;
  limits.maxStanzaBytes = maxBytes;
  limits.maxChildren = 1000000;
  limits.maxAttributes = 10000;
  XmlStreamParser parser(c, limits);
  std::string open = "<wrapper xmlns='";
  appendEscapedAttr(open, defaultNs);
  open += "'>";
  if (parser.feed(open) != XmlStreamParser::Status::Ok) return nullptr;
  if (parser.feed(text) != XmlStreamParser::Status::Ok) return nullptr;
  if (parser.feed("</wrapper>") != XmlStreamParser::Status::Ok) return nullptr;
  if (c.failed || c.count != 1) return nullptr;
  return c.element;
}

}  // namespace parley::xml
