// DESIGN: an XML element as the server sees it once the parser has resolved namespaces. Elements are
// built mutable, then frozen behind ElementPtr (shared_ptr<const Element>) and never changed again, so a
// stanza can be handed to several sessions on several threads without copies or locks. An "edit" is a
// shallow copy (children are shared pointers) with the change applied.
//
// Attribute names are stored as written by the peer for unqualified attributes, "xml:lang" for the XML
// namespace, and "{uri}local" for attributes in any other namespace (rare in XMPP).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace parley::xml {

class Element;
using ElementPtr = std::shared_ptr<const Element>;
using MutableElementPtr = std::shared_ptr<Element>;

// A child is either an element or a run of character data.
using Node = std::variant<ElementPtr, std::string>;

class Element {
 public:
  Element() = default;
  Element(std::string name, std::string xmlns) : name_(std::move(name)), xmlns_(std::move(xmlns)) {}

  const std::string& name() const { return name_; }
  const std::string& xmlns() const { return xmlns_; }
  bool is(std::string_view name, std::string_view xmlns) const { return name_ == name && xmlns_ == xmlns; }

  // Attributes.
  const std::vector<std::pair<std::string, std::string>>& attributes() const { return attrs_; }
  std::optional<std::string_view> findAttr(std::string_view name) const;
  // The attribute's value, or "" when absent.
  std::string_view attr(std::string_view name) const { return findAttr(name).value_or(std::string_view{}); }
  bool hasAttr(std::string_view name) const { return findAttr(name).has_value(); }
  Element& setAttr(std::string_view name, std::string_view value);  // replaces an existing value
  Element& removeAttr(std::string_view name);

  // Children.
  const std::vector<Node>& nodes() const { return nodes_; }
  std::vector<ElementPtr> children() const;                                   // element children in order
  const Element* child(std::string_view name, std::string_view xmlns) const;  // first match or nullptr
  ElementPtr childPtr(std::string_view name, std::string_view xmlns) const;
  const Element* firstChild() const;  // first element child or nullptr
  std::vector<ElementPtr> childrenNamed(std::string_view name, std::string_view xmlns) const;
  std::size_t childCount() const;  // element children only
  // Concatenated character data of the direct children.
  std::string text() const;
  // Text of the first child element matching name/ns, or "" when absent.
  std::string childText(std::string_view name, std::string_view xmlns) const;

  Element& addChild(ElementPtr child);
  Element& addText(std::string_view text);  // merges with a preceding text node
  // Adds <name xmlns=ns>text</name>; returns *this.
  Element& addTextChild(std::string_view name, std::string_view xmlns, std::string_view text);
  Element& removeChildren(std::string_view name, std::string_view xmlns);
  Element& clearNodes() {
    nodes_.clear();
    return *this;
  }
  void reserveNodes(std::size_t n) { nodes_.reserve(n); }

  // A copy sharing all children (the cheap way to edit a frozen element).
  MutableElementPtr clone() const { return std::make_shared<Element>(*this); }

 private:
  std::string name_;
  std::string xmlns_;
  std::vector<std::pair<std::string, std::string>> attrs_;
  std::vector<Node> nodes_;
};

// Convenience builder: make("iq", "jabber:client").
inline MutableElementPtr make(std::string name, std::string xmlns) {
  return std::make_shared<Element>(std::move(name), std::move(xmlns));
}

}  // namespace parley::xml
