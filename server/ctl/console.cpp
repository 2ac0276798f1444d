// The admin console (see console.h): a small XEP-0050 client on libstrophe.
#include "server/ctl/console.h"

#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <iostream>
#include <map>
#include <optional>
#include <strophe.h>

#include <fmt/format.h>

#include "server/util/crypto.h"
#include "server/xml/element.h"
#include "server/xml/parse_fragment.h"
#include "server/xml/writer.h"
#include "server/xmpp/jid.h"

namespace parley::ctl {

namespace {

constexpr std::string_view kCommandsNs = "http://jabber.org/protocol/commands";
constexpr std::string_view kDataNs = "jabber:x:data";
constexpr std::string_view kItemsNs = "http://jabber.org/protocol/disco#items";
constexpr std::string_view kStanzasNs = "urn:ietf:params:xml:ns:xmpp-stanzas";

enum Exit { kOk = 0, kFailed = 1, kConnection = 2, kUsage = 3 };

struct Library {
  Library() { xmpp_initialize(); }
  ~Library() { xmpp_shutdown(); }
};

class Client {
 public:
  explicit Client(const ConsoleOptions& o) : o_(o) {
    static Library library;
    ctx_ = xmpp_ctx_new(nullptr, std::getenv("PARLEYCTL_XMPP_DEBUG") ? xmpp_get_default_logger(XMPP_LEVEL_DEBUG)
                                                                      : nullptr);
    conn_ = xmpp_conn_new(ctx_);
    long flags = XMPP_CONN_FLAG_MANDATORY_TLS | XMPP_CONN_FLAG_DISABLE_SM;
    if (o.insecure) flags |= XMPP_CONN_FLAG_TRUST_TLS;
    if (o.directTls) flags |= XMPP_CONN_FLAG_LEGACY_SSL;
    xmpp_conn_set_flags(conn_, flags);
    if (!o.caFile.empty()) xmpp_conn_set_cafile(conn_, o.caFile.c_str());
    xmpp_conn_set_certfail_handler(conn_, &Client::certFail);
    std::string jid = o.jid;
    if (jid.find('/') == std::string::npos) jid += "/parleyctl-" + util::randomToken(6);
    xmpp_conn_set_jid(conn_, jid.c_str());
    xmpp_conn_set_pass(conn_, o.password.c_str());
    xmpp_handler_add(conn_, &Client::onStanza, nullptr, nullptr, nullptr, this);
  }
  ~Client() {
    if (connected_) {
      xmpp_disconnect(conn_);
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      while (connected_ && std::chrono::steady_clock::now() < deadline) xmpp_run_once(ctx_, 10);
    }
    xmpp_conn_release(conn_);
    xmpp_ctx_free(ctx_);
  }

  bool connect() {
    const char* host = o_.host.empty() ? nullptr : o_.host.c_str();
    unsigned short port = static_cast<unsigned short>(o_.port);
    if (xmpp_connect_client(conn_, host, port, &Client::onConn, this) != XMPP_EOK) {
      error_ = "could not start the connection";
      return false;
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o_.timeoutSeconds);
    while (!finished_ && std::chrono::steady_clock::now() < deadline) xmpp_run_once(ctx_, 20);
    if (!finished_) error_ = "timed out connecting";
    return connected_;
  }
  const std::string& error() const { return error_; }
  std::string boundJid() const {
    const char* j = xmpp_conn_get_bound_jid(conn_);
    return j ? j : "";
  }

