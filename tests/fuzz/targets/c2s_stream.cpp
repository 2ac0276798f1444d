// A client stream fed bytes without sockets: the real stream core of a c2s session
// (server/stream/inbound_stream.h: header checks, features, SASL PLAIN and SCRAM-SHA-1/256/512 with the
// real ScramServer, stream restarts, RFC 7395 framing, suspension while a credential is looked up,
// stream errors and closing) over an in-memory net::Transport, before and after authentication.
// The policy behind it (FuzzPolicy) answers like C2sSession does at that seam: credentials from a
// fixed account (juliet / pencil), resource binding while input is held, then every stanza validated
// as C2sSession validates it (from/to JIDs, IQ shape, presence type) and echoed or refused with the
// stanza error; every 16th stanza holds input briefly like the rate limiter. (The real C2sSession with
// its router and modules needs the whole server library; it is not in the fuzz build, see
// docs/SECURITY.md.)
// Input: byte 0 = mode (bit 0: WebSocket framing, messages separated by 0xFF bytes; bit 1: start
// authenticated and bound; bit 2: TLS not required), then the peer's bytes, cut where byte 1 says.
// Invariants: everything the server writes is well-formed XML (a well-formed stream for TCP, one
// complete element per message for WebSocket); the stream ends at most once and nothing reaches the
// policy after it ended; nothing is authenticated without the right password.
#include <memory>
#include <string>

#include "server/net/transport.h"
#include "server/runtime/asio.h"
#include "server/stream/inbound_stream.h"
#include "server/util/crypto.h"
#include "server/util/scram_credential.h"
#include "server/xml/parse_fragment.h"
#include "server/xml/stream_parser.h"
#include "server/xmpp/errors.h"
#include "server/xmpp/jid.h"
#include "server/xmpp/stanza.h"
#include "tests/fuzz/c2s_fixture.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

using namespace parley;

// What a client would parse from the server: every byte the server writes must be well-formed.
class OutputChecker : public xml::StreamParserHandler {
 public:
  explicit OutputChecker(bool framed)
      : framed_(framed), parser_(*this, xml::ParserLimits{1 << 24, 1000, 1 << 20, 1000}) {}
  void check(std::string_view bytes) {
    if (framed_) {
      PARLEY_FUZZ_CHECK(xml::parseElement(bytes, "", 1 << 24) != nullptr);
      return;
    }
    if (closed_) {
      PARLEY_FUZZ_CHECK(bytes.empty());
      return;
    }
    auto status = parser_.feed(bytes);
    while (status == xml::XmlStreamParser::Status::Suspended) {
      std::string tail = parser_.takeTail();
      parser_.restart();
      status = parser_.feed(tail);
    }
    PARLEY_FUZZ_CHECK(status != xml::XmlStreamParser::Status::Failed);
  }
  void onStreamOpen(xml::StreamHeader) override {}
  void onElement(xml::ElementPtr e) override {
    // RFC 6120 §6.4.6: after <success/> the server's next bytes are a new stream header.
    if (e->is("success", "urn:ietf:params:xml:ns:xmpp-sasl")) parser_.suspend();
  }
  void onStreamClose() override { closed_ = true; }
  void onParseError(xml::ParseError, std::string_view detail) override {
    std::fprintf(stderr, "server output not well-formed: %.*s\n", static_cast<int>(detail.size()),
                 detail.data());
    parley::fuzz::fail("server output is well-formed XML");
  }

 private:
  bool framed_;
  bool closed_ = false;
  xml::XmlStreamParser parser_;
};

}  // namespace

PARLEY_FUZZ_TARGET(c2s_stream) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const bool framed = mode & 1, authenticated = mode & 2;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  fuzz::C2sFixture fixture(framed, /*requireTls=*/!(mode & 4));
  OutputChecker checker(framed);
  fixture.onOutput = [&checker](std::string_view bytes) { checker.check(bytes); };
  fixture.start();
  if (authenticated) {
    for (const auto& message : fuzz::C2sFixture::loginPreamble(framed)) fixture.feed(message);
    PARLEY_FUZZ_CHECK(fixture.bound());  // the preamble logs in: what follows is post-authentication
  }
  if (framed) {
    while (!input.empty() && !fixture.ended()) {
      const auto sep = input.find('\xff');
      fixture.feed(input.substr(0, sep));
      input = sep == std::string_view::npos ? std::string_view() : input.substr(sep + 1);
    }
  } else {
    fuzz::Splitter chunks(input, 200);
    while (!chunks.done() && !fixture.ended()) fixture.feed(chunks.next());
  }
  fixture.finish();
  return 0;
}
