// Implementation notes (see the DESIGN comment in stream_parser.h):
//  - Byte accounting uses expat's absolute byte index (bytes since the parser was created or reset).
//    `boundary` is where the current top-level element's bytes start counting: the end of the stream
//    header, of the previous top-level element, or of whitespace between elements. Input is handed to
//    expat in pieces that never reach more than one byte past the limit, and the count is checked after
//    every piece and inside callbacks, so an oversize element is refused at its first byte over the
//    limit, even when it is a single token (a huge start tag) that expat would buffer without producing
//    any event, and the outcome does not depend on how the input was split into reads.
//  - Suspension: expat keeps the rest of the current piece in its own buffer and continues with it on
//    XML_ResumeParser(); the pieces not yet handed to expat wait in `held`, which starts with a copy
//    of the rest of the current piece so that takeTail() can return every unparsed byte.
//  - Hash salts: expat seeds the hash tables of each new parser from the OS (a getrandom() system call,
//    and a getenv()) unless told one. A connection's parser is rebuilt after every read by default
//    (hibernate/revive), so each parser gets its salt from a per-process secret instead: one OS draw
//    per process, and salts an attacker cannot guess.
//  - Expat is C: no exception may unwind through it. Callbacks catch everything; an exception thrown by
//    the handler is rethrown from feed()/resume() once expat has returned, our own allocation failures
//    become a PolicyViolation.
#include "server/xml/stream_parser.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <optional>
#include <utility>

#include <expat.h>

#include "server/util/crypto.h"
#include "server/xml/namespaces.h"

namespace parley::xml {

namespace {

// Separates namespace URI and local name in names reported by expat. It cannot occur in an XML
// document at all (XML 1.0 §2.2 excludes U+0001), so neither a URI nor a local name can contain it.
constexpr XML_Char kNsSeparator = '\x01';
// Largest slice of input handed to expat at once. Expat copies each slice into its own buffer, which
// never shrinks, so small slices keep the memory of idle connections small.
constexpr std::size_t kPieceBytes = 4096;
// Resolved namespaces are copied into every element, so a long URI inherited by many small children
// costs far more memory than the bytes it arrived in. The built tree may hold at most this many times
// the stanza limit (plus slack) in names, namespaces, attributes and text.
constexpr std::size_t kExpansionFactor = 8;
constexpr std::size_t kExpansionSlack = 4096;
// Capacity of the element stack kept between stanzas.
constexpr std::size_t kKeepStackFrames = 64;

bool isXmlSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void splitName(std::string_view full, std::string& uri, std::string& local) {
  const auto sep = full.rfind(kNsSeparator);
  if (sep == std::string_view::npos) {
    uri.clear();
    local.assign(full);
  } else {
    uri.assign(full.substr(0, sep));
    local.assign(full.substr(sep + 1));
  }
}

// Attribute names as documented in element.h: "local", "xml:local" or "{uri}local".
std::string attrName(std::string_view full) {
  const auto sep = full.rfind(kNsSeparator);
  if (sep == std::string_view::npos) return std::string(full);
  const auto uri = full.substr(0, sep);
  const auto local = full.substr(sep + 1);
  std::string out;
  if (uri == ns::kXml) {
    out.reserve(4 + local.size());
    out += "xml:";
  } else {
    out.reserve(uri.size() + local.size() + 2);
    out += '{';
    out += uri;
    out += '}';
  }
  out += local;
  return out;
}

// A fresh hash salt for each parser: a per-process random key mixed with a counter (splitmix64's
// finaliser, a bijection, so salts never repeat within a process).
unsigned long nextHashSalt() {
  static const std::uint64_t key = [] {
    std::uint64_t k = 0;
    const std::string bytes = util::randomBytes(sizeof k);
    std::memcpy(&k, bytes.data(), sizeof k);
    return k;
  }();
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t z = key + 0x9e3779b97f4a7c15ULL * (counter.fetch_add(1, std::memory_order_relaxed) + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<unsigned long>(z != 0 ? z : 1);  // 0 would make expat draw one itself
}

// Parsers this thread has finished with, reset and kept for the next stream or revived connection on
// the same thread. A busy connection frees its parser after each read and needs one again at the next
// (hibernate/revive); creating one is a dozen allocations, one large enough to make glibc consolidate
// its fast bins, ≈ 8 % of a chat message's server CPU. At most kMaxSpare per thread, so idle
// connections still hold no parser between them. XML_ParserReset keeps expat's buffers, so a parser
// that needed more than a piece of buffer (a long token) is freed instead of kept.
thread_local bool tSpareParsersGone = false;  // trivially destructible: readable at any point of thread exit

class SpareParsers {
 public:
  static constexpr std::size_t kMaxSpare = 8;
  SpareParsers() = default;
  SpareParsers(const SpareParsers&) = delete;
  SpareParsers& operator=(const SpareParsers&) = delete;
  ~SpareParsers() {
    tSpareParsersGone = true;  // a parser destroyed later in this thread's exit is freed directly
    for (XML_Parser p : spare_) XML_ParserFree(p);
  }
  XML_Parser take() {
    if (spare_.empty()) return XML_ParserCreateNS("UTF-8", kNsSeparator);  // forced UTF-8, RFC 6120 §11.6
    XML_Parser p = spare_.back();
    spare_.pop_back();
    return p;
  }
  void give(XML_Parser p, bool grown) {
    // Reset clears handlers, user data and every parsing state; the namespace separator stays.
    if (grown || spare_.size() >= kMaxSpare || XML_ParserReset(p, "UTF-8") != XML_TRUE) {
      XML_ParserFree(p);
      return;
    }
    spare_.push_back(p);
  }

 private:
  std::vector<XML_Parser> spare_;
};
thread_local SpareParsers tSpareParsers;

XML_Parser takeParser() {
  if (tSpareParsersGone) return XML_ParserCreateNS("UTF-8", kNsSeparator);
  return tSpareParsers.take();
}

void giveParser(XML_Parser p, bool grown) {
  if (tSpareParsersGone) {
    XML_ParserFree(p);
    return;
  }
  tSpareParsers.give(p, grown);
}

std::size_t countAttrs(const XML_Char** atts) {
  std::size_t n = 0;
  while (atts[2 * n]) ++n;
  return n;
}

}  // namespace

struct XmlStreamParser::Impl {
  Impl(StreamParserHandler& h, const ParserLimits& l) : handler(h), limits(l) {
    parser = takeParser();
    if (parser) install();
  }
  ~Impl() {
    if (parser) giveParser(parser, grown);
  }

