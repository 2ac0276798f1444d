// XEP-0352: what an inactive client must get at once and what can wait. Pure (unit-tested).
//
// Urgent (delivered at once, after whatever is held):
//   - every IQ (a client must answer pings and requests; results end its own requests);
//   - presence subscription requests and answers (subscribe, subscribed, unsubscribe, unsubscribed);
//   - messages a user is notified of: a <body/>, a <subject/> (the end of a MUC join), an encrypted
//     payload (OMEMO, OpenPGP, XEP-0380), an invitation (XEP-0249, XEP-0045 mediated), a call
//     (XEP-0353 Jingle Message Initiation), and message errors (a message of the user failed);
//   - XEP-0313 results (the client asked for them);
//   - carbons (XEP-0280) are judged by the message they carry;
//   - messages with a payload in a namespace listed in `urgent_namespaces`, and PEP events of a node
//     listed in `urgent_pep_nodes` (config).
// Held, the latest per sender full JID replacing the earlier one: available and unavailable presence.
// Held in order: everything else (chat states, receipts, markers, PEP/pubsub events, presence
// errors, headlines without a body…).
#pragma once

#include <string>
#include <unordered_set>
#include <vector>

#include "server/xmpp/stanza.h"

namespace parley::xep::csi {

enum class Urgency {
  Urgent,     // deliver now (flushing what is held first)
  Hold,       // keep, in order
  Supersede,  // keep only the latest per sender full JID (presence)
};

class Classifier {
 public:
  Classifier() = default;
  Classifier(std::vector<std::string> urgentNamespaces, std::vector<std::string> urgentPepNodes);

  Urgency classify(const xmpp::Stanza& stanza) const;

 private:
  bool urgentMessage(const xml::Element& m, int depth) const;

  std::unordered_set<std::string> urgentNamespaces_;
  std::unordered_set<std::string> urgentPepNodes_;
};

}  // namespace parley::xep::csi