  // Sends an IQ (built here with a fresh id) and waits for its answer.
  xml::ElementPtr request(const xml::MutableElementPtr& iq) {
    const std::string id = "ctl-" + std::to_string(++nextId_);
    iq->setAttr("id", id);
    xmpp_send_raw_string(conn_, "%s", xml::toString(*iq).c_str());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o_.timeoutSeconds);
    while (connected_ && std::chrono::steady_clock::now() < deadline) {
      for (auto it = inbox_.begin(); it != inbox_.end(); ++it) {
        if ((*it)->name() == "iq" && (*it)->attr("id") == id) {
          auto e = *it;
          inbox_.erase(it);
          return e;
        }
      }
      xmpp_run_once(ctx_, 20);
    }
    if (!connected_ && error_.empty()) error_ = "the server closed the connection";
    if (connected_) error_ = "no answer from the server";
    return nullptr;
  }

 private:
  static int certFail(const xmpp_tlscert_t*, const char* const errormsg) {
    certRefused_ = true;
    std::fprintf(stderr,
                 "parleyctl: the server's TLS certificate is not trusted (%s).\n"
                 "  Use --ca FILE with the certificate (or its CA), or --insecure for a development server.\n",
                 errormsg ? errormsg : "verification failed");
    return 0;
  }
  static int onStanza(xmpp_conn_t*, xmpp_stanza_t* stanza, void* userdata) {
    auto* self = static_cast<Client*>(userdata);
    char* buf = nullptr;
    std::size_t len = 0;
    if (xmpp_stanza_to_text(stanza, &buf, &len) == XMPP_EOK) {
      if (auto e = xml::parseElement(std::string_view(buf, len), "jabber:client")) self->inbox_.push_back(e);
      xmpp_free(self->ctx_, buf);
    }
    return 1;
  }
  static void onConn(xmpp_conn_t*, xmpp_conn_event_t event, int error, xmpp_stream_error_t* streamError,
                     void* userdata) {
    auto* self = static_cast<Client*>(userdata);
    if (event == XMPP_CONN_CONNECT) {
      self->connected_ = true;
      self->finished_ = true;
      return;
    }
    if (certRefused_) {
      self->error_ = "TLS certificate not trusted";
    } else if (streamError && streamError->text) {
      self->error_ = fmt::format("stream error: {}", streamError->text);
    } else if (streamError) {
      self->error_ = "stream error";
    } else if (self->error_.empty()) {
      if (error)
        self->error_ = fmt::format("connection failed: {}", std::strerror(error));
      else if (!self->connected_)
        self->error_ = "login failed (wrong JID or password, account disabled, or TLS refused)";
      else
        self->error_ = "disconnected";
    }
    self->connected_ = false;
    self->finished_ = true;
  }

