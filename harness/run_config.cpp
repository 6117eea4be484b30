// See run_config.hpp for the rules.
#include "harness/run_config.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include <fmt/format.h>

#include "base/error.hpp"

namespace reval {

using nlohmann::json;

ShardSpec parse_shard(const std::string& text) {
  auto bad = [&](const std::string& why) {
    throw Error(fmt::format("--shard '{}': {} (expected I/N with 1 <= I <= N, e.g. 2/4)", text, why));
  };
  auto slash = text.find('/');
  if (slash == std::string::npos) bad("no '/'");
  auto number = [&](const std::string& s) {
    if (s.empty() || s.size() > 4 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
      bad("not a small positive integer: '" + s + "'");
    return std::atoi(s.c_str());
  };
  ShardSpec s;
  s.index = number(text.substr(0, slash));
  s.count = number(text.substr(slash + 1));
  if (s.count < 1 || s.count > 4096) bad("N must be in [1, 4096]");
  if (s.index < 1 || s.index > s.count) bad("I must be in [1, N] (shards are numbered from 1)");
  return s;
}

namespace {

const json& field(const json& j, const char* key) {
  static const json null_value;
  if (!j.is_object()) return null_value;
  auto it = j.find(key);
  return it == j.end() ? null_value : *it;
}

[[noreturn]] void differ(const std::string& what, const std::string& name, const json& a, const json& b) {
  throw Error(fmt::format("{} was made with a different {} (stored {}, now {}); pass --run-name to start a new run",
                          what, name, a.dump(), b.dump()));
}

// Shard indices of a config; empty = every problem.
std::pair<int, std::set<int>> shard_of(const json& config, const std::string& what) {
  const json& s = field(config, "shard");
  if (s.is_null()) return {0, {}};
  if (!s.is_object() || !field(s, "count").is_number_integer() || !field(s, "indices").is_array())
    throw Error(fmt::format("{}: field 'config.shard': expected {{\"count\": N, \"indices\": [...]}}, got {}", what,
                            s.dump()));
  std::set<int> idx;
  for (const auto& i : s["indices"]) {
    if (!i.is_number_integer()) throw Error(fmt::format("{}: field 'config.shard.indices': not an integer", what));
    idx.insert(i.get<int>());
  }
  return {s["count"].get<int>(), idx};
}

}  // namespace

json combine_run_configs(const json& stored, const json& incoming, const std::string& what) {
  json out = stored.is_object() ? stored : json::object();
  if (!incoming.is_object()) return out;
  // What a sample means: must be equal. An absent sampling (a replay run) matches nothing else's sampling only
  // when both have one; system_prompt absent (an older run) equals null.
  if (stored.contains("sampling") && incoming.contains("sampling") && stored["sampling"] != incoming["sampling"])
    differ(what, "sampling configuration", stored["sampling"], incoming["sampling"]);
  for (const char* key : {"system_prompt", "prompt_template", "chat_template", "chat_template_id"}) {
    const json& a = field(stored, key);
    const json& b = field(incoming, key);
    auto blank = [](const json& v) { return v.is_null() || (v.is_string() && v.get<std::string>().empty()); };
    if (blank(a) && blank(b)) continue;
    if (a != b) differ(what, key, a, b);
  }

  // Tasks: united; a task in both keeps its grader and filters, and the larger k and problem count.
  json tasks = field(stored, "tasks").is_array() ? stored["tasks"] : json::array();
  for (const auto& t : field(incoming, "tasks").is_array() ? incoming["tasks"] : json::array()) {
    auto same = std::find_if(tasks.begin(), tasks.end(), [&](const json& s) { return field(s, "task") == field(t, "task"); });
    if (same == tasks.end()) {
      tasks.push_back(t);
      continue;
    }
    std::string name = field(t, "task").is_string() ? t["task"].get<std::string>() : "?";
    for (const char* key : {"grader", "filters"})
      if (field(*same, key) != field(t, key)) differ(what, "task " + name + " " + key, field(*same, key), field(t, key));
    for (const char* key : {"samples", "problems"}) {
      const json& a = field(*same, key);
      const json& b = field(t, key);
      if (b.is_number_integer() && (!a.is_number_integer() || b.get<std::int64_t>() > a.get<std::int64_t>()))
        (*same)[key] = b;
    }
  }
  if (!tasks.empty()) out["tasks"] = tasks;

  // --limit: the larger (0 = all).
  if (incoming.contains("limit")) {
    const json& a = field(stored, "limit");
    const json& b = incoming["limit"];
    if (!a.is_number_integer()) out["limit"] = b;
    else if (b.is_number_integer() && a.get<std::int64_t>() != 0 &&
             (b.get<std::int64_t>() == 0 || b.get<std::int64_t>() > a.get<std::int64_t>()))
      out["limit"] = b;
  }

  // Shards: absent = every problem; otherwise the union, which drops the key once complete.
  auto [count_a, idx_a] = shard_of(stored, what);
  auto [count_b, idx_b] = shard_of(incoming, what);
  if (count_a == 0 || count_b == 0) {
    out.erase("shard");
  } else {
    if (count_a != count_b) differ(what, "shard count", count_a, count_b);
    idx_a.insert(idx_b.begin(), idx_b.end());
    if (static_cast<int>(idx_a.size()) == count_a) out.erase("shard");
    else out["shard"] = {{"count", count_a}, {"indices", json(std::vector<int>(idx_a.begin(), idx_a.end()))}};
  }

  // Anything else only the incoming config has (a key added by a newer build) is taken over.
  for (const auto& [key, value] : incoming.items())
    if (!out.contains(key) && key != "shard") out[key] = value;
  return out;
}

std::vector<std::string> config_changes(const json& before, const json& after) {
  std::vector<std::string> out;
  std::map<std::string, json> old_tasks;
  for (const auto& t : field(before, "tasks").is_array() ? before["tasks"] : json::array())
    if (field(t, "task").is_string()) old_tasks[t["task"].get<std::string>()] = t;
  for (const auto& t : field(after, "tasks").is_array() ? after["tasks"] : json::array()) {
    if (!field(t, "task").is_string()) continue;
    std::string name = t["task"];
    auto it = old_tasks.find(name);
    if (it == old_tasks.end()) {
      out.push_back(fmt::format("task {} added (k={}, {} problems)", name, field(t, "samples").dump(),
                                field(t, "problems").dump()));
      continue;
    }
    if (field(it->second, "samples") != field(t, "samples"))
      out.push_back(fmt::format("{}: k {} -> {}", name, field(it->second, "samples").dump(), field(t, "samples").dump()));
    if (field(it->second, "problems") != field(t, "problems"))
      out.push_back(fmt::format("{}: problems {} -> {}", name, field(it->second, "problems").dump(),
                                field(t, "problems").dump()));
  }
  if (field(before, "limit") != field(after, "limit"))
    out.push_back(fmt::format("limit {} -> {}", field(before, "limit").dump(), field(after, "limit").dump()));
  if (field(before, "shard") != field(after, "shard")) {
    const json& s = field(after, "shard");
    out.push_back(s.is_null() ? std::string("every shard present") : "shards " + s["indices"].dump() + " of " +
                                                                          s["count"].dump());
  }
  return out;
}

}  // namespace reval