  // What settle() decided after an expat call.
  struct Outcome {
    std::optional<Status> status;       // return this
    std::optional<std::string> replay;  // restart happened inside a callback: parse these bytes next
  };

  StreamParserHandler& handler;
  ParserLimits limits;
  XML_Parser parser = nullptr;

  // Stream state.
  bool inRoot = false;
  bool closed = false;
  bool failed = false;
  bool suspended = false;
  std::string contentNs;  // default namespace declared on the root, until the header is reported
  // Namespace declarations of the root ("" prefix = default), kept to rebuild the parser's context
  // after hibernate().
  std::vector<std::pair<std::string, std::string>> rootDecls;
  std::string rootQName;       // the root's qualified name as the peer wrote it (to match its end tag)
  bool hibernated = false;     // expat freed between stanzas; recreated on the next feed()
  bool replayingRoot = false;  // feeding the synthetic root of a revived parser
  bool grown = false;          // expat held more than a piece at some point: its buffers grew

  struct Frame {
    MutableElementPtr element;
    std::size_t children = 0;
  };
  std::vector<Frame> stack;    // the top-level element under construction and its open descendants
  std::size_t builtBytes = 0;  // payload bytes in the tree under construction

  // Byte accounting, in expat's absolute byte index.
  std::uint64_t totalFed = 0;      // bytes handed to expat
  std::uint64_t boundary = 0;      // start of the bytes counted against maxStanzaBytes
  std::uint64_t lastEventEnd = 0;  // end of the last event (for bufferedElementBytes)

  // Suspension and restart requested from a callback.
  bool inParse = false;
  bool suspendRequested = false;
  bool restartRequested = false;
  std::uint64_t stopPos = 0;  // end of the event during which suspend()/restart() was called
  std::exception_ptr pendingException;