  static inline bool certRefused_ = false;  // libstrophe's certificate callback has no user data
  const ConsoleOptions& o_;
  xmpp_ctx_t* ctx_ = nullptr;
  xmpp_conn_t* conn_ = nullptr;
  bool connected_ = false;
  bool finished_ = false;
  std::string error_;
  std::deque<xml::ElementPtr> inbox_;
  int nextId_ = 0;
};

// --- protocol helpers -------------------------------------------------------------------------------

struct CommandItem {
  std::string node, name;
};

std::string service(const ConsoleOptions& o) {
  if (!o.to.empty()) return o.to;
  auto jid = xmpp::Jid::parse(o.jid);
  return jid ? jid->domain() : std::string();
}

// "forbidden (you are not allowed…)" from an IQ error.
std::string describeError(const xml::Element& iq) {
  const xml::Element* err = iq.child("error", "jabber:client");
  if (!err) return "error";
  std::string condition, specific, text;
  for (const auto& c : err->children()) {
    if (c->xmlns() == kStanzasNs && c->name() == "text")
      text = c->text();
    else if (c->xmlns() == kStanzasNs)
      condition = c->name();
    else if (c->xmlns() == kCommandsNs)
      specific = c->name();
  }
  std::string out = condition.empty() ? "error" : condition;
  if (!specific.empty()) out += "/" + specific;
  if (!text.empty()) out += ": " + text;
  return out;
}

std::optional<std::vector<CommandItem>> listCommands(Client& c, const std::string& to, std::string& error) {
  auto iq = xml::make("iq", "jabber:client");
  iq->setAttr("type", "get");
  iq->setAttr("to", to);
  auto q = xml::make("query", std::string(kItemsNs));
  q->setAttr("node", kCommandsNs);
  iq->addChild(q);
  auto reply = c.request(iq);
  if (!reply) {
    error = c.error();
    return std::nullopt;
  }
  if (reply->attr("type") != "result") {
    error = describeError(*reply);
    return std::nullopt;
  }
  std::vector<CommandItem> out;
  if (const auto* query = reply->child("query", kItemsNs))
    for (const auto& i : query->childrenNamed("item", kItemsNs))
      out.push_back({std::string(i->attr("node")), std::string(i->attr("name"))});
  return out;
}

xml::ElementPtr sendCommand(Client& c, const std::string& to, const std::string& node, const std::string& sid,
                            std::string_view action, xml::ElementPtr form) {
  auto iq = xml::make("iq", "jabber:client");
  iq->setAttr("type", "set");
  iq->setAttr("to", to);
  auto cmd = xml::make("command", std::string(kCommandsNs));
  cmd->setAttr("node", node);
  if (!sid.empty()) cmd->setAttr("sessionid", sid);
  if (!action.empty()) cmd->setAttr("action", action);
  if (form) cmd->addChild(form);
  iq->addChild(cmd);
  return c.request(iq);
}

// Resolves "add-user" or a name to the node of a listed command.
std::optional<std::string> resolveNode(const std::vector<CommandItem>& items, const std::string& wanted) {
  for (const auto& i : items)
    if (i.node == wanted) return i.node;
  for (const auto& i : items) {
    auto hash = i.node.rfind('#');
    if (hash != std::string::npos && i.node.substr(hash + 1) == wanted) return i.node;
  }
  for (const auto& i : items)
    if (i.name == wanted) return i.node;
  return std::nullopt;
}

struct FieldView {
  std::string var, type, label, desc;
  bool required = false;
  std::vector<std::string> values;
  std::vector<std::pair<std::string, std::string>> options;  // label, value
};

std::vector<FieldView> fieldsOf(const xml::Element& x) {
  std::vector<FieldView> out;
  for (const auto& f : x.childrenNamed("field", kDataNs)) {
    FieldView v;
    v.var = f->attr("var");
    v.type = f->attr("type").empty() ? "text-single" : std::string(f->attr("type"));
    v.label = f->attr("label");
    v.desc = f->childText("desc", kDataNs);
    v.required = f->child("required", kDataNs) != nullptr;
    for (const auto& val : f->childrenNamed("value", kDataNs)) v.values.push_back(val->text());
    for (const auto& o : f->childrenNamed("option", kDataNs))
      v.options.emplace_back(std::string(o->attr("label")), o->childText("value", kDataNs));
    out.push_back(std::move(v));
  }
  return out;
}

xml::ElementPtr submitForm(const std::vector<FieldView>& fields, const std::map<std::string, std::vector<std::string>>& given) {
  auto x = xml::make("x", std::string(kDataNs));
  x->setAttr("type", "submit");
  for (const auto& f : fields) {
    if (f.var.empty() || f.type == "fixed") continue;
    auto it = given.find(f.var);
    const auto& values = it != given.end() ? it->second : f.values;
    auto e = xml::make("field", std::string(kDataNs));
    e->setAttr("var", f.var);
    for (const auto& v : values) e->addTextChild("value", kDataNs, v);
    x->addChild(e);
  }
  return x;
}

// Prints notes and a result form; returns true if a note says error.
bool printOutcome(const xml::Element& cmd, std::FILE* out) {
  bool failed = false;
  for (const auto& n : cmd.childrenNamed("note", kCommandsNs)) {
    std::string type(n->attr("type").empty() ? "info" : n->attr("type"));
    if (type == "error") {
      failed = true;
      std::fprintf(stderr, "error: %s\n", n->text().c_str());
    } else {
      std::fprintf(out, "%s: %s\n", type.c_str(), n->text().c_str());
    }
  }
  for (const auto& x : cmd.childrenNamed("x", kDataNs)) {
    if (x->attr("type") != "result") continue;
    std::string title = x->childText("title", kDataNs);
    if (!title.empty()) std::fprintf(out, "%s\n", title.c_str());
    for (const auto& f : fieldsOf(*x)) {
      if (f.type == "hidden") continue;
      std::string values;
      for (const auto& v : f.values) values += (values.empty() ? "" : ", ") + v;
      std::fprintf(out, "  %s: %s\n", (f.label.empty() ? f.var : f.label).c_str(), values.c_str());
    }
    if (const auto* roster = x->child("query", "jabber:iq:roster")) {
      auto items = roster->childrenNamed("item", "jabber:iq:roster");
      std::fprintf(out, "  roster (%zu items):\n", items.size());
      for (const auto& i : items) {
        std::string groups;
        for (const auto& g : i->childrenNamed("group", "jabber:iq:roster")) groups += (groups.empty() ? "" : ",") + g->text();
        std::fprintf(out, "    %s  subscription=%s%s%s\n", std::string(i->attr("jid")).c_str(),
                     std::string(i->attr("subscription")).c_str(),
                     i->attr("name").empty() ? "" : ("  name=" + std::string(i->attr("name"))).c_str(),
                     groups.empty() ? "" : ("  groups=" + groups).c_str());
      }
    }
  }
  return failed;
}

std::string defaultAction(const xml::Element& cmd) {
  const auto* actions = cmd.child("actions", kCommandsNs);
  if (!actions) return "complete";
  std::string a(actions->attr("execute"));
  if (!a.empty()) return a;
  if (actions->child("complete", kCommandsNs)) return "complete";
  if (actions->child("next", kCommandsNs)) return "next";
  return "complete";
}

// --- interactive prompts ----------------------------------------------------------------------------

// Reads one answer. When the input is not a terminal (a script, a pipe) the answer is echoed, so the
// output reads as a transcript.
bool readLine(std::string& line, bool secret = false) {
  if (!std::getline(std::cin, line)) return false;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (!isatty(STDIN_FILENO)) std::printf("%s\n", secret && !line.empty() ? "********" : line.c_str());
  return true;
}

std::optional<std::string> readSecret() {
  const bool tty = isatty(STDIN_FILENO);
  termios old{};
  if (tty) {
    tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= static_cast<tcflag_t>(~ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  bool ok = readLine(line, true);
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::printf("\n");
  }
  if (!ok) return std::nullopt;
  return line;
}

// Asks for one field; nullopt when the input ended.
std::optional<std::vector<std::string>> promptField(const FieldView& f) {
  const std::string label = f.label.empty() ? f.var : f.label;
  std::string def;
  for (const auto& v : f.values) def += (def.empty() ? "" : ", ") + v;
  if (!f.desc.empty()) std::printf("  (%s)\n", f.desc.c_str());
  const std::string req = f.required ? " (required)" : "";
  std::string line;
  if (f.type == "list-single" || f.type == "list-multi") {
    std::printf("%s%s:\n", label.c_str(), req.c_str());
    for (std::size_t i = 0; i < f.options.size(); ++i)
      std::printf("   %zu) %s\n", i + 1,
                  (f.options[i].first.empty() ? f.options[i].second : f.options[i].first).c_str());
    std::printf("  choose %s%s: ", f.type == "list-multi" ? "numbers separated by spaces" : "a number",
                def.empty() ? "" : (" [" + def + "]").c_str());
    std::fflush(stdout);
    if (!readLine(line)) return std::nullopt;
    if (line.empty()) return f.values;
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < line.size()) {
      auto end = line.find(' ', pos);
      std::string tok = line.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      pos = end == std::string::npos ? line.size() : end + 1;
      if (tok.empty()) continue;
      char* rest = nullptr;
      long n = std::strtol(tok.c_str(), &rest, 10);
      if (rest && *rest == '\0' && n >= 1 && static_cast<std::size_t>(n) <= f.options.size())
        out.push_back(f.options[static_cast<std::size_t>(n) - 1].second);
      else
        out.push_back(tok);  // a value typed out; the server says if it is not an option
    }
    return out;
  }
  if (f.type == "boolean") {
    std::printf("%s%s [y/n%s]: ", label.c_str(), req.c_str(),
                def.empty() ? "" : (", default " + std::string(def == "1" || def == "true" ? "y" : "n")).c_str());
    std::fflush(stdout);
    if (!readLine(line)) return std::nullopt;
    if (line.empty()) return f.values;
    return std::vector<std::string>{line == "y" || line == "yes" || line == "1" || line == "true" ? "1" : "0"};
  }
  if (f.type == "jid-multi" || f.type == "text-multi") {
    std::printf("%s%s, one per line, an empty line to finish%s:\n", label.c_str(), req.c_str(),
                def.empty() ? "" : (" (empty: keep \"" + def + "\")").c_str());
    std::vector<std::string> out;
    while (true) {
      std::printf("  > ");
      std::fflush(stdout);
      if (!readLine(line)) {
        if (out.empty()) return std::nullopt;
        break;
      }
      if (line.empty()) break;
      out.push_back(line);
    }
    if (out.empty()) return f.values;
    return out;
  }
  if (f.type == "text-private") {
    std::printf("%s%s: ", label.c_str(), req.c_str());
    std::fflush(stdout);
    auto s = readSecret();
    if (!s) return std::nullopt;
    if (s->empty()) return std::vector<std::string>{};
    return std::vector<std::string>{*s};
  }
  std::printf("%s%s%s: ", label.c_str(), req.c_str(), def.empty() ? "" : (" [" + def + "]").c_str());
  std::fflush(stdout);
  if (!readLine(line)) return std::nullopt;
  if (line.empty()) return f.values;
  return std::vector<std::string>{line};
}

int connectOrFail(Client& c, const ConsoleOptions& o) {
  if (o.jid.empty() || o.password.empty()) {
    std::fprintf(stderr, "parleyctl: --jid and --password (or $PARLEYCTL_PASSWORD, or a terminal to ask on) are required\n");
    return kUsage;
  }
  if (!xmpp::Jid::parse(o.jid)) {
    std::fprintf(stderr, "parleyctl: '%s' is not a valid JID\n", o.jid.c_str());
    return kUsage;
  }
  if (!c.connect()) {
    if (c.error() != "TLS certificate not trusted") std::fprintf(stderr, "parleyctl: %s\n", c.error().c_str());
    return kConnection;
  }
  return kOk;
}

// Runs one command interactively. Returns false when the input ended.
bool runInteractive(Client& c, const std::string& to, const CommandItem& item) {
  std::string sid;
  auto reply = sendCommand(c, to, item.node, {}, "execute", nullptr);
  while (true) {
    if (!reply) {
      std::printf("! %s\n", c.error().c_str());
      return true;
    }
    if (reply->attr("type") != "result") {
      std::printf("! %s\n", describeError(*reply).c_str());
      return true;
    }
    const auto* cmd = reply->child("command", kCommandsNs);
    if (!cmd) {
      std::printf("! the server answered without a command\n");
      return true;
    }
    sid = cmd->attr("sessionid");
    if (cmd->attr("status") != "executing") {
      bool failed = printOutcome(*cmd, stdout);
      std::printf("%s\n", failed ? "(command failed)" : "(done)");
      return true;
    }
    printOutcome(*cmd, stdout);
    const xml::Element* form = nullptr;
    for (const auto& x : cmd->childrenNamed("x", kDataNs))
      if (x->attr("type") == "form") form = x.get();
    std::map<std::string, std::vector<std::string>> given;
    std::vector<FieldView> fields;
    if (form) {
      std::string title = form->childText("title", kDataNs);
      std::string instructions = form->childText("instructions", kDataNs);
      if (!title.empty()) std::printf("== %s ==\n", title.c_str());
      if (!instructions.empty()) std::printf("%s\n", instructions.c_str());
      fields = fieldsOf(*form);
      for (const auto& f : fields) {
        if (f.type == "hidden") continue;
        if (f.type == "fixed") {
          for (const auto& v : f.values) std::printf("%s\n", v.c_str());
          continue;
        }
        auto values = promptField(f);
        if (!values) {
          sendCommand(c, to, item.node, sid, "cancel", nullptr);
          return false;
        }
        given[f.var] = *values;
      }
    }
    std::string action = defaultAction(*cmd);
    xml::ElementPtr next = sendCommand(c, to, item.node, sid, action, form ? submitForm(fields, given) : nullptr);
    // A refused submission (bad-payload…) keeps the session: offer the form again.
    while (next && next->attr("type") == "error") {
      std::printf("! %s\n", describeError(*next).c_str());
      std::printf("Try again? [Y/n]: ");
      std::fflush(stdout);
      std::string line;
      if (!readLine(line)) {
        sendCommand(c, to, item.node, sid, "cancel", nullptr);
        return false;
      }
      if (line == "n" || line == "no") {
        sendCommand(c, to, item.node, sid, "cancel", nullptr);
        std::printf("(canceled)\n");
        return true;
      }
      given.clear();
      for (const auto& f : fields) {
        if (f.type == "hidden" || f.type == "fixed") continue;
        FieldView g = f;
        if (given.count(f.var) == 0) {
          auto values = promptField(g);
          if (!values) {
            sendCommand(c, to, item.node, sid, "cancel", nullptr);
            return false;
          }
          given[f.var] = *values;
        }
      }
      next = sendCommand(c, to, item.node, sid, action, submitForm(fields, given));
    }
    reply = next;
  }
}

// Asks for the password on a terminal when none was given.
ConsoleOptions withPassword(const ConsoleOptions& in) {
  ConsoleOptions o = in;
  if (o.password.empty() && isatty(STDIN_FILENO)) {
    std::printf("Password for %s: ", o.jid.c_str());
    std::fflush(stdout);
    if (auto p = readSecret()) o.password = *p;
  }
  return o;
}

}  // namespace

