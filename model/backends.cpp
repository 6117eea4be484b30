// Backend factory and registry (see model/backends.hpp for the contract).
//
// Theory of operation: a function-local static map name -> BackendMaker guarded by a mutex (function-local so
// registration from other translation units' static initialisers is safe regardless of initialisation order).
// The built-in makers are installed lazily the first time the registry is touched; register_backend may replace
// them. make_backend copies the maker out under the lock and calls it unlocked, so a slow backend construction
// (loading a big replay file) does not block other lookups.
#include "model/backends.hpp"

#include <algorithm>
#include <map>
#include <mutex>

#include "model/backends/native_backend.hpp"
#include "model/backends/openai_backend.hpp"
#include "model/backends/replay_backend.hpp"
#include "base/error.hpp"

namespace reval {
namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, BackendMaker> makers;
};

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry;  // intentionally leaked: usable during static destruction
    reg->makers["replay"] = [](const BackendOptions& o) -> std::unique_ptr<Backend> {
      return make_replay_backend(o);
    };
    reg->makers["openai"] = [](const BackendOptions& o) -> std::unique_ptr<Backend> {
      return make_openai_backend(o);
    };
    reg->makers["native"] = [](const BackendOptions& o) -> std::unique_ptr<Backend> {
      return make_native_backend(o);
    };
    return reg;
  }();
  return *r;
}

std::string joined_names() {
  std::string out;
  for (const auto& n : backend_names()) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

void register_backend(const std::string& name, BackendMaker maker) {
  if (name.empty()) throw Error("register_backend: empty backend name");
  if (!maker) throw Error("register_backend: empty maker for backend '" + name + "'");
  auto& r = registry();
  std::lock_guard lock(r.mu);
  r.makers[name] = std::move(maker);
}

bool has_backend(const std::string& name) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  return r.makers.count(name) > 0;
}

std::vector<std::string> backend_names() {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  std::vector<std::string> names;
  for (const auto& [n, m] : r.makers) names.push_back(n);
  return names;  // std::map keeps them sorted
}

std::unique_ptr<Backend> make_backend(const std::string& name, const BackendOptions& opts) {
  BackendMaker maker;
  {
    auto& r = registry();
    std::lock_guard lock(r.mu);
    if (auto it = r.makers.find(name); it != r.makers.end()) maker = it->second;
  }
  if (!maker) {
    throw Error("unknown backend '" + name + "' (known backends: " + joined_names() + ")");
  }
  auto backend = maker(opts);
  if (!backend) throw Error("backend '" + name + "' could not be created");
  return backend;
}

}  // namespace reval
