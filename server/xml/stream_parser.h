// DESIGN: XmlStreamParser turns the bytes of one XML stream (RFC 6120 §4) into events: the stream
// header, each complete top-level element (a stanza or a nonza), and the stream close. It wraps expat
// with namespace processing and enforces, while parsing, everything a hostile peer could abuse:
//  - restricted XML (RFC 6120 §11.1): DTDs, entity declarations, processing instructions and
//    comments are refused with RestrictedXml; the encoding is forced to UTF-8;
//  - size: the bytes of one top-level element (counted from the end of the previous one) may not exceed
//    Limits::maxStanzaBytes. The count is checked as bytes arrive, so an oversize stanza is refused
//    after at most one read chunk past the limit and is never buffered whole;
//  - depth, children per element and attributes per element.
// The parser is single-threaded (it lives on its session's executor). A handler may suspend() parsing
// from inside a callback (e.g. while an authentication step runs elsewhere); feed() then returns
// Suspended and the caller either resume()s or restart()s (stream restart after STARTTLS/SASL,
// RFC 6120 §4.3.3). The unparsed bytes after the suspension point are available through takeTail().
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/xml/element.h"

namespace parley::xml {

struct ParserLimits {
  std::size_t maxStanzaBytes = 10000;
  std::size_t maxDepth = 48;        // element nesting inside one stanza (the stanza itself is depth 1)
  std::size_t maxChildren = 10000;  // element children of one element
  std::size_t maxAttributes = 64;   // attributes on one element (namespace declarations excluded)
};

enum class ParseError {
  None,
  NotWellFormed,    // <not-well-formed/>
  RestrictedXml,    // <restricted-xml/>
  PolicyViolation,  // <policy-violation/>: a limit was exceeded
  BadFormat,        // <bad-format/>: e.g. content after the stream closed
};

struct StreamHeader {
  std::string name;       // local name, normally "stream"
  std::string xmlns;      // namespace of the root, normally http://etherx.jabber.org/streams
  std::string contentNs;  // the default namespace declared on the root (jabber:client), or ""
  std::vector<std::pair<std::string, std::string>> attributes;  // to, from, version, xml:lang, id…
  std::string_view attr(std::string_view n) const {
    for (const auto& [k, v] : attributes)
      if (k == n) return v;
    return {};
  }
  bool hasAttr(std::string_view n) const {
    for (const auto& [k, v] : attributes)
      if (k == n) return true;
    return false;
  }
};

class StreamParserHandler {
 public:
  virtual ~StreamParserHandler() = default;
  virtual void onStreamOpen(StreamHeader header) = 0;
  // A complete top-level element. Whitespace between elements is not reported (keepalives).
  virtual void onElement(ElementPtr element) = 0;
  virtual void onStreamClose() = 0;
  // Parsing stopped for good; `detail` is for the log, not the peer.
  virtual void onParseError(ParseError error, std::string_view detail) = 0;
};

class XmlStreamParser {
 public:
  enum class Status { Ok, Suspended, Failed };

  XmlStreamParser(StreamParserHandler& handler, ParserLimits limits);
  ~XmlStreamParser();
  XmlStreamParser(const XmlStreamParser&) = delete;
  XmlStreamParser& operator=(const XmlStreamParser&) = delete;

  // Parses the next bytes of the stream. Callbacks run synchronously from inside feed().
  // Must not be called while suspended (the caller stops reading instead).
  Status feed(std::string_view bytes);
  // From inside a callback: stop after the current event; feed()/resume() return Suspended.
  void suspend();
  // Continue parsing the bytes held back at suspension (not from inside a callback).
  Status resume();
  // The bytes that followed the suspension point and have not been parsed. Valid after feed() returned
  // Suspended; the caller uses it to replay bytes into a restarted parser (SASL) or to discard them
  // (STARTTLS: plaintext sent after <starttls/> must never reach the TLS layer, CVE-2011-0411).
  std::string takeTail();
  // Starts a fresh stream (after a stream restart). Limits stay unless changed with setLimits().
  void restart();
  void setLimits(ParserLimits limits);
  const ParserLimits& limits() const { return limits_; }
  bool suspended() const;
  bool failed() const;
  // Between two top-level elements with nothing pending, frees expat's state (it is rebuilt, with the
  // stream's namespace context, when bytes arrive). Returns false when now is not such a moment.
  bool hibernate();
  bool hibernated() const;
  // Nothing of a top-level element has been fed since the last one ended (RFC 7395 §3.3.3: each
  // WebSocket message holds complete elements).
  bool betweenElements() const;
  // Bytes held by the parser for the element under construction (for memory accounting).
  std::size_t bufferedElementBytes() const;

  struct Impl;  // expat callbacks need the definition; opaque to users

 private:
  std::unique_ptr<Impl> impl_;
  ParserLimits limits_;
};

}  // namespace parley::xml
