// THE catalogue of hooks. Every extension point of the server is declared here, once, with the thread
// it runs on and what Stop means. Modules register through ModuleContext::hook<hooks::X>(…).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/hooks/registry.h"
#include "server/xml/element.h"
#include "server/xmpp/jid.h"
#include "server/xmpp/stanza.h"

namespace parley::session {
class Session;
}

namespace parley::hooks {

// A stanza a local client sent, after validation and `from` stamping, before it is routed or handled.
// Runs on the sender's executor. A handler may replace `stanza`; Stop means the handler dealt with it
// (answered with an error, or took it over) and it is not routed.
struct StanzaFromClient {
  static constexpr std::string_view kName = "stanza_from_client";
  struct Context {
    session::Session& session;
    xmpp::StanzaPtr stanza;
  };
};

// A stanza about to be written to a local client. Runs on the recipient session's executor. A handler
// may replace `stanza`; Stop means it must not be written now (filtered, or held back by the handler,
// which then owns it and must not lose it).
struct StanzaToClient {
  static constexpr std::string_view kName = "stanza_to_client";
  struct Context {
    session::Session& session;
    xmpp::StanzaPtr stanza;
  };
};

// A message (chat/normal, not an error) to a local account that has no resource it may go to
// (RFC 6121 §8.5.2.2). Runs on the routing thread (a network thread). Stop means a handler took
// responsibility (stored it offline, or answered with an error itself). If nobody stops it, the
// router answers <service-unavailable/>.
struct UndeliverableMessage {
  static constexpr std::string_view kName = "undeliverable_message";
  struct Context {
    xmpp::StanzaPtr stanza;
    xmpp::Jid user;  // bare JID of the recipient account
  };
};

// A resource became available (initial presence, RFC 6121 §4.2) or changed its presence. Runs on the
// session's executor after the broadcast. Used for offline delivery (XEP-0160) and pending
// subscription requests.
struct UserAvailable {
  static constexpr std::string_view kName = "user_available";
  struct Context {
    session::Session& session;
    bool initial;  // first available presence of this session
    int priority;
  };
};

// A session of `account` (bare JID) is binding its resource (RFC 6120 §7). Runs on the blocking pool,
// keyed by the account, in the job that loads the roster: before the bind result is sent, before the
// session counts as bound and before any stanza is delivered to it. Modules load here the per-account
// state that must be in place when the session sees its first stanza (the block list, XEP-0191 §3.5),
// in the same wake-up as the roster. Handlers may block on storage. One that could not load what the
// session must not go without sets `failed`: the bind then fails (<internal-server-error/>, the stream
// is closed), as it does when the roster cannot be read. Not stoppable.
struct AccountBinding {
  static constexpr std::string_view kName = "account_binding";
  struct Context {
    const xmpp::Jid& account;
    bool failed = false;
  };
};

// A session finished resource binding. Runs on the session's executor.
struct SessionBound {
  static constexpr std::string_view kName = "session_bound";
  struct Context {
    session::Session& session;
  };
};

// A bound session ended for good (any reason but XEP-0198 resumption). Runs on the session's executor,
// after unavailable presence was broadcast and the session was removed from the manager (routing no
// longer finds it). Modules that hold stanzas for the session hand them back to routing here.
struct SessionClosed {
  static constexpr std::string_view kName = "session_closed";
  struct Context {
    session::Session& session;
    bool lastResource;   // no other session of this account remains
    std::string status;  // status text of the last unavailable presence, if any
    // Set by a handler that handed back every stanza the client did not acknowledge (XEP-0198): a
    // superset of what never reached its socket, which the core would otherwise hand back itself.
    bool unacknowledgedHandedBack = false;
  };
};

// A session was resumed on a new connection (XEP-0198): `session` now holds the JID, presence and
// extensions of the session `previousId`, which ended without SessionClosed. Runs on the new session's
// executor, before XEP-0198 writes <resumed/> and replays its queue (what must follow the replay is
// posted to the executor). Modules that key state by session id move it here.
struct SessionResumed {
  static constexpr std::string_view kName = "session_resumed";
  struct Context {
    session::Session& session;
    std::uint64_t previousId;
  };
};

// Building <stream:features/> for a client stream. Runs on the connection's executor. Handlers add
// child elements to `features`.
struct StreamFeatures {
  static constexpr std::string_view kName = "stream_features";
  struct Context {
    bool authenticated;
    bool bound;
    xml::Element& features;
  };
};

// Building <stream:features/> before authentication, on a stream where SASL is offered (TLS is up, or
// not required). Runs on the connection's executor. Handlers add child elements (XEP-0077 <register/>).
struct PreAuthFeatures {
  static constexpr std::string_view kName = "pre_auth_features";
  struct Context {
    std::string_view domain;  // the host the stream is for
    xml::Element& features;
  };
};

// An IQ from a client that has not authenticated yet, on a stream where SASL is offered (XEP-0077
// in-band registration, XEP-0401 pre-authentication). Runs on the connection's executor. Stop means a
// handler took it and answers it through `reply` (any thread, at most once). If nobody takes it the
// stream is closed with <not-authorized/> (RFC 6120 §4.9.3.12), as for any stanza before
// authentication.
struct PreAuthIq {
  static constexpr std::string_view kName = "pre_auth_iq";
  struct Context {
    xml::ElementPtr iq;
    std::string_view domain;         // the host the stream is for
    std::string_view remoteAddress;  // the client's IP address
    std::string_view streamId;       // unique per stream (per-stream state such as a preauth token)
    std::function<void(xml::ElementPtr)> reply;  // writes a top-level element to this stream
  };
};

// A top-level element from an authenticated client that is not a stanza (e.g. XEP-0198 <r/>, XEP-0352
// <active/>), before or after resource binding (XEP-0198 <resume/> replaces binding). Runs on the
// session's executor. Stop means a handler consumed it; if none does, the stream is closed with
// <unsupported-stanza-type/>.
struct NonzaFromClient {
  static constexpr std::string_view kName = "nonza_from_client";
  struct Context {
    session::Session& session;
    xml::ElementPtr element;
    bool bound;  // a resource is bound (or the session was resumed)
  };
};

// A stanza was written to the client's stream: after the StanzaToClient hooks, or released later by
// a module through Session::write(). Runs on the session's executor, also while the session is
// hibernated (the bytes then go nowhere: XEP-0198 keeps the stanza for replay). Not stoppable.
struct StanzaSent {
  static constexpr std::string_view kName = "stanza_sent";
  struct Context {
    session::Session& session;
    const xmpp::StanzaPtr& stanza;
  };
};

// A message (any type but error) to a local account, after the router chose the resources it goes
// to and before it is handed to them; `recipients` is empty when no resource may take it (the
// UndeliverableMessage path follows). Runs on the routing thread, once per message and account, so
// per-account work happens once (MAM archives and stamps <stanza-id/>, carbons copies to the other
// resources). A handler may replace `stanza`; Stop means it must not be delivered (a handler took it).
struct MessageToAccount {
  static constexpr std::string_view kName = "message_to_account";
  struct Context {
    xmpp::StanzaPtr stanza;
    xmpp::Jid user;  // bare JID of the recipient account
    std::vector<std::shared_ptr<session::Session>> recipients;
  };
};

// A bound session's connection was lost without a closing </stream:stream> (TCP reset, timeout). Runs
// on the session's executor before anything is torn down. Stop means a handler keeps the session
// hibernated (XEP-0198 §5) for `keepFor` (set by the handler): it stays registered and available
// until it is resumed, or the time is up and it ends as usual. If nobody stops it, it ends now.
struct SessionInterrupted {
  static constexpr std::string_view kName = "session_interrupted";
  struct Context {
    session::Session& session;
    std::string_view reason;
    std::chrono::seconds keepFor{0};
  };
};

// An IQ get/set addressed to an account's bare JID by another entity, before the server answers it on
// the account's behalf (vCard, last activity, disco…). Runs on the routing thread. Stop means a
// handler answered it (e.g. with an error because the account blocked the requester).
struct IqForAccount {
  static constexpr std::string_view kName = "iq_for_account";
  struct Context {
    xmpp::StanzaPtr stanza;
    xmpp::Jid account;  // bare
  };
};

// An account was deleted (its storage rows are already gone). Runs on a network thread. Modules drop
// in-memory state; the core closes the account's sessions.
struct AccountRemoved {
  static constexpr std::string_view kName = "account_removed";
  struct Context {
    xmpp::Jid user;  // bare
  };
};

// An IQ result or error addressed to a local domain or to a local account's bare JID: nobody's session
// waits for it, so the router would drop it. Runs on the routing thread. A module that sent a request in
// the server's or an account's name (XEP-0357 publishes to an app server) recognises its reply here by
// 'id' and 'from'; Stop means a handler consumed it.
struct IqResponse {
  static constexpr std::string_view kName = "iq_response";
  struct Context {
    xmpp::StanzaPtr stanza;
  };
};

// A groupchat message with a body was sent to every occupant of a multi-user chat room (XEP-0045 §7.4).
// `members` lists the room's affiliated users (owner, admin, member) with the nick and devices they
// are joined with right now (no devices: not in the room). Runs on the room's executor after the
// fan-out, only when a handler is registered; handlers must not block (XEP-0357 push for group chats).
// Not stoppable.
struct GroupchatBroadcast {
  static constexpr std::string_view kName = "groupchat_broadcast";
  struct Member {
    xmpp::Jid bare;
    std::string nick;                // empty when not joined
    std::vector<xmpp::Jid> devices;  // full JIDs of the joined devices
  };
  struct Context {
    xmpp::StanzaPtr stanza;  // as broadcast: from room@service/nick, no 'to'
    xmpp::Jid room;          // bare
    std::vector<Member> members;
  };
};

}  // namespace parley::hooks
