// DESIGN: a module is one XEP family, in its own folder under xep/, listed once in
// xep/builtin_modules.cpp. Its contract:
//   configure(section)  validate [modules.<name>] (also run by `parleyctl check`); throw via fail()
//   start(ctx)          register hooks, IQ handlers, disco entries through the context
//   stop()              optional: anything beyond what the context releases by itself
// Everything registered through ModuleContext is undone when the module stops, in reverse order, so
// stop() usually has nothing to do. Modules start in dependency order after storage is ready and
// before listeners open; they stop after every session has closed.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/core/config.h"
#include "server/hooks/registry.h"
#include "server/module/disco.h"
#include "server/router/iq_router.h"
#include "server/router/router.h"

namespace parley::core {
class Server;
}

namespace parley::module {

class ModuleContext;

class Module {
 public:
  virtual ~Module() = default;
  virtual void configure(core::ConfigSection& /*section*/) {}
  virtual void start(ModuleContext& ctx) = 0;
  virtual void stop() {}
};

struct ModuleInfo {
  std::string_view name;
  std::string_view description;
  std::vector<std::string_view> dependencies;
  bool enabledByDefault = true;
  std::unique_ptr<Module> (*create)() = nullptr;
};

// The registration list (xep/builtin_modules.cpp).
const std::vector<ModuleInfo>& builtinModules();
const ModuleInfo* findModule(std::string_view name);

class ModuleContext {
 public:
  ModuleContext(core::Server& server, std::string name) : server_(server), name_(std::move(name)) {}
  ~ModuleContext() { release(); }

  core::Server& server() { return server_; }
  const std::string& name() const { return name_; }

  template <class Hook>
  void hook(hooks::HookRegistry::Handler<Hook> fn, int prio = hooks::priority::kNormal);
  void iq(router::IqScope scope, std::string_view type, std::string_view ns, std::string_view element,
          router::IqHandler handler);
  void feature(DiscoScope scope, std::string var);
  void identity(DiscoScope scope, DiscoIdentity identity);
  void discoExtension(DiscoScope scope, xml::ElementPtr form);
  void component(std::string domain, router::ComponentHandler handler);
  // Keeps any RAII object alive until the module stops (timers, subscriptions).
  void keep(std::shared_ptr<void> resource) { resources_.push_back(std::move(resource)); }

  // Drops every registration, newest first.
  void release();

 private:
  core::Server& server_;
  std::string name_;
  std::vector<hooks::HookHandle> hooks_;
  std::vector<router::IqHandle> handles_;
  std::vector<std::shared_ptr<void>> resources_;
};

// Starts and stops the enabled modules in dependency order.
class ModuleHost {
 public:
  // Validates the enabled list and each module's config (throws core::ConfigError).
  explicit ModuleHost(const core::Config& config);
  void startAll(core::Server& server);
  void stopAll();
  const std::vector<std::string>& started() const { return order_; }
  bool enabled(std::string_view name) const;

 private:
  struct Loaded {
    const ModuleInfo* info;
    std::unique_ptr<Module> module;
    std::unique_ptr<ModuleContext> context;
  };
  std::vector<Loaded> modules_;  // in start order
  std::vector<std::string> order_;
};

}  // namespace parley::module

#include "server/core/server.h"

namespace parley::module {
template <class Hook>
void ModuleContext::hook(hooks::HookRegistry::Handler<Hook> fn, int prio) {
  hooks_.push_back(server_.hooks().add<Hook>(std::move(fn), prio));
}
}  // namespace parley::module
