// Preset files are data; this reads one, checks every field strictly (an unknown key is an error, so a typo never
// silently falls back to a default) and returns it as a Preset.
#include "tasks/preset.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/jsonl.hpp"
#include "tasks/task.hpp"

namespace reval {
namespace {

void check_keys(const nlohmann::json& obj, const std::set<std::string>& known, const std::string& source,
                const std::string& at) {
  for (const auto& [key, value] : obj.items())
    if (!known.count(key)) fail_at(source, 0, at + key, "unknown key");
}

double number(const nlohmann::json& obj, const char* key, double fallback, double lo, double hi,
              const std::string& source, const std::string& at) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (!it->is_number()) fail_at(source, 0, at + key, "expected a number");
  double v = it->get<double>();
  if (v < lo || v > hi) fail_at(source, 0, at + key, fmt::format("must be in [{}, {}], got {}", lo, hi, v));
  return v;
}

}  // namespace

std::string presets_dir() {
  if (const char* env = std::getenv("REVAL_PRESETS_DIR"); env && *env) return env;
  return REVAL_PRESETS_DIR;
}

std::vector<std::string> preset_names() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(presets_dir(), ec))
    if (e.is_regular_file() && e.path().extension() == ".json") out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

Preset parse_preset(const nlohmann::json& doc, const std::string& source) {
  if (!doc.is_object()) fail_at(source, 0, "", "a preset must be a JSON object");
  check_keys(doc, {"id", "version", "description", "seed", "sampling", "system_prompt", "tasks"}, source, "");
  Preset p;
  p.path = source;
  if (!doc.contains("id") || !doc["id"].is_string() || doc["id"].get<std::string>().empty())
    fail_at(source, 0, "id", "missing or not a string");
  p.id = doc["id"];
  if (!doc.contains("version") || !doc["version"].is_number_integer() || doc["version"].get<int>() < 1)
    fail_at(source, 0, "version", "missing or not a positive integer");
  p.version = doc["version"];
  if (doc.contains("description")) {
    if (!doc["description"].is_string()) fail_at(source, 0, "description", "expected a string");
    p.description = doc["description"];
  }
  if (doc.contains("seed")) {
    if (!doc["seed"].is_number_unsigned()) fail_at(source, 0, "seed", "expected a non-negative integer");
    p.seed = doc["seed"];
  }
  if (doc.contains("sampling")) {
    const auto& s = doc["sampling"];
    if (!s.is_object()) fail_at(source, 0, "sampling", "expected an object");
    check_keys(s, {"temperature", "top_p", "max_new_tokens", "stop"}, source, "sampling.");
    p.temperature = number(s, "temperature", p.temperature, 0.0, 10.0, source, "sampling.");
    p.top_p = number(s, "top_p", p.top_p, 0.0, 1.0, source, "sampling.");
    if (s.contains("max_new_tokens") && !s["max_new_tokens"].is_number_integer())
      fail_at(source, 0, "sampling.max_new_tokens", "expected an integer");
    p.max_new_tokens = static_cast<int>(number(s, "max_new_tokens", p.max_new_tokens, 1, 1 << 24, source, "sampling."));
    if (s.contains("stop")) {
      const auto& stop = s["stop"];
      if (!stop.is_array()) fail_at(source, 0, "sampling.stop", "expected a list of strings");
      for (size_t i = 0; i < stop.size(); ++i) {
        std::string at = fmt::format("sampling.stop[{}]", i);
        if (!stop[i].is_string()) fail_at(source, 0, at, "expected a string");
        if (stop[i].get<std::string>().empty()) fail_at(source, 0, at, "an empty stop string would stop at once");
        p.stop.push_back(stop[i].get<std::string>());
      }
    }
  }
  if (doc.contains("system_prompt")) {
    if (!doc["system_prompt"].is_string()) fail_at(source, 0, "system_prompt", "expected a string");
    p.system_prompt = doc["system_prompt"].get<std::string>();
  }
  if (!doc.contains("tasks") || !doc["tasks"].is_array() || doc["tasks"].empty())
    fail_at(source, 0, "tasks", "missing or empty list");
  std::set<std::string> seen;
  for (size_t i = 0; i < doc["tasks"].size(); ++i) {
    const auto& t = doc["tasks"][i];
    std::string at = fmt::format("tasks[{}].", i);
    if (!t.is_object()) fail_at(source, 0, at.substr(0, at.size() - 1), "expected an object");
    check_keys(t, {"task", "k", "filters"}, source, at);
    PresetTask pt;
    if (!t.contains("task") || !t["task"].is_string()) fail_at(source, 0, at + "task", "missing or not a string");
    pt.task = t["task"];
    try {
      task_info(pt.task);
    } catch (const Error& e) {
      fail_at(source, 0, at + "task", e.what());
    }
    if (!seen.insert(pt.task).second) fail_at(source, 0, at + "task", "task listed twice: " + pt.task);
    pt.k = task_info(pt.task).default_samples;
    if (t.contains("k")) {
      if (!t["k"].is_number_integer() || t["k"].get<int>() < 1) fail_at(source, 0, at + "k", "expected an integer >= 1");
      pt.k = t["k"];
    }
    if (t.contains("filters")) {
      if (!t["filters"].is_object()) fail_at(source, 0, at + "filters", "expected an object");
      pt.filters = t["filters"];
    }
    p.tasks.push_back(std::move(pt));
  }
  return p;
}

Preset load_preset(const std::string& name_or_path) {
  std::string path = name_or_path;
  bool is_path = name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".json");
  if (!is_path) {
    path = presets_dir() + "/" + name_or_path + ".json";
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      std::string known;
      for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
      throw Error(fmt::format("unknown preset '{}' (known: {}; or pass a path to a preset .json file)", name_or_path,
                              known.empty() ? "none found in " + presets_dir() : known));
    }
  }
  nlohmann::json doc;
  try {
    doc = parse_json(read_file(path), path);
  } catch (const nlohmann::json::exception& e) {
    fail_at(path, 0, "", std::string("invalid JSON: ") + e.what());
  }
  return parse_preset(doc, path);
}

}  // namespace reval
