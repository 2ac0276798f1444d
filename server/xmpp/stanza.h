// DESIGN: a Stanza is an immutable top-level <message/>, <presence/> or <iq/> in jabber:client, with its
// addresses parsed once. It is shared (StanzaPtr) between the sender's thread, the router and every
// recipient; its serialised bytes are computed once, on first need. Edits (stamping `from`, adding
// <delay/>) produce a new Stanza sharing the unchanged children; readdressed copies (withAddresses, the
// fan-out of a room message or a presence broadcast) also share the serialised children, so a fan-out to
// N recipients walks the tree once and writes N start tags.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "server/xml/element.h"
#include "server/xmpp/jid.h"

namespace parley::xmpp {

enum class StanzaKind { Message, Presence, Iq };

class Stanza;
using StanzaPtr = std::shared_ptr<const Stanza>;

// Bytes computed at most once, on first need, by whichever thread asks first; later readers get the
// same string without any lock (std::call_once took a slow path on every first call, once per stanza
// and recipient on the routing path). Two threads asking at the same moment may both compute; one
// result is kept.
class LazyBytes {
 public:
  LazyBytes() = default;
  LazyBytes(const LazyBytes&) = delete;
  LazyBytes& operator=(const LazyBytes&) = delete;
  ~LazyBytes() { delete value_.load(std::memory_order_relaxed); }
  template <class Build>
  const std::string& get(Build&& build) const {
    if (const std::string* v = value_.load(std::memory_order_acquire)) return *v;
    auto fresh = std::make_unique<const std::string>(build());
    const std::string* expected = nullptr;
    if (value_.compare_exchange_strong(expected, fresh.get(), std::memory_order_acq_rel,
                                       std::memory_order_acquire))
      return *fresh.release();
    return *expected;
  }

 private:
  mutable std::atomic<const std::string*> value_{nullptr};
};

class Stanza {
 public:
  // Builds from an element whose from/to are already valid. nullopt-like nullptr when the element is not
  // a stanza or its addresses do not parse (callers of this overload have validated them already).
  static StanzaPtr make(xml::ElementPtr element);
  // Builds with explicit addresses (written into the element's attributes).
  static StanzaPtr make(xml::ElementPtr element, const Jid& from, const Jid& to);
  // The same for an element nobody else holds: the addresses are written into it, not into a copy.
  static StanzaPtr adopt(xml::MutableElementPtr&& element, const Jid& from, const Jid& to);

  StanzaKind kind() const { return kind_; }
  bool isMessage() const { return kind_ == StanzaKind::Message; }
  bool isPresence() const { return kind_ == StanzaKind::Presence; }
  bool isIq() const { return kind_ == StanzaKind::Iq; }
  const xml::Element& element() const { return *element_; }
  const xml::ElementPtr& elementPtr() const { return element_; }
  const Jid& from() const { return from_; }
  const Jid& to() const { return to_; }
  std::string_view type() const { return element_->attr("type"); }
  std::string_view id() const { return element_->attr("id"); }
  bool isError() const { return type() == "error"; }

  // This stanza with other addresses (children shared). An empty Jid removes the attribute.
  StanzaPtr withAddresses(const Jid& from, const Jid& to) const;
  StanzaPtr withTo(const Jid& to) const { return withAddresses(from_, to); }
  // The stanza as XML in the jabber:client default namespace, computed once.
  const std::string& serialized() const;

  // The children serialised once, shared by every readdressed copy (their children are the same).
  struct SharedContent {
    LazyBytes bytes;
  };

  Stanza(StanzaKind kind, xml::ElementPtr element, Jid from, Jid to,
         std::shared_ptr<SharedContent> content = std::make_shared<SharedContent>())
      : kind_(kind),
        element_(std::move(element)),
        from_(std::move(from)),
        to_(std::move(to)),
        content_(std::move(content)) {}

 private:
  static StanzaPtr readdress(const xml::Element& element, const Jid& from, const Jid& to,
                             std::shared_ptr<SharedContent> content);
  // Writes the addresses into `e` (which nobody else holds) and wraps it.
  static StanzaPtr addressed(xml::MutableElementPtr e, const Jid& from, const Jid& to,
                             std::shared_ptr<SharedContent> content);

  StanzaKind kind_;
  xml::ElementPtr element_;
  Jid from_;
  Jid to_;
  std::shared_ptr<SharedContent> content_;
  mutable LazyBytes serialized_;
};

std::optional<StanzaKind> stanzaKindOf(std::string_view name);

}  // namespace parley::xmpp
