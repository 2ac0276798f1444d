#include "server/module/module.h"

#include <algorithm>
#include <functional>
#include <set>

#include <fmt/format.h>

#include "server/log/log.h"

namespace parley::module {

const ModuleInfo* findModule(std::string_view name) {
  for (const auto& m : builtinModules())
    if (m.name == name) return &m;
  return nullptr;
}

void ModuleContext::iq(router::IqScope scope, std::string_view type, std::string_view ns,
                       std::string_view element, router::IqHandler handler) {
  handles_.push_back(server_.iqRouter().add(scope, type, ns, element, std::move(handler)));
}

void ModuleContext::feature(DiscoScope scope, std::string var) {
  handles_.push_back(server_.disco().addFeature(scope, std::move(var)));
}

void ModuleContext::identity(DiscoScope scope, DiscoIdentity identity) {
  handles_.push_back(server_.disco().addIdentity(scope, std::move(identity)));
}

void ModuleContext::discoExtension(DiscoScope scope, xml::ElementPtr form) {
  handles_.push_back(server_.disco().addExtension(scope, std::move(form)));
}

void ModuleContext::component(std::string domain, router::ComponentHandler handler) {
  handles_.push_back(server_.router().addComponent(std::move(domain), std::move(handler)));
}

void ModuleContext::release() {
  while (!resources_.empty()) resources_.pop_back();
  while (!handles_.empty()) handles_.pop_back();
  while (!hooks_.empty()) hooks_.pop_back();
}

ModuleHost::ModuleHost(const core::Config& config) {
  std::vector<std::string> wanted = config.modules.enabled;
  if (wanted.empty())
    for (const auto& m : builtinModules())
      if (m.enabledByDefault) wanted.emplace_back(m.name);
  std::set<std::string> names(wanted.begin(), wanted.end());
  for (const auto& n : names)
    if (!findModule(n))
      throw core::ConfigError(fmt::format("{}: modules.enabled: unknown module \"{}\"", config.path, n));
  for (const auto& [n, section] : config.modules.sections) {
    if (!findModule(n))
      throw core::ConfigError(fmt::format("{}: [modules.{}]: unknown module", config.path, n));
  }
  // Dependency order (depth first); a dependency must be enabled too.
  std::set<std::string> visiting, done;
  std::function<void(const std::string&)> visit = [&](const std::string& n) {
    if (done.count(n)) return;
    if (visiting.count(n))
      throw core::ConfigError(fmt::format("{}: module dependency cycle at \"{}\"", config.path, n));
    visiting.insert(n);
    const ModuleInfo* info = findModule(n);
    for (auto dep : info->dependencies) {
      if (!names.count(std::string(dep)))
        throw core::ConfigError(
            fmt::format("{}: modules.enabled: module \"{}\" needs \"{}\" enabled too", config.path, n, dep));
      visit(std::string(dep));
    }
    visiting.erase(n);
    done.insert(n);
    Loaded l{info, info->create(), nullptr};
    // Every module validates its table, present or not, so defaults are checked too.
    auto it = config.modules.sections.find(n);
    if (it != config.modules.sections.end()) {
      l.module->configure(*it->second);
      it->second->finish();
    } else {
      core::ConfigSection empty(config.path, n, nullptr);
      l.module->configure(empty);
    }
    order_.push_back(n);
    modules_.push_back(std::move(l));
  };
  for (const auto& n : wanted) visit(n);
}

bool ModuleHost::enabled(std::string_view name) const {
  return std::find(order_.begin(), order_.end(), name) != order_.end();
}

void ModuleHost::startAll(core::Server& server) {
  for (auto& l : modules_) {
    l.context = std::make_unique<ModuleContext>(server, std::string(l.info->name));
    l.module->start(*l.context);
    log::debug("module.started", "name={}", l.info->name);
  }
}

void ModuleHost::stopAll() {
  for (auto it = modules_.rbegin(); it != modules_.rend(); ++it) {
    if (!it->context) continue;
    try {
      it->module->stop();
    } catch (const std::exception& e) {
      log::error("module.stop.failed", "name={} error=\"{}\"", it->info->name, e.what());
    }
    it->context->release();
    it->context.reset();
    log::debug("module.stopped", "name={}", it->info->name);
  }
}

}  // namespace parley::module