  // While suspended: unparsed bytes from absolute index heldAbs; expat holds the first expatHeld.
  std::string held;
  std::uint64_t heldAbs = 0;
  std::size_t expatHeld = 0;

  void install() {
    XML_SetUserData(parser, this);
    XML_SetHashSalt(parser, nextHashSalt());
    // RFC 6120 §11.1: no DTD, so no parameter entities either.
    XML_SetParamEntityParsing(parser, XML_PARAM_ENTITY_PARSING_NEVER);
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 6)
    // Expat >= 2.6 may defer reparsing a partial token until much more data arrives, which would
    // delay stanzas on a live stream. Stanza sizes are bounded, so the quadratic worst case it
    // protects against is bounded too.
    XML_SetReparseDeferralEnabled(parser, XML_FALSE);
#endif
    XML_SetElementHandler(parser, &Impl::onStart, &Impl::onEnd);
    XML_SetCharacterDataHandler(parser, &Impl::onText);
    XML_SetStartNamespaceDeclHandler(parser, &Impl::onNamespaceDecl);
    // Restricted XML, RFC 6120 §11.1: refuse at the first sign of a DTD, a PI or a comment.
    XML_SetStartDoctypeDeclHandler(parser, &Impl::onDoctype);
    XML_SetEntityDeclHandler(parser, &Impl::onEntityDecl);
    XML_SetUnparsedEntityDeclHandler(parser, &Impl::onUnparsedEntityDecl);
    XML_SetNotationDeclHandler(parser, &Impl::onNotationDecl);
    XML_SetProcessingInstructionHandler(parser, &Impl::onProcessingInstruction);
    XML_SetCommentHandler(parser, &Impl::onComment);
  }

  void releaseTree() {
    stack.clear();
    if (stack.capacity() > kKeepStackFrames) std::vector<Frame>().swap(stack);
    builtBytes = 0;
  }

  void releaseHeld() {
    std::string().swap(held);
    heldAbs = 0;
    expatHeld = 0;
  }

  void reset() {
    if (parser) {
      XML_ParserReset(parser, "UTF-8");  // clears handlers and user data
      install();
    }
    if (!parser) {  // hibernated: start over with a fresh parser
      parser = takeParser();
      grown = false;
      if (parser) install();
    }
    inRoot = closed = failed = suspended = hibernated = replayingRoot = false;
    contentNs.clear();
    rootDecls.clear();
    rootQName.clear();
    releaseTree();
    totalFed = boundary = lastEventEnd = 0;
    inParse = suspendRequested = restartRequested = false;
    stopPos = 0;
    pendingException = nullptr;
    releaseHeld();
  }

  // Handlers are not run once the stream is over or about to be reset; expat may still deliver the
  // rest of the current token (e.g. the end of an empty element) after XML_StopParser().
  bool active() const {
    return !failed && !closed && !restartRequested;
  }

  std::uint64_t eventEnd() const {
    const XML_Index index = XML_GetCurrentByteIndex(parser);
    if (index < 0) return totalFed;
    return static_cast<std::uint64_t>(index) + static_cast<std::uint64_t>(XML_GetCurrentByteCount(parser));
  }

  template <typename F>
  void callHandler(F&& f) {
    try {
      f();
    } catch (...) {
      // A handler bug, not peer input: stop, and rethrow once expat is off the stack.
      if (!pendingException) pendingException = std::current_exception();
      failed = true;
      releaseTree();
      if (inParse) XML_StopParser(parser, XML_FALSE);
    }
  }

  void fail(ParseError error, std::string_view detail) {
    if (failed) return;
    failed = true;
    releaseTree();
    if (inParse) XML_StopParser(parser, XML_FALSE);
    callHandler([&] { handler.onParseError(error, detail); });
  }

  // The bytes of the current top-level element (or header) up to `end` must fit the limit.
  bool withinSizeLimit(std::uint64_t end) {
    if (end - boundary <= limits.maxStanzaBytes) return true;
    fail(ParseError::PolicyViolation, inRoot ? "stanza too large" : "stream header too large");
    return false;
  }

