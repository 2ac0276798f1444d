#include "server/xml/element.h"

#include <algorithm>

namespace parley::xml {

namespace {

const Element* asElement(const Node& n) {
  const auto* p = std::get_if<ElementPtr>(&n);
  return p ? p->get() : nullptr;
}

}  // namespace

std::optional<std::string_view> Element::findAttr(std::string_view name) const {
  for (const auto& [k, v] : attrs_)
    if (k == name) return std::string_view(v);
  return std::nullopt;
}

Element& Element::setAttr(std::string_view name, std::string_view value) {
  for (auto& [k, v] : attrs_) {
    if (k == name) {
      v.assign(value);
      return *this;
    }
  }
  attrs_.emplace_back(std::string(name), std::string(value));
  return *this;
}

Element& Element::removeAttr(std::string_view name) {
  std::erase_if(attrs_, [&](const auto& a) { return a.first == name; });
  return *this;
}

std::vector<ElementPtr> Element::children() const {
  std::vector<ElementPtr> out;
  for (const auto& n : nodes_)
    if (const auto* p = std::get_if<ElementPtr>(&n)) out.push_back(*p);
  return out;
}

const Element* Element::child(std::string_view name, std::string_view xmlns) const {
  for (const auto& n : nodes_)
    if (const Element* e = asElement(n); e && e->is(name, xmlns)) return e;
  return nullptr;
}

ElementPtr Element::childPtr(std::string_view name, std::string_view xmlns) const {
  for (const auto& n : nodes_)
    if (const Element* e = asElement(n); e && e->is(name, xmlns)) return std::get<ElementPtr>(n);
  return nullptr;
}

const Element* Element::firstChild() const {
  for (const auto& n : nodes_)
    if (const Element* e = asElement(n)) return e;
  return nullptr;
}

std::vector<ElementPtr> Element::childrenNamed(std::string_view name, std::string_view xmlns) const {
  std::vector<ElementPtr> out;
  for (const auto& n : nodes_)
    if (const Element* e = asElement(n); e && e->is(name, xmlns)) out.push_back(std::get<ElementPtr>(n));
  return out;
}

std::size_t Element::childCount() const {
  return static_cast<std::size_t>(
      std::count_if(nodes_.begin(), nodes_.end(), [](const Node& n) { return asElement(n) != nullptr; }));
}

std::string Element::text() const {
  std::string out;
  for (const auto& n : nodes_)
    if (const auto* s = std::get_if<std::string>(&n)) out += *s;
  return out;
}

std::string Element::childText(std::string_view name, std::string_view xmlns) const {
  const Element* e = child(name, xmlns);
  return e ? e->text() : std::string();
}

Element& Element::addChild(ElementPtr child) {
  if (child) nodes_.emplace_back(std::move(child));
  return *this;
}

Element& Element::addText(std::string_view text) {
  if (text.empty()) return *this;
  if (!nodes_.empty()) {
    if (auto* s = std::get_if<std::string>(&nodes_.back())) {
      s->append(text);
      return *this;
    }
  }
  nodes_.emplace_back(std::string(text));
  return *this;
}

Element& Element::addTextChild(std::string_view name, std::string_view xmlns, std::string_view text) {
  auto c = make(std::string(name), std::string(xmlns));
  c->addText(text);
  return addChild(std::move(c));
}

Element& Element::removeChildren(std::string_view name, std::string_view xmlns) {
  std::erase_if(nodes_, [&](const Node& n) {
    const Element* e = asElement(n);
    return e && e->is(name, xmlns);
  });
  return *this;
}

}  // namespace parley::xml
