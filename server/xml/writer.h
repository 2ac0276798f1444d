// Serialisation of elements to UTF-8 XML text. Namespaces are written as default-namespace
// declarations (xmlns='…') wherever an element's namespace differs from the one in scope, so output never
// depends on the prefixes a peer used.
#pragma once

#include <string>
#include <string_view>

#include "server/xml/element.h"

namespace parley::xml {

// Appends e to out. `scopeNs` is the default namespace in effect where e is written (for a stanza
// inside a c2s stream, "jabber:client"): xmlns is written only when e's namespace differs.
void serialize(const Element& e, std::string& out, std::string_view scopeNs = {});
std::string toString(const Element& e, std::string_view scopeNs = {});
// The two halves of serialize(), for callers that cache the content of an element whose attributes
// change (a stanza fanned out to many recipients): the start tag without its closing '>' (attributes,
// namespace), and everything between the tags. serialize(e) == start + (content.empty() ? "/>" :
// ">" + content + "</name>"); an element with no nodes has empty content.
void serializeStartTag(const Element& e, std::string& out, std::string_view scopeNs = {});
void serializeContent(const Element& e, std::string& out);

// Escapes &, <, > (and ' and " in attributes) for inclusion in XML text.
void appendEscapedText(std::string& out, std::string_view text);
void appendEscapedAttr(std::string& out, std::string_view value);

}  // namespace parley::xml