int console(const ConsoleOptions& options) {
  const ConsoleOptions o = withPassword(options);
  Client c(o);
  if (int rc = connectOrFail(c, o)) return rc;
  const std::string to = service(o);
  std::printf("Connected as %s. Commands on %s.\n", c.boundJid().c_str(), to.c_str());
  bool showList = true;
  while (true) {
    std::string error;
    auto items = listCommands(c, to, error);
    if (!items) {
      std::fprintf(stderr, "parleyctl: could not list the commands: %s\n", error.c_str());
      return kFailed;
    }
    if (items->empty()) {
      std::printf("This account may not run any command on %s (is it listed in [server] admins?).\n", to.c_str());
      return kOk;
    }
    if (showList) {
      std::printf("\nCommands:\n");
      for (std::size_t i = 0; i < items->size(); ++i)
        std::printf("  %2zu) %s\n", i + 1, (*items)[i].name.c_str());
      showList = false;
    }
    std::printf("\nCommand (number or name; ? to list them, q to quit): ");
    std::fflush(stdout);
    std::string line;
    if (!readLine(line) || line == "q" || line == "quit" || line == "exit") {
      std::printf("\n");
      return kOk;
    }
    if (line.empty()) continue;
    if (line == "?" || line == "help" || line == "list") {
      showList = true;
      continue;
    }
    std::optional<CommandItem> chosen;
    char* rest = nullptr;
    long n = std::strtol(line.c_str(), &rest, 10);
    if (rest && *rest == '\0' && n >= 1 && static_cast<std::size_t>(n) <= items->size())
      chosen = (*items)[static_cast<std::size_t>(n) - 1];
    else if (auto node = resolveNode(*items, line))
      for (const auto& i : *items)
        if (i.node == *node) chosen = i;
    if (!chosen) {
      std::printf("No such command: %s\n", line.c_str());
      continue;
    }
    std::printf("\n-- %s --\n", chosen->name.c_str());
    if (!runInteractive(c, to, *chosen)) {
      std::printf("\n");
      return kOk;
    }
  }
}

