// Parses one XML element from a string (stored stanzas, configuration snippets, tests) with the same
// hardened parser and limits as the network, as if it appeared inside a stream whose default namespace
// is `defaultNs`.
#pragma once

#include <cstddef>
#include <string_view>

#include "server/xml/element.h"

namespace parley::xml {

// nullptr if the text is not exactly one well-formed element (surrounding whitespace allowed).
ElementPtr parseElement(std::string_view text, std::string_view defaultNs = "jabber:client",
                        std::size_t maxBytes = 16 * 1024 * 1024);

}  // namespace parley::xml
