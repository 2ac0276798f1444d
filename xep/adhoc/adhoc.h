// XEP-0050 ad-hoc commands: the framework any module uses to offer commands, with XEP-0004 data forms.
//
// USAGE (stable API; the adhoc module must be enabled, it is by default)
//
//   #include "xep/adhoc/adhoc.h"
//   namespace adhoc = parley::xep::adhoc;
//
//   void start(module::ModuleContext& ctx) override {
//     adhoc::Form form("Say hello", "Whom shall I greet?");
//     form.add(adhoc::Field::jidSingle("who", "Contact").require());
//     ctx.keep(adhoc::registry(ctx.server()).add({
//         .node = "urn:example:hello",
//         .name = "Say hello",
//         .service = "",                       // "": every local domain; or a component, "push.example.org"
//         .mayRun = adhoc::adminOfDomain,      // hides it from disco and refuses it (forbidden) otherwise
//         .handler = [form](const adhoc::Request& req) {
//           if (req.stage() == 0) return req.reply(adhoc::Response::showForm(form));   // executing
//           auto values = req.parse(form);     // validated; on error it already replied bad-request
//           if (!values) return;
//           req.reply(adhoc::Response::done("Hello " + values->text("who")));          // completed
//         }}));
//   }
//
// A module that owns a component (ModuleContext::component) forwards the component's stanzas first:
//
//   ctx.component(domain, [&server](xmpp::StanzaPtr s) {
//     if (adhoc::handleComponentStanza(server, s)) return;  // <command/>, disco on command nodes
//     … the component's own handling …
//   });
//
// and lists adhoc::kNs among the features of its own disco#info answer (node-less).
//
// DESIGN. A command is registered on a JID (every local domain, or one component domain) with an
// authorization predicate that is checked for the disco#items listing (node
// 'http://jabber.org/protocol/commands' lists only what the requester may run), for disco#info on the
// command node, and on every request (forbidden otherwise). The framework owns the XEP-0050 session:
// it creates the sessionid on the first execute, checks that later requests come from the same full
// JID with an allowed action (bad-action, malformed-action, bad-sessionid, session-expired per §4.6 and
// §6), answers 'cancel' itself (status canceled) and 'prev' itself (the previous stage's payload is sent
// again), expires idle sessions ([modules.adhoc] session_timeout) and bounds sessions per requester.
// Only one request per session is handled at a time (a second one gets conflict until the first is
// answered). Handlers run on the network thread that received the request and must not block:
// storage, hashing and other slow work go to the blocking pool (runtime::offload with
// req.executor()); Request::reply may then be called from any thread, exactly once.
#pragma once

#include <any>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "server/runtime/executor.h"
#include "server/xml/element.h"
#include "server/xmpp/jid.h"
#include "server/xmpp/stanza.h"

namespace parley::core {
class Server;
}

namespace parley::xep::adhoc {

inline constexpr std::string_view kNs = "http://jabber.org/protocol/commands";
inline constexpr std::string_view kDataNs = "jabber:x:data";

// ---------------------------------------------------------------------------------------------------
// XEP-0004 data forms

enum class FieldType {
  Boolean,
  Fixed,
  Hidden,
  JidMulti,
  JidSingle,
  ListMulti,
  ListSingle,
  TextMulti,
  TextPrivate,
  TextSingle,
};
std::string_view fieldTypeName(FieldType t);  // "jid-single", …

struct Option {
  std::string label, value;
};

struct Field {
  std::string var;
  FieldType type = FieldType::TextSingle;
  std::string label;
  std::string desc;
  bool required = false;
  std::vector<std::string> values;  // default / current values (a result form: the values shown)
  std::vector<Option> options;      // list-single / list-multi
  std::size_t maxLength = 4096;     // per submitted value (bytes)
  std::size_t maxValues = 1000;     // multi-valued types

  static Field text(std::string var, std::string label);
  static Field textPrivate(std::string var, std::string label);  // passwords
  static Field textMulti(std::string var, std::string label);
  static Field jidSingle(std::string var, std::string label);
  static Field jidMulti(std::string var, std::string label);
  static Field boolean(std::string var, std::string label);
  static Field listSingle(std::string var, std::string label, std::vector<Option> options);
  static Field listMulti(std::string var, std::string label, std::vector<Option> options);
  static Field hidden(std::string var, std::string value);
  static Field fixed(std::string text);