int adhocList(const ConsoleOptions& options) {
  const ConsoleOptions o = withPassword(options);
  Client c(o);
  if (int rc = connectOrFail(c, o)) return rc;
  std::string error;
  auto items = listCommands(c, service(o), error);
  if (!items) {
    std::fprintf(stderr, "parleyctl: %s\n", error.c_str());
    return kFailed;
  }
  for (const auto& i : *items) std::printf("%s\t%s\n", i.node.c_str(), i.name.c_str());
  return kOk;
}

int adhocRun(const ConsoleOptions& options, const std::string& wanted, const std::vector<std::string>& assignments) {
  const ConsoleOptions o = withPassword(options);
  std::map<std::string, std::vector<std::string>> given;
  for (const auto& a : assignments) {
    auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "parleyctl: expected field=value, got '%s'\n", a.c_str());
      return kUsage;
    }
    given[a.substr(0, eq)].push_back(a.substr(eq + 1));
  }
  Client c(o);
  if (int rc = connectOrFail(c, o)) return rc;
  const std::string to = service(o);
  std::string node = wanted;
  if (node.find(':') == std::string::npos) {
    // A short name: look it up in the list (which also shows whether we may run it).
    std::string error;
    auto items = listCommands(c, to, error);
    if (!items) {
      std::fprintf(stderr, "parleyctl: %s\n", error.c_str());
      return kFailed;
    }
    auto resolved = resolveNode(*items, wanted);
    if (!resolved) {
      std::fprintf(stderr, "parleyctl: no command '%s' that this account may run on %s\n", wanted.c_str(),
                   to.c_str());
      return kFailed;
    }
    node = *resolved;
  }
  std::string sid;
  auto reply = sendCommand(c, to, node, {}, "execute", nullptr);
  for (int stage = 0; stage < 20; ++stage) {
    if (!reply) {
      std::fprintf(stderr, "parleyctl: %s\n", c.error().c_str());
      return kConnection;
    }
    if (reply->attr("type") != "result") {
      std::fprintf(stderr, "error: %s\n", describeError(*reply).c_str());
      if (!sid.empty()) sendCommand(c, to, node, sid, "cancel", nullptr);
      return kFailed;
    }
    const auto* cmd = reply->child("command", kCommandsNs);
    if (!cmd) {
      std::fprintf(stderr, "parleyctl: the server answered without a command\n");
      return kFailed;
    }
    sid = cmd->attr("sessionid");
    if (cmd->attr("status") == "canceled") {
      std::fprintf(stderr, "error: the command was canceled\n");
      return kFailed;
    }
    if (cmd->attr("status") != "executing") return printOutcome(*cmd, stdout) ? kFailed : kOk;
    const xml::Element* form = nullptr;
    for (const auto& x : cmd->childrenNamed("x", kDataNs))
      if (x->attr("type") == "form") form = x.get();
    auto fields = form ? fieldsOf(*form) : std::vector<FieldView>{};
    reply = sendCommand(c, to, node, sid, defaultAction(*cmd), form ? submitForm(fields, given) : nullptr);
  }
  std::fprintf(stderr, "parleyctl: the command did not complete after 20 stages\n");
  sendCommand(c, to, node, sid, "cancel", nullptr);
  return kFailed;
}

}  // namespace parley::ctl
