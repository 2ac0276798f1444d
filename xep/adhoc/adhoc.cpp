// XEP-0050 ad-hoc commands: the registry, the session state machine and the adhoc module (server
// domains: disco node provider and the <command/> IQ handler). See adhoc.h for the design.
#include "xep/adhoc/adhoc.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <stdexcept>

#include "server/core/server.h"
#include "server/log/log.h"
#include "server/module/module.h"
#include "server/util/crypto.h"
#include "server/xmpp/errors.h"

namespace parley::xep::adhoc {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::string_view kInfoNs = "http://jabber.org/protocol/disco#info";
constexpr std::string_view kItemsNs = "http://jabber.org/protocol/disco#items";

std::string_view actionName(Action a) {
  switch (a) {
    case Action::Execute: return "execute";
    case Action::Cancel: return "cancel";
    case Action::Prev: return "prev";
    case Action::Next: return "next";
    case Action::Complete: return "complete";
  }
  return "execute";
}

std::optional<Action> parseAction(std::string_view s) {
  if (s.empty() || s == "execute") return Action::Execute;
  if (s == "cancel") return Action::Cancel;
  if (s == "prev") return Action::Prev;
  if (s == "next") return Action::Next;
  if (s == "complete") return Action::Complete;
  return std::nullopt;
}

std::string_view statusName(Status s) {
  switch (s) {
    case Status::Executing: return "executing";
    case Status::Completed: return "completed";
    case Status::Canceled: return "canceled";
  }
  return "completed";
}

std::string_view noteTypeName(NoteType t) {
  switch (t) {
    case NoteType::Info: return "info";
    case NoteType::Warn: return "warn";
    case NoteType::Error: return "error";
  }
  return "info";
}

// XEP-0050 §6: the stanza error condition and the commands-specific child.
std::pair<xmpp::StanzaError, std::string_view> errorCondition(Error e) {
  using SE = xmpp::StanzaError;
  switch (e) {
    case Error::MalformedAction: return {SE::BadRequest, "malformed-action"};
    case Error::BadAction: return {SE::BadRequest, "bad-action"};
    case Error::BadLocale: return {SE::BadRequest, "bad-locale"};
    case Error::BadPayload: return {SE::BadRequest, "bad-payload"};
    case Error::BadSessionId: return {SE::BadRequest, "bad-sessionid"};
    case Error::SessionExpired: return {SE::NotAllowed, "session-expired"};
    case Error::Forbidden: return {SE::Forbidden, ""};
    case Error::ItemNotFound: return {SE::ItemNotFound, ""};
    case Error::FeatureNotImplemented: return {SE::FeatureNotImplemented, ""};
    case Error::InternalServerError: return {SE::InternalServerError, ""};
    case Error::Conflict: return {SE::Conflict, ""};
    case Error::ResourceConstraint: return {SE::ResourceConstraint, ""};
  }
  return {SE::InternalServerError, ""};
}

// Does `domain` belong to `userDomain` (itself, or a component below it such as push.<domain>)?
bool belongsTo(std::string_view serviceDomain, std::string_view userDomain) {
  if (serviceDomain == userDomain) return true;
  return serviceDomain.size() > userDomain.size() + 1 && serviceDomain.ends_with(userDomain) &&
         serviceDomain[serviceDomain.size() - userDomain.size() - 1] == '.';
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Responses

Response Response::showForm(const Form& form, std::vector<Action> actions, Action defaultAction) {
  Response r;
  r.status = Status::Executing;
  r.payload = form.toXml("form");
  r.actions = std::move(actions);
  if (r.actions.empty()) r.actions = {Action::Complete};
  r.defaultAction = defaultAction;
  return r;
}

Response Response::done(std::string info, xml::ElementPtr payload) {
  Response r;
  r.status = Status::Completed;
  if (!info.empty()) r.notes.push_back({NoteType::Info, std::move(info)});
  r.payload = std::move(payload);
  return r;
}

Response Response::failed(std::string text) {
  Response r;
  r.status = Status::Completed;
  r.notes.push_back({NoteType::Error, std::move(text)});
  return r;
}

Response Response::fail(Error e, std::string text, bool end) {
  Response r;
  r.error = e;
  r.errorText = std::move(text);
  r.endSession = end;
  return r;
}

// ---------------------------------------------------------------------------------------------------
// Registry internals

struct CommandEntry {
  Command command;
  std::uint64_t token = 0;
};

struct SessionState {
  std::string id;
  std::string node;
  xmpp::Jid owner;    // full JID of the requester
  xmpp::Jid service;  // the JID it runs on
  std::weak_ptr<CommandEntry> command;
  std::any state;
  std::vector<Response> history;  // executing responses sent, newest last (for 'prev')
  Clock::time_point lastUsed;
  bool busy = false;
};

struct Registry::Impl {
  mutable std::mutex mu;
  std::vector<std::shared_ptr<CommandEntry>> commands;
  std::map<std::string, std::shared_ptr<SessionState>> sessions;  // by session id
  std::map<std::string, Clock::time_point> expired;               // recently expired ids
  std::uint64_t nextToken = 0;
  std::atomic<std::int64_t> timeoutSeconds{600};
  std::atomic<std::int64_t> maxSessionsPerRequester{10};
  core::Server* server = nullptr;  // set by registry(server)

  std::shared_ptr<CommandEntry> find(std::string_view serviceKey, std::string_view node) const {
    for (const auto& c : commands)
      if (c->command.service == serviceKey && c->command.node == node) return c;
    return nullptr;
  }

  // Drops sessions idle past the timeout (remembering their ids for session-expired). Under mu.
  void sweep(Clock::time_point now) {
    const auto timeout = std::chrono::seconds(timeoutSeconds.load());
    for (auto it = sessions.begin(); it != sessions.end();) {
      if (!it->second->busy && now - it->second->lastUsed > timeout) {
        expired[it->first] = now;
        it = sessions.erase(it);
      } else {
        ++it;
      }
    }
    // Remember expired ids for one more timeout period, at most 10,000 of them.
    for (auto it = expired.begin(); it != expired.end();) {
      if (now - it->second > timeout || expired.size() > 10000)
        it = expired.erase(it);
      else
        ++it;
    }
  }
};

Registry::Registry() : impl_(std::make_unique<Impl>()) {}
Registry::~Registry() = default;

std::shared_ptr<void> Registry::add(Command command) {
  if (command.node.empty() || !command.mayRun || !command.handler)
    throw std::invalid_argument("ad-hoc command needs a node, an authorization predicate and a handler");
  auto entry = std::make_shared<CommandEntry>();
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->find(command.service, command.node))
      throw std::invalid_argument("ad-hoc command node registered twice: " + command.node);
    entry->token = ++impl_->nextToken;
    entry->command = std::move(command);
    impl_->commands.push_back(entry);
  }
  Impl* impl = impl_.get();
  const std::uint64_t token = entry->token;
  return std::shared_ptr<void>(nullptr, [impl, token](void*) {
    std::lock_guard lock(impl->mu);
    std::erase_if(impl->commands, [&](const auto& c) { return c->token == token; });
    std::erase_if(impl->sessions, [](const auto& kv) { return kv.second->command.expired(); });
  });
}