  Field& require() {
    required = true;
    return *this;
  }
  Field& value(std::string v) {
    values.push_back(std::move(v));
    return *this;
  }
  Field& describe(std::string d) {
    desc = std::move(d);
    return *this;
  }
  Field& limit(std::size_t length) {
    maxLength = length;
    return *this;
  }
};

// A form definition: what is sent (type='form' or 'result') and what a submission is checked against.
class Form {
 public:
  explicit Form(std::string title = {}, std::string instructions = {});
  // The hidden FORM_TYPE field (XEP-0068), e.g. "http://jabber.org/protocol/admin".
  Form& formType(std::string value);
  Form& add(Field field);
  const std::vector<Field>& fields() const { return fields_; }
  const Field* field(std::string_view var) const;
  const std::string& title() const { return title_; }
  // <x xmlns='jabber:x:data' type='form|result'>…</x>.
  xml::MutableElementPtr toXml(std::string_view type = "form") const;

 private:
  std::string title_, instructions_;
  std::vector<Field> fields_;
};

// A validated submission: values normalised (JIDs prepared, booleans "1"/"0"). Fields the form does
// not define are ignored; FORM_TYPE is not checked beyond the form's own hidden value.
class Values {
 public:
  bool has(std::string_view var) const;                                // submitted with a value
  std::string text(std::string_view var) const;                       // first value, "" if absent
  const std::vector<std::string>& all(std::string_view var) const;    // every value (empty if absent)
  bool flag(std::string_view var) const;                              // boolean; false if absent
  std::optional<xmpp::Jid> jid(std::string_view var) const;          // jid-single
  std::vector<xmpp::Jid> jids(std::string_view var) const;           // jid-multi
  void set(std::string var, std::vector<std::string> values);         // used by the parser

 private:
  std::vector<std::pair<std::string, std::vector<std::string>>> values_;
};

struct FormError {
  std::string var;   // the offending field ("" for the form itself)
  std::string text;  // human readable: "Field 'accountjid' (The Jabber ID…) is required"
};

// Checks <x xmlns='jabber:x:data' type='submit'/> against `form`: required fields have a value;
// single-valued types carry at most one value; jid-single / jid-multi are valid JIDs (RFC 7622);
// boolean is 0/1/true/false; list-single / list-multi values are among the options; values respect
// the length and count limits. `x` may be null (then every required field is missing).
std::variant<Values, FormError> parseSubmission(const Form& form, const xml::Element* x);
// The <x type='submit'/> child of a <command/>, or null.
const xml::Element* submittedForm(const xml::Element& command);

// ---------------------------------------------------------------------------------------------------
// Commands

enum class Action { Execute, Cancel, Prev, Next, Complete };
enum class Status { Executing, Completed, Canceled };
enum class NoteType { Info, Warn, Error };

struct Note {
  NoteType type = NoteType::Info;
  std::string text;
};

// XEP-0050 §6 error conditions (stanza condition + commands-specific condition).
enum class Error {
  MalformedAction,      // bad-request + <malformed-action/>
  BadAction,            // bad-request + <bad-action/>
  BadLocale,            // bad-request + <bad-locale/>
  BadPayload,           // bad-request + <bad-payload/> (e.g. an invalid form submission)
  BadSessionId,         // bad-request + <bad-sessionid/>
  SessionExpired,       // not-allowed + <session-expired/>
  Forbidden,            // forbidden
  ItemNotFound,         // item-not-found
  FeatureNotImplemented,
  InternalServerError,
  Conflict,             // conflict (e.g. a session already running the request)
  ResourceConstraint,   // resource-constraint (too many sessions)
};

// What one step of a command answers.
struct Response {
  Status status = Status::Completed;
  xml::ElementPtr payload;                 // usually a form (Form::toXml) or a result form
  std::vector<Note> notes;
  std::vector<Action> actions;             // allowed next actions while executing (Next/Prev/Complete)
  Action defaultAction = Action::Complete;  // the 'execute' attribute of <actions/>
  std::optional<Error> error;              // set: an IQ error instead of a <command/>
  std::string errorText;
  bool endSession = false;                 // with an error: also drop the session