  bool withinExpansionLimit() {
    constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
    const std::size_t cap = limits.maxStanzaBytes > (kMax - kExpansionSlack) / kExpansionFactor
                                ? kMax
                                : limits.maxStanzaBytes * kExpansionFactor + kExpansionSlack;
    if (builtBytes <= cap) return true;
    fail(ParseError::PolicyViolation, "stanza expands too much in memory");
    return false;
  }

  void startElement(const XML_Char* name, const XML_Char** atts) {
    const std::uint64_t end = lastEventEnd = eventEnd();
    if (!withinSizeLimit(end)) return;
    const std::size_t attrCount = countAttrs(atts);
    if (attrCount > limits.maxAttributes) return fail(ParseError::PolicyViolation, "too many attributes");

    if (replayingRoot) {  // a revived parser re-entering the stream: not a new stream
      inRoot = true;
      replayingRoot = false;
      boundary = end;
      return;
    }
    if (!inRoot) {  // RFC 6120 §4.2: the stream header
      StreamHeader header;
      splitName(name, header.xmlns, header.name);
      header.contentNs = std::move(contentNs);
      contentNs.clear();
      // Expat reports no prefixes; recover the one the peer used from the root's declarations.
      rootQName = header.name;
      for (const auto& [prefix, uri] : rootDecls)
        if (!prefix.empty() && uri == header.xmlns) rootQName = prefix + ":" + header.name;
      header.attributes.reserve(attrCount);
      for (std::size_t i = 0; i < attrCount; ++i)
        header.attributes.emplace_back(attrName(atts[2 * i]), atts[2 * i + 1]);
      inRoot = true;
      boundary = end;
      callHandler([&] { handler.onStreamOpen(std::move(header)); });
      return;
    }

    if (stack.size() + 1 > limits.maxDepth)
      return fail(ParseError::PolicyViolation, "elements nested too deep");
    if (!stack.empty() && ++stack.back().children > limits.maxChildren)
      return fail(ParseError::PolicyViolation, "too many child elements");

    std::string elementName, elementNs;
    splitName(name, elementNs, elementName);
    builtBytes += elementName.size() + elementNs.size();
    auto element = std::make_shared<Element>(std::move(elementName), std::move(elementNs));
    for (std::size_t i = 0; i < attrCount; ++i) {
      std::string attr = attrName(atts[2 * i]);
      std::string_view value = atts[2 * i + 1];
      builtBytes += attr.size() + value.size();
      element->setAttr(attr, value);
    }
    if (!withinExpansionLimit()) return;
    stack.push_back(Frame{std::move(element), 0});
  }

  void endElement() {
    const std::uint64_t end = lastEventEnd = eventEnd();
    if (stack.empty()) {  // RFC 6120 §4.4: the stream is closed; nothing after it is parsed
      closed = true;
      callHandler([&] { handler.onStreamClose(); });
      if (!restartRequested && !failed) XML_StopParser(parser, XML_FALSE);
      return;
    }
    if (!withinSizeLimit(end)) return;
    MutableElementPtr element = std::move(stack.back().element);
    stack.pop_back();
    if (!stack.empty()) {
      stack.back().element->addChild(std::move(element));
      return;
    }
    boundary = end;
    releaseTree();
    callHandler([&] { handler.onElement(std::move(element)); });
  }

  void characterData(std::string_view text) {
    const std::uint64_t end = lastEventEnd = eventEnd();
    if (stack.empty()) {
      // Between top-level elements only whitespace is allowed (keepalives, RFC 6120 §4.6.1); it never
      // counts toward the next element's size.
      if (std::all_of(text.begin(), text.end(), isXmlSpace)) {
        boundary = end;
        return;
      }
      return fail(ParseError::NotWellFormed, "character data between top-level elements");
    }
    if (!withinSizeLimit(end)) return;
    builtBytes += text.size();
    if (!withinExpansionLimit()) return;
    stack.back().element->addText(text);
  }

