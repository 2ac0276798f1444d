// XmlStreamParser (server/xml/stream_parser.h) fed a peer's bytes cut into chunks at points taken from
// the input, as the network cuts them. The first byte also picks the limits (small ones reach every
// limit check quickly), whether the handler suspends after elements (resume, or a stream restart that
// replays the tail as SASL does) and whether the parser hibernates between reads.
// Invariants: every element the parser accepts serialises to XML that parses back to the same
// serialisation; nothing is reported after an error.
#include <string>

#include "server/xml/parse_fragment.h"
#include "server/xml/stream_parser.h"
#include "server/xml/writer.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

using namespace parley;

struct Handler : xml::StreamParserHandler {
  xml::XmlStreamParser* parser = nullptr;
  bool suspendAfterElements = false;
  bool failed = false;
  int elements = 0;
  void onStreamOpen(xml::StreamHeader header) override {
    PARLEY_FUZZ_CHECK(!failed);
    (void)header.attr("to");
  }
  void onElement(xml::ElementPtr e) override {
    PARLEY_FUZZ_CHECK(!failed);
    ++elements;
    const std::string once = xml::toString(*e, "jabber:client");
    auto again = xml::parseElement(once, "jabber:client");
    PARLEY_FUZZ_CHECK(again != nullptr);
    PARLEY_FUZZ_CHECK(xml::toString(*again, "jabber:client") == once);
    if (suspendAfterElements) parser->suspend();
  }
  void onStreamClose() override { PARLEY_FUZZ_CHECK(!failed); }
  void onParseError(xml::ParseError, std::string_view) override {
    PARLEY_FUZZ_CHECK(!failed);
    failed = true;
  }
};

}  // namespace

PARLEY_FUZZ_TARGET(xml_stream) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::uint8_t mode = size ? data[0] : 0;
  xml::ParserLimits limits;
  if (mode & 1) limits = xml::ParserLimits{512, 6, 16, 4};
  Handler h;
  xml::XmlStreamParser parser(h, limits);
  h.parser = &parser;
  h.suspendAfterElements = mode & 2;
  const bool restartOnSuspend = mode & 4;
  const bool hibernate = mode & 8;
  fuzz::Splitter chunks(input, mode & 16 ? 7 : 300);
  while (!chunks.done() && !parser.failed()) {
    auto status = parser.feed(chunks.next());
    for (int rounds = 0; status == xml::XmlStreamParser::Status::Suspended && rounds < 100000; ++rounds) {
      if (restartOnSuspend) {
        std::string tail = parser.takeTail();
        parser.restart();
        status = parser.feed(tail);
      } else {
        status = parser.resume();
      }
    }
    if (parser.suspended()) break;
    (void)parser.bufferedElementBytes();
    if (hibernate && status == xml::XmlStreamParser::Status::Ok) parser.hibernate();
  }
  return 0;
}