  // status executing with the form; actions {Complete} unless given (add Prev/Next for wizards).
  static Response showForm(const Form& form, std::vector<Action> actions = {Action::Complete},
                           Action defaultAction = Action::Complete);
  // status completed, with an optional info note and payload (e.g. Form::toXml("result")).
  static Response done(std::string info = {}, xml::ElementPtr payload = nullptr);
  // status completed with an error note: the command ran and failed (e.g. "User already exists").
  static Response failed(std::string text);
  // An IQ error (XEP-0050 §6). The session stays open (the requester may correct and resubmit) unless
  // `end`.
  static Response fail(Error e, std::string text = {}, bool end = false);
};

class Registry;
struct SessionState;

// One request of a command session, handed to the command's handler. Cheap to copy; copies share the
// session.
class Request {
 public:
  const xmpp::Jid& from() const;     // the requester (full JID, stamped by the server)
  const xmpp::Jid& service() const;  // the JID the command is on (a domain or a component)
  const std::string& node() const;
  const std::string& sessionId() const;
  Action action() const;  // Execute on the first request; later what the requester sent
  // 0 on the first request, then the number of payloads submitted with next/complete so far (a 'prev'
  // goes one back). The submission of a stage-N form arrives with stage() == N+1.
  int stage() const;
  const xml::Element& command() const;  // the <command/> element received
  const xml::Element* submitted() const;  // its <x xmlns='jabber:x:data' type='submit'/>, or null
  // Validates the submission against `form`; on failure replies bad-request + <bad-payload/> with the
  // field's problem as text (session kept, so the requester may resubmit) and returns nullopt.
  std::optional<Values> parse(const Form& form) const;
  // Per-session state, default-constructed on first use; survives between stages.
  template <class T>
  T& state() const {
    std::any& a = stateSlot();
    if (!a.has_value()) a = T{};
    return std::any_cast<T&>(a);
  }
  core::Server& server() const;
  runtime::Executor executor() const;  // the network thread the handler runs on
  // Sends the answer (any thread, exactly once).
  void reply(Response response) const;

  struct Impl;
  explicit Request(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

 private:
  std::any& stateSlot() const;
  std::shared_ptr<Impl> impl_;
};

using Handler = std::function<void(const Request&)>;

// Who asks, about what: the input of an authorization predicate.
struct Caller {
  const xmpp::Jid& jid;      // full JID of the requester
  const xmpp::Jid& service;  // the JID the command is on
  core::Server& server;
};
using Authorizer = std::function<bool(const Caller&)>;

// The requester's bare JID is in [server] admins and its domain is the service's domain (or, for a
// component such as push.example.org, the domain it belongs to).
bool adminOfDomain(const Caller& c);
// Any account of the service's domain (or of the domain a component belongs to).
bool localUser(const Caller& c);
bool anyone(const Caller& c);

struct Command {
  std::string node;     // unique per service
  std::string name;     // human-readable, shown in the command list
  std::string service;  // "": every local domain; otherwise a component domain
  Authorizer mayRun;    // required
  Handler handler;      // required
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers the command; it is removed (and its sessions dropped) when the handle is destroyed —
  // keep it with ModuleContext::keep(). Throws std::invalid_argument for a duplicate node on the
  // same service or a missing predicate/handler.
  [[nodiscard]] std::shared_ptr<void> add(Command command);

  // Commands `requester` may run on `service`, in registration order: {node, name}.
  std::vector<std::pair<std::string, std::string>> visible(const xmpp::Jid& requester,
                                                           const xmpp::Jid& service) const;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// The server's command registry (created on first use; independent of module start order).
Registry& registry(core::Server& server);

// For component handlers: answers <iq><command xmlns=kNs/></iq>, disco#items on the commands node and
// disco#info on a command node addressed to the component (stanza 'to' is the component's domain).
// Returns false, having done nothing, for any other stanza.
bool handleComponentStanza(core::Server& server, const xmpp::StanzaPtr& stanza);

}  // namespace parley::xep::adhoc