  void namespaceDecl(const XML_Char* prefix, const XML_Char* uri) {
    // Declarations on the root arrive before its start handler; the default one gives the content
    // namespace (jabber:client, jabber:server). xmlns='' undeclares (uri == nullptr).
    if (inRoot || replayingRoot) return;
    if (prefix == nullptr) contentNs = uri ? uri : "";
    rootDecls.emplace_back(prefix ? prefix : "", uri ? uri : "");
  }

  std::string expatErrorDetail() const {
    std::string detail = XML_ErrorString(XML_GetErrorCode(parser));
    detail += " at line ";
    detail += std::to_string(XML_GetCurrentLineNumber(parser));
    detail += ", column ";
    detail += std::to_string(XML_GetCurrentColumnNumber(parser));
    return detail;
  }

  // Interprets the result of XML_Parse()/XML_ResumeParser(). `window` holds the bytes expat was given
  // by that call (starting at absolute index windowAbs) and `rest` the bytes not yet handed to expat.
  Outcome settle(XML_Status st, std::uint64_t windowAbs, std::string_view window, std::string_view rest) {
    if (totalFed - std::min(lastEventEnd, totalFed) > kPieceBytes) grown = true;
    if (pendingException) {
      releaseHeld();
      std::rethrow_exception(std::exchange(pendingException, nullptr));
    }
    const auto offsetIn = [&](std::uint64_t pos) {
      return static_cast<std::size_t>(std::clamp<std::uint64_t>(pos, windowAbs, windowAbs + window.size()) -
                                      windowAbs);
    };
    if (restartRequested) {
      // restart() from a callback: the new stream begins right after the current event. After an
      // error the remaining bytes are meaningless and dropped.
      std::string replay;
      if (!failed) {
        const std::size_t off = offsetIn(stopPos);
        replay.reserve(window.size() - off + rest.size());
        replay.append(window.substr(off)).append(rest);
      }
      reset();
      return {std::nullopt, std::move(replay)};
    }
    if (failed) {
      releaseHeld();
      return {Status::Failed, std::nullopt};
    }
    if (closed) {
      releaseHeld();
      return {Status::Ok, std::nullopt};
    }
    if (st == XML_STATUS_ERROR) {
      // Undefined entities, bad UTF-8, forbidden characters, mismatched tags, unbound prefixes…
      fail(ParseError::NotWellFormed, expatErrorDetail());
      releaseHeld();
      if (pendingException) std::rethrow_exception(std::exchange(pendingException, nullptr));
      return {failed ? Status::Failed : Status::Ok, std::nullopt};  // Ok: restarted from onParseError
    }
    if (st == XML_STATUS_SUSPENDED) {
      const std::size_t off = offsetIn(stopPos);
      std::string tail;
      tail.reserve(window.size() - off + rest.size());
      tail.append(window.substr(off)).append(rest);
      held = std::move(tail);  // window/rest may point into the old `held`: built before assigning
      heldAbs = windowAbs + off;
      expatHeld = window.size() - off;
      suspendRequested = false;
      suspended = true;
      return {Status::Suspended, std::nullopt};
    }
    // Covers bytes expat holds as an incomplete token (e.g. a start tag that never ends).
    if (!withinSizeLimit(totalFed)) {
      releaseHeld();
      if (pendingException) std::rethrow_exception(std::exchange(pendingException, nullptr));
      return {Status::Failed, std::nullopt};
    }
    return {};
  }

  // Frees expat between two top-level elements when nothing is pending (an idle connection then holds
  // no parser at all: ~10 KiB saved per idle session).
  bool hibernate() {
    if (!parser || hibernated || !inRoot || closed || failed || suspended || inParse || !stack.empty())
      return false;
    if (totalFed != boundary) return false;  // part of the next element is already inside expat
    giveParser(parser, grown);
    parser = nullptr;
    hibernated = true;
    return true;
  }