namespace {

struct Target {
  std::string key;  // "" for the server's domains, the component domain otherwise
  xmpp::Jid service;
};

Target targetFor(core::Server& server, const xmpp::Jid& to) {
  if (server.router().isLocalDomain(to.domain())) return {"", xmpp::Jid::fromParts({}, to.domain()).value_or(to)};
  return {to.domain(), xmpp::Jid::fromParts({}, to.domain()).value_or(to)};
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Requests

struct Request::Impl {
  core::Server* server = nullptr;
  Registry::Impl* registry = nullptr;
  std::shared_ptr<SessionState> session;
  std::shared_ptr<CommandEntry> command;
  xmpp::StanzaPtr stanza;
  const xml::Element* commandElement = nullptr;
  Action action = Action::Execute;
  int stage = 0;
  runtime::Executor executor;
  std::function<void(xmpp::StanzaPtr)> send;
  std::atomic<bool> replied{false};
};

const xmpp::Jid& Request::from() const { return impl_->stanza->from(); }
const xmpp::Jid& Request::service() const { return impl_->session->service; }
const std::string& Request::node() const { return impl_->session->node; }
const std::string& Request::sessionId() const { return impl_->session->id; }
Action Request::action() const { return impl_->action; }
int Request::stage() const { return impl_->stage; }
const xml::Element& Request::command() const { return *impl_->commandElement; }
const xml::Element* Request::submitted() const { return submittedForm(*impl_->commandElement); }
core::Server& Request::server() const { return *impl_->server; }
runtime::Executor Request::executor() const { return impl_->executor; }
std::any& Request::stateSlot() const { return impl_->session->state; }

std::optional<Values> Request::parse(const Form& form) const {
  auto parsed = parseSubmission(form, submitted());
  if (auto* err = std::get_if<FormError>(&parsed)) {
    reply(Response::fail(Error::BadPayload, err->text));
    return std::nullopt;
  }
  return std::get<Values>(std::move(parsed));
}

namespace {

xml::ElementPtr commandElement(const SessionState& s, const Response& r) {
  auto c = xml::make("command", std::string(kNs));
  c->setAttr("node", s.node);
  c->setAttr("sessionid", s.id);
  c->setAttr("status", statusName(r.status));
  if (r.status == Status::Executing) {
    auto actions = xml::make("actions", std::string(kNs));
    actions->setAttr("execute", actionName(r.defaultAction));
    for (Action a : r.actions) actions->addChild(xml::make(std::string(actionName(a)), std::string(kNs)));
    c->addChild(actions);
  }
  for (const auto& n : r.notes) {
    auto note = xml::make("note", std::string(kNs));
    note->setAttr("type", noteTypeName(n.type));
    note->addText(n.text);
    c->addChild(note);
  }
  if (r.payload) c->addChild(r.payload);
  return c;
}

xmpp::StanzaPtr errorStanza(const xmpp::Stanza& request, Error e, std::string_view text) {
  auto [condition, specific] = errorCondition(e);
  xml::ElementPtr extra;
  if (!specific.empty()) extra = xml::make(std::string(specific), std::string(kNs));
  return xmpp::makeErrorReply(request, condition, text, extra);
}

}  // namespace

void Request::reply(Response r) const {
  if (impl_->replied.exchange(true)) {
    log::warn("adhoc.reply.twice", "node={}", impl_->session->node);
    return;
  }
  auto impl = impl_;
  auto finish = [impl, r = std::move(r)]() mutable {
    auto& s = *impl->session;
    xmpp::StanzaPtr out;
    bool drop = false;
    if (r.error) {
      out = errorStanza(*impl->stanza, *r.error, r.errorText);
      drop = r.endSession || s.history.empty();
    } else {
      out = xmpp::makeIqResult(*impl->stanza, commandElement(s, r));
      if (r.status == Status::Executing) {
        if (r.actions.empty()) r.actions = {Action::Complete};
        s.history.push_back(std::move(r));
      } else {
        drop = true;
      }
    }
    {
      std::lock_guard lock(impl->registry->mu);
      s.busy = false;
      s.lastUsed = Clock::now();
      if (drop) impl->registry->sessions.erase(s.id);
    }
    impl->send(std::move(out));
  };
  if (impl_->executor && !impl_->executor.runningInThisThread())
    impl_->executor.post(std::move(finish));
  else
    finish();
}

// ---------------------------------------------------------------------------------------------------
// Dispatch

namespace {

std::mutex gRegistriesMu;
std::map<core::Server*, std::unique_ptr<Registry>> gRegistries;

std::vector<std::shared_ptr<CommandEntry>> visibleFor(core::Server& server, Registry::Impl& reg,
                                                      const Target& target, const xmpp::Jid& requester) {
  std::vector<std::shared_ptr<CommandEntry>> candidates, out;
  {
    std::lock_guard lock(reg.mu);
    for (const auto& c : reg.commands)
      if (c->command.service == target.key) candidates.push_back(c);
  }
  for (auto& c : candidates) {
    Caller caller{requester, target.service, server};
    bool ok = false;
    try {
      ok = c->command.mayRun(caller);
    } catch (const std::exception& e) {
      log::error("adhoc.authorizer.failed", "node={} error=\"{}\"", c->command.node, e.what());
    }
    if (ok) out.push_back(std::move(c));
  }
  return out;
}

bool mayRun(core::Server& server, const CommandEntry& c, const Target& target, const xmpp::Jid& requester) {
  Caller caller{requester, target.service, server};
  try {
    return c.command.mayRun(caller);
  } catch (const std::exception& e) {
    log::error("adhoc.authorizer.failed", "node={} error=\"{}\"", c.command.node, e.what());
    return false;
  }
}

// disco#items on the commands node: the commands the requester may run (XEP-0050 §2.2).
xmpp::StanzaPtr commandList(core::Server& server, Registry::Impl& reg, const Target& target,
                            const xmpp::Stanza& request) {
  auto q = xml::make("query", std::string(kItemsNs));
  q->setAttr("node", kNs);
  for (const auto& c : visibleFor(server, reg, target, request.from())) {
    auto item = xml::make("item", std::string(kItemsNs));
    item->setAttr("jid", target.service.str());
    item->setAttr("node", c->command.node);
    item->setAttr("name", c->command.name);
    q->addChild(item);
  }
  return xmpp::makeIqResult(request, q);
}

// disco#info on the commands node or on a command node (XEP-0050 §2.3). nullptr: not ours.
xmpp::StanzaPtr commandInfo(core::Server& server, Registry::Impl& reg, const Target& target,
                            const xmpp::Stanza& request, std::string_view node) {
  auto q = xml::make("query", std::string(kInfoNs));
  q->setAttr("node", node);
  auto identity = [&](std::string_view type, std::string_view name) {
    auto id = xml::make("identity", std::string(kInfoNs));
    id->setAttr("category", "automation");
    id->setAttr("type", type);
    if (!name.empty()) id->setAttr("name", name);
    q->addChild(id);
  };
  auto feature = [&](std::string_view var) {
    auto f = xml::make("feature", std::string(kInfoNs));
    f->setAttr("var", var);
    q->addChild(f);
  };
  if (node == kNs) {
    identity("command-list", "Commands");
    return xmpp::makeIqResult(request, q);
  }
  std::shared_ptr<CommandEntry> c;
  {
    std::lock_guard lock(reg.mu);
    c = reg.find(target.key, node);
  }
  if (!c) return nullptr;
  if (!mayRun(server, *c, target, request.from()))
    return xmpp::makeErrorReply(request, xmpp::StanzaError::Forbidden);
  identity("command-node", c->command.name);
  feature(kNs);
  feature(kDataNs);
  return xmpp::makeIqResult(request, q);
}

void executeCommand(core::Server& server, Registry::Impl& reg, const Target& target,
                    const xmpp::StanzaPtr& stanza, std::function<void(xmpp::StanzaPtr)> send) {
  const xml::Element* cmd = stanza->element().child("command", kNs);
  auto fail = [&](Error e, std::string_view text = {}) { send(errorStanza(*stanza, e, text)); };
  if (!cmd) return fail(Error::BadPayload);
  const std::string node(cmd->attr("node"));
  const std::string sid(cmd->attr("sessionid"));
  auto action = parseAction(cmd->attr("action"));
  if (!action) return fail(Error::MalformedAction, "unknown action");
  if (node.empty()) return fail(Error::ItemNotFound, "no command node given");

  std::shared_ptr<CommandEntry> entry;
  {
    std::lock_guard lock(reg.mu);
    entry = reg.find(target.key, node);
  }
  if (!entry) return fail(Error::ItemNotFound, "no such command");
  // Authorization on every request, not only when the session starts.
  if (!mayRun(server, *entry, target, stanza->from()))
    return fail(Error::Forbidden, "you are not allowed to run this command");

  const auto now = Clock::now();
  std::shared_ptr<SessionState> session;
  int stage = 0;
  Action effective = *action;
  {
    std::lock_guard lock(reg.mu);
    reg.sweep(now);
    if (sid.empty()) {
      // XEP-0050 §4.1: a new session starts with execute (or no action).
      if (*action != Action::Execute) return fail(Error::BadAction, "a new session starts with 'execute'");
      std::size_t mine = 0;
      for (const auto& [id, s] : reg.sessions)
        if (s->owner == stanza->from()) ++mine;
      if (mine >= static_cast<std::size_t>(reg.maxSessionsPerRequester.load()))
        return fail(Error::ResourceConstraint, "too many open command sessions; complete or cancel some");
      session = std::make_shared<SessionState>();
      session->id = util::randomToken(24);
      session->node = node;
      session->owner = stanza->from();
      session->service = target.service;
      session->command = entry;
      session->lastUsed = now;
      session->busy = true;
      reg.sessions[session->id] = session;
    } else {
      auto it = reg.sessions.find(sid);
      if (it == reg.sessions.end()) {
        if (reg.expired.contains(sid)) return fail(Error::SessionExpired, "the command session timed out");
        return fail(Error::BadSessionId, "no such command session");
      }
      session = it->second;
      // §4.3: the session belongs to the full JID that started it, for this node.
      if (session->owner != stanza->from() || session->node != node || session->service != target.service)
        return fail(Error::BadSessionId, "no such command session");
      if (session->busy) return fail(Error::Conflict, "the previous request of this session is still running");
      if (*action == Action::Cancel) {
        reg.sessions.erase(it);
      } else {
        if (session->history.empty()) return fail(Error::BadSessionId, "no such command session");
        const Response& last = session->history.back();
        if (effective == Action::Execute) effective = last.defaultAction;
        if (std::find(last.actions.begin(), last.actions.end(), effective) == last.actions.end())
          return fail(Error::BadAction, "action '" + std::string(actionName(effective)) + "' is not allowed now");
        if (effective == Action::Prev && session->history.size() < 2)
          return fail(Error::BadAction, "there is no previous stage");
        session->busy = true;
        session->lastUsed = now;
      }
    }
  }

  if (*action == Action::Cancel) {
    // §4.4: canceling ends the session.
    auto c = xml::make("command", std::string(kNs));
    c->setAttr("node", node);
    c->setAttr("sessionid", sid);
    c->setAttr("status", "canceled");
    send(xmpp::makeIqResult(*stanza, c));
    return;
  }

  auto impl = std::make_shared<Request::Impl>();
  impl->server = &server;
  impl->registry = &reg;
  impl->session = session;
  impl->command = entry;
  impl->stanza = stanza;
  impl->commandElement = cmd;
  impl->action = effective;
  impl->executor = runtime::Executor::current();
  impl->send = std::move(send);

  if (effective == Action::Prev) {
    // §4.4 prev: the previous stage again, without bothering the command.
    Response previous;
    {
      std::lock_guard lock(reg.mu);
      session->history.pop_back();
      previous = session->history.back();
      session->history.pop_back();  // sent again below, which pushes it back
    }
    Request(impl).reply(std::move(previous));
    return;
  }
  {
    std::lock_guard lock(reg.mu);
    stage = static_cast<int>(session->history.size());
  }
  impl->stage = stage;
  Request req(impl);
  try {
    entry->command.handler(req);
  } catch (const std::exception& e) {
    log::error("adhoc.handler.failed", "node={} error=\"{}\"", node, e.what());
    req.reply(Response::fail(Error::InternalServerError, {}, true));
  }
}

bool isCommandsNode(const xml::Element& q) {
  return !q.attr("node").empty();
}

}  // namespace

Registry& registry(core::Server& server) {
  std::lock_guard lock(gRegistriesMu);
  auto& r = gRegistries[&server];
  if (!r) {
    r = std::make_unique<Registry>();
    r->impl().server = &server;
  }
  return *r;
}

std::vector<std::pair<std::string, std::string>> Registry::visible(const xmpp::Jid& requester,
                                                                  const xmpp::Jid& service) const {
  std::vector<std::pair<std::string, std::string>> out;
  if (!impl_->server) return out;
  for (const auto& c : visibleFor(*impl_->server, *impl_, targetFor(*impl_->server, service), requester))
    out.emplace_back(c->command.node, c->command.name);
  return out;
}

bool adminOfDomain(const Caller& c) {
  if (c.jid.local().empty() || !belongsTo(c.service.domain(), c.jid.domain())) return false;
  return c.server.config().isAdmin(c.jid.bareStr());
}

bool localUser(const Caller& c) {
  return !c.jid.local().empty() && belongsTo(c.service.domain(), c.jid.domain()) &&
         c.server.router().isLocalDomain(c.jid.domain());
}

bool anyone(const Caller&) { return true; }

bool handleComponentStanza(core::Server& server, const xmpp::StanzaPtr& stanza) {
  if (!stanza->isIq()) return false;
  const auto type = stanza->type();
  if (type != "get" && type != "set") return false;
  const xml::Element* payload = stanza->element().firstChild();
  if (!payload) return false;
  auto& reg = registry(server).impl();
  Target target = targetFor(server, stanza->to());
  auto send = [&server](xmpp::StanzaPtr s) { server.router().route(std::move(s)); };
  if (type == "set" && payload->is("command", kNs)) {
    executeCommand(server, reg, target, stanza, send);
    return true;
  }
  if (type != "get" || !isCommandsNode(*payload)) return false;
  std::string_view node = payload->attr("node");
  if (payload->is("query", kItemsNs) && node == kNs) {
    send(commandList(server, reg, target, *stanza));
    return true;
  }
  if (payload->is("query", kInfoNs)) {
    if (auto out = commandInfo(server, reg, target, *stanza, node)) {
      send(std::move(out));
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------
// The module: commands on the server's domains.

namespace {

class AdhocModule final : public module::Module {
 public:
  void configure(core::ConfigSection& section) override {
    timeout_ = section.getInt("session_timeout", 600, 10, 24 * 3600);
    maxSessions_ = section.getInt("max_sessions", 10, 1, 1000);
  }

  void start(module::ModuleContext& ctx) override {
    auto& server = ctx.server();
    auto& reg = registry(server).impl();
    reg.timeoutSeconds = timeout_;
    reg.maxSessionsPerRequester = maxSessions_;
    ctx.feature(module::DiscoScope::Server, std::string(kNs));
    ctx.keep(std::make_shared<router::IqHandle>(server.disco().addNodeProvider(
        module::DiscoScope::Server, [&server, &reg](const router::IqRequest& req, bool items) {
          std::string_view node = req.payload().attr("node");
          Target target = targetFor(server, req.target);
          if (items) {
            if (node != kNs) return false;
            req.reply(commandList(server, reg, target, *req.stanza));
            return true;
          }
          auto out = commandInfo(server, reg, target, *req.stanza, node);
          if (!out) return false;
          req.reply(std::move(out));
          return true;
        })));
    ctx.iq(router::IqScope::Server, "set", kNs, "command", [&server, &reg](const router::IqRequest& req) {
      Target target = targetFor(server, req.target);
      executeCommand(server, reg, target, req.stanza, [req](xmpp::StanzaPtr s) { req.reply(std::move(s)); });
    });
  }

 private:
  std::int64_t timeout_ = 600;
  std::int64_t maxSessions_ = 10;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{"adhoc", "XEP-0050 ad-hoc commands", {}, true, [] {
                                   return std::unique_ptr<module::Module>(new AdhocModule);
                                 }};

}  // namespace parley::xep::adhoc
