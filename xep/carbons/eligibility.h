// XEP-0280 §6.1: which messages are copied to a user's other devices. Pure functions (unit-tested).
#pragma once

#include "server/xml/element.h"

namespace parley::xep::carbons {

enum class Direction {
  Sent,      // from one of the user's clients
  Received,  // to the user's account
};

// True when `message` (a <message/> element in jabber:client) is eligible for carbons delivery in that
// direction. Never true for a message carrying <private/> (XEP-0280 §7) or a XEP-0334 <no-copy/>
// hint, nor for a message that is itself a carbon copy.
bool eligible(const xml::Element& message, Direction direction);

// The <sent/> or <received/> wrapper this module builds, without addresses (XEP-0280 §5, §6):
// <message type=…><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>original…
xml::ElementPtr wrap(const xml::ElementPtr& original, Direction direction);

}  // namespace parley::xep::carbons