  // A fresh parser that has seen an equivalent root (same namespace declarations), so the next bytes
  // parse exactly as they would have in the original stream.
  bool revive() {
    parser = takeParser();
    grown = false;
    if (!parser) return false;
    install();
    hibernated = false;
    totalFed = boundary = lastEventEnd = 0;
    std::string root = "<" + rootQName;
    for (const auto& [prefix, uri] : rootDecls) {
      root += prefix.empty() ? " xmlns='" : " xmlns:" + prefix + "='";
      for (char c : uri) {
        if (c == '\'')
          root += "&apos;";
        else if (c == '&')
          root += "&amp;";
        else if (c == '<')
          root += "&lt;";
        else
          root += c;
      }
      root += "'";
    }
    root += ">";
    inRoot = false;
    replayingRoot = true;
    totalFed = root.size();
    inParse = true;
    const XML_Status st = XML_Parse(parser, root.data(), static_cast<int>(root.size()), XML_FALSE);
    inParse = false;
    return st == XML_STATUS_OK && inRoot;
  }

  Status parseInput(std::string_view input) {
    if (hibernated && !revive()) {
      fail(ParseError::PolicyViolation, "out of memory");
      return Status::Failed;
    }
    std::string replayed;  // owns the input after a restart requested from a callback
    while (!input.empty()) {
      // Never hand expat more than one byte past the size limit, so the limit is crossed at the same
      // byte (and reported the same way) however the input was split into reads.
      const std::uint64_t used = totalFed - std::min(boundary, totalFed);
      const std::uint64_t room = limits.maxStanzaBytes > used ? limits.maxStanzaBytes - used : 0;
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(room, kPieceBytes - 1) + 1);
      const std::string_view piece = input.substr(0, n);
      const std::string_view rest = input.substr(piece.size());
      const std::uint64_t pieceAbs = totalFed;
      totalFed += piece.size();
      inParse = true;
      const XML_Status st = XML_Parse(parser, piece.data(), static_cast<int>(piece.size()), XML_FALSE);
      inParse = false;
      Outcome outcome = settle(st, pieceAbs, piece, rest);
      if (outcome.replay) {
        replayed = std::move(*outcome.replay);
        input = replayed;
        continue;
      }
      if (outcome.status) return *outcome.status;
      input = rest;
    }
    return Status::Ok;
  }

  Status resume() {
    suspended = false;
    const std::string pending = std::move(held);  // keeps the bytes alive while expat works
    const std::uint64_t pendingAbs = heldAbs;
    const std::size_t inExpat = std::min(expatHeld, pending.size());
    releaseHeld();
    const std::string_view all = pending;
    inParse = true;
    const XML_Status st = XML_ResumeParser(parser);
    inParse = false;
    Outcome outcome = settle(st, pendingAbs, all.substr(0, inExpat), all.substr(inExpat));
    if (outcome.replay) return parseInput(*outcome.replay);
    if (outcome.status) return *outcome.status;
    return parseInput(all.substr(inExpat));
  }

  void requestStop(bool restart) {
    if (restart) {
      restartRequested = true;
      stopPos = eventEnd();
      XML_StopParser(parser, XML_FALSE);
      return;
    }
    if (!active() || suspendRequested) return;
    suspendRequested = true;
    stopPos = eventEnd();
    XML_StopParser(parser, XML_TRUE);
  }

  // Expat trampolines.
  static Impl& self(void* userData) {
    return *static_cast<Impl*>(userData);
  }

  template <typename F>
  static void guarded(void* userData, F&& f) {
    Impl& s = self(userData);
    if (!s.active()) return;
    try {
      f(s);
    } catch (...) {
      s.fail(ParseError::PolicyViolation, "out of memory");
    }
  }

