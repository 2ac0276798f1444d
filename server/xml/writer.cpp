#include "server/xml/writer.h"

#include <vector>

#include "server/xml/namespaces.h"

namespace parley::xml {

namespace {

// Characters XML 1.0 (§2.2) does not allow at all: C0 controls other than tab, LF and CR. The parser
// never produces them, but text from storage or a module might; dropping them keeps the output
// well-formed instead of getting the stream killed by the peer.
bool forbiddenControl(unsigned char c) {
  return c < 0x20 && c != '\t' && c != '\n' && c != '\r';
}

// Appends s, replacing each character for which replacement() returns non-null.
template <typename Replace>
void appendEscaped(std::string& out, std::string_view s, Replace replacement) {
  std::size_t run = 0;  // start of the pending run of unchanged characters
  for (std::size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    std::string_view rep;
    if (forbiddenControl(c)) {
      rep = std::string_view("", 0);
    } else {
      const char* r = replacement(c);
      if (!r) continue;
      rep = r;
    }
    out.append(s.data() + run, i - run);
    out.append(rep);
    run = i + 1;
  }
  out.append(s.data() + run, s.size() - run);
}

// Splits "{uri}local"; returns false for any other attribute name.
bool splitQualified(std::string_view name, std::string_view& uri, std::string_view& local) {
  if (name.size() < 3 || name.front() != '{') return false;
  const auto close = name.find('}');
  if (close == std::string_view::npos || close + 1 == name.size()) return false;
  uri = name.substr(1, close - 1);
  local = name.substr(close + 1);
  return true;
}

void appendPrefixName(std::string& out, std::size_t index) {
  out += "ns";
  out += std::to_string(index);
}

}  // namespace

void appendEscapedText(std::string& out, std::string_view text) {
  appendEscaped(out, text, [](unsigned char c) -> const char* {
    switch (c) {
      case '&':
        return "&amp;";
      case '<':
        return "&lt;";
      case '>':
        return "&gt;";  // "]]>" must not appear in text (XML 1.0 §2.4)
      case '\r':
        return "&#13;";  // a raw CR would be normalised to LF by the reader (§2.11)
      default:
        return nullptr;
    }
  });
}

void appendEscapedAttr(std::string& out, std::string_view value) {
  appendEscaped(out, value, [](unsigned char c) -> const char* {
    switch (c) {
      case '&':
        return "&amp;";
      case '<':
        return "&lt;";
      case '>':
        return "&gt;";
      case '\'':
        return "&apos;";
      case '"':
        return "&quot;";
      // Attribute-value normalisation (XML 1.0 §3.3.3) would turn these into spaces.
      case '\t':
        return "&#9;";
      case '\n':
        return "&#10;";
      case '\r':
        return "&#13;";
      default:
        return nullptr;
    }
  });
}

// An element in the XML namespace (a peer may send <xml:foo/>: the xml prefix is always bound) keeps
// its prefix: that namespace must never be declared as the default one (Namespaces in XML §3), and
// writing xmlns='http://www.w3.org/XML/1998/namespace' made output no parser accepts, which would
// have ended the recipient's stream (found by fuzzing). Its children then declare their namespaces.
static void appendElementName(std::string& out, const Element& e) {
  if (e.xmlns() == ns::kXml) out += "xml:";
  out += e.name();
}

void serializeStartTag(const Element& e, std::string& out, std::string_view scopeNs) {
  out += '<';
  appendElementName(out, e);
  if (e.xmlns() != scopeNs && e.xmlns() != ns::kXml) {
    out += " xmlns='";
    appendEscapedAttr(out, e.xmlns());
    out += '\'';
  }

  // Attributes in a namespace other than xml: get a prefix declared on this element (rare in XMPP, so
  // no attempt is made to reuse declarations across elements).
  std::vector<std::string_view> prefixed;
  for (const auto& [name, value] : e.attributes()) {
    std::string_view uri, local;
    if (name == "xmlns" || name.starts_with("xmlns:")) continue;  // declarations are not attributes
    out += ' ';
    if (splitQualified(name, uri, local)) {
      if (uri == ns::kXmlns) {
        out.pop_back();  // cannot be written as an attribute
        continue;
      }
      if (uri == ns::kXml) {
        out += "xml:";
      } else {
        std::size_t index = 0;
        while (index < prefixed.size() && prefixed[index] != uri) ++index;
        if (index == prefixed.size()) {
          prefixed.push_back(uri);
          out += "xmlns:";
          appendPrefixName(out, index);
          out += "='";
          appendEscapedAttr(out, uri);
          out += "' ";
        }
        appendPrefixName(out, index);
        out += ':';
      }
      out += local;
    } else {
      out += name;
    }
    out += "='";
    appendEscapedAttr(out, value);
    out += '\'';
  }
}

void serializeContent(const Element& e, std::string& out) {
  for (const auto& node : e.nodes()) {
    if (const auto* child = std::get_if<ElementPtr>(&node)) {
      if (*child) serialize(**child, out, e.xmlns());
    } else {
      appendEscapedText(out, std::get<std::string>(node));
    }
  }
}

void serialize(const Element& e, std::string& out, std::string_view scopeNs) {
  serializeStartTag(e, out, scopeNs);
  if (e.nodes().empty()) {
    out += "/>";
    return;
  }
  out += '>';
  serializeContent(e, out);
  out += "</";
  appendElementName(out, e);
  out += '>';
}

std::string toString(const Element& e, std::string_view scopeNs) {
  std::string out;
  serialize(e, out, scopeNs);
  return out;
}

}  // namespace parley::xml
