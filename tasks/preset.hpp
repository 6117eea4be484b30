// Suite presets: versioned JSON files (tasks/presets/<name>.json) naming the tasks of an evaluation protocol with
// their k and filters, and the sampling settings. `reval eval --suite r1` loads one through load_preset().
// Format (docs/tasks.md):
//   {"id": "r1", "version": 1, "description": "...", "seed": 0,
//    "sampling": {"temperature": 0.6, "top_p": 0.95, "max_new_tokens": 32768, "stop": ["..."]},
//    "system_prompt": "..." (optional; the R1 protocol has none),
//    "tasks": [{"task": "aime24", "k": 64}, {"task": "livecodebench", "k": 16, "filters": {...}}, ...]}
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace reval {

struct PresetTask {
  std::string task;                                  // a name from all_tasks()
  int k = 1;                                         // samples per problem
  nlohmann::json filters = nlohmann::json::object(); // passed as LoadOptions::filters
};

struct Preset {
  std::string id;            // e.g. "r1"
  int version = 1;           // bumped whenever anything that changes scores changes
  std::string description;
  std::string path;          // file it was read from
  double temperature = 0.6;
  double top_p = 0.95;
  int max_new_tokens = 32768;
  std::uint64_t seed = 0;
  std::vector<std::string> stop;      // sampling.stop: extra stop strings (default none)
  std::optional<std::string> system_prompt;  // a system turn before every prompt (default none, as in R1)
  std::vector<PresetTask> tasks;
  std::string label() const { return id + "@v" + std::to_string(version); }  // stored as RunInfo::preset
};

// `name_or_path`: a preset name looked up in the presets directory ($REVAL_PRESETS_DIR, else the source tree's
// tasks/presets), or a path to a JSON file (anything containing '/' or ending in ".json"). Validates every field
// (known task names, k >= 1, sampling ranges) and throws reval::Error naming the file and field.
Preset load_preset(const std::string& name_or_path);
Preset parse_preset(const nlohmann::json& doc, const std::string& source);
// Names of the presets in the presets directory, sorted.
std::vector<std::string> preset_names();
std::string presets_dir();

}  // namespace reval