  static void XMLCALL onStart(void* ud, const XML_Char* name, const XML_Char** atts) {
    guarded(ud, [&](Impl& s) { s.startElement(name, atts); });
  }
  static void XMLCALL onEnd(void* ud, const XML_Char*) {
    guarded(ud, [](Impl& s) { s.endElement(); });
  }
  static void XMLCALL onText(void* ud, const XML_Char* s, int len) {
    guarded(ud, [&](Impl& p) { p.characterData(std::string_view(s, static_cast<std::size_t>(len))); });
  }
  static void XMLCALL onNamespaceDecl(void* ud, const XML_Char* prefix, const XML_Char* uri) {
    guarded(ud, [&](Impl& s) { s.namespaceDecl(prefix, uri); });
  }
  static void restricted(void* ud, std::string_view what) {
    guarded(ud, [&](Impl& s) {
      if (s.withinSizeLimit(s.eventEnd())) s.fail(ParseError::RestrictedXml, what);
    });
  }
  static void XMLCALL onDoctype(void* ud, const XML_Char*, const XML_Char*, const XML_Char*, int) {
    restricted(ud, "document type declaration");
  }
  static void XMLCALL onEntityDecl(void* ud, const XML_Char*, int, const XML_Char*, int, const XML_Char*,
                                   const XML_Char*, const XML_Char*, const XML_Char*) {
    restricted(ud, "entity declaration");
  }
  static void XMLCALL onUnparsedEntityDecl(void* ud, const XML_Char*, const XML_Char*, const XML_Char*,
                                           const XML_Char*, const XML_Char*) {
    restricted(ud, "unparsed entity declaration");
  }
  static void XMLCALL onNotationDecl(void* ud, const XML_Char*, const XML_Char*, const XML_Char*,
                                     const XML_Char*) {
    restricted(ud, "notation declaration");
  }
  static void XMLCALL onProcessingInstruction(void* ud, const XML_Char*, const XML_Char*) {
    restricted(ud, "processing instruction");
  }
  static void XMLCALL onComment(void* ud, const XML_Char*) {
    restricted(ud, "comment");
  }
};

XmlStreamParser::XmlStreamParser(StreamParserHandler& handler, ParserLimits limits)
    : impl_(std::make_unique<Impl>(handler, limits)), limits_(limits) {}

XmlStreamParser::~XmlStreamParser() = default;

XmlStreamParser::Status XmlStreamParser::feed(std::string_view bytes) {
  Impl& s = *impl_;
  if (s.inParse) return Status::Failed;  // re-entered from a callback: a caller bug, parse nothing
  if (!s.parser && !s.hibernated) {
    s.fail(ParseError::PolicyViolation, "out of memory creating the XML parser");
    return Status::Failed;
  }
  if (s.failed) return Status::Failed;
  if (s.closed) return Status::Ok;  // after </stream:stream> nothing more is parsed or reported
  if (s.suspended) {
    // Documented as not allowed; keep the bytes rather than lose them.
    s.held.append(bytes);
    return Status::Suspended;
  }
  return s.parseInput(bytes);
}

void XmlStreamParser::suspend() {
  if (impl_->inParse) impl_->requestStop(false);
}

XmlStreamParser::Status XmlStreamParser::resume() {
  Impl& s = *impl_;
  if (s.inParse) return Status::Suspended;  // not from inside a callback
  if (s.failed || !s.parser) return Status::Failed;
  if (!s.suspended) return Status::Ok;
  return s.resume();
}

std::string XmlStreamParser::takeTail() {
  // A copy: resume() after takeTail() still parses the held bytes.
  return impl_->held;
}

void XmlStreamParser::restart() {
  if (impl_->inParse) {
    impl_->requestStop(true);  // takes effect when expat returns; parsing continues after the event
    return;
  }
  impl_->reset();
}

void XmlStreamParser::setLimits(ParserLimits limits) {
  limits_ = limits;
  impl_->limits = limits;
}

bool XmlStreamParser::hibernate() {
  return impl_->hibernate();
}

bool XmlStreamParser::hibernated() const {
  return impl_->hibernated;
}

bool XmlStreamParser::suspended() const {
  return impl_->suspended;
}

bool XmlStreamParser::failed() const {
  return impl_->failed;
}

bool XmlStreamParser::betweenElements() const {
  const Impl& s = *impl_;
  return !s.parser || (s.stack.empty() && s.totalFed == s.boundary);
}

std::size_t XmlStreamParser::bufferedElementBytes() const {
  const Impl& s = *impl_;
  if (s.failed || s.closed) return 0;  // nothing more will be built
  const std::size_t unparsed = static_cast<std::size_t>(s.totalFed - std::min(s.lastEventEnd, s.totalFed));
  const std::size_t waiting = s.held.size() - std::min(s.expatHeld, s.held.size());
  return s.builtBytes + unparsed + waiting;
}

}  // namespace parley::xml
