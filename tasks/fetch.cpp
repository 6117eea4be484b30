// Theory of operation: the task table below maps each task to its hub files. fetch_file() skips a destination that
// already exists (and matches its checksum when one is known), otherwise hands the URL to base/http.hpp's
// download_file(), the one resumable downloader: the file is streamed into DEST.part, a leftover or interrupted
// .part continues with a Range request, size and sha256 are checked, and only then is it renamed to DEST.
// Codeforces contests go the same way, one API reply per file, with a check of the reply's "status" afterwards.
#include "tasks/fetch.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "base/http.hpp"
#include "base/jsonl.hpp"
#include "base/sha256.hpp"
#include "base/url.hpp"
#include "tasks/task.hpp"

namespace reval {
namespace {

namespace fs = std::filesystem;

struct HubSource {
  const char* task;
  std::vector<FetchFile> files;
  const char* manual;  // when `files` is empty: where to get the data by hand
};

const std::vector<HubSource>& sources() {
  static const std::vector<HubSource> s = {
      {"math500", {{"HuggingFaceH4/MATH-500", "main", "test.jsonl", "math500/test.jsonl", ""}}, ""},
      {"aime24", {},
       "hub copies are parquet; take evaluation/data/aime24/test.jsonl from github.com/QwenLM/Qwen2.5-Math as "
       "DATA/aime2024/test.jsonl"},
      {"aime25", {{"math-ai/aime25", "main", "test.jsonl", "aime2025/test.jsonl", ""}}, ""},
      {"livecodebench",
       {{"livecodebench/code_generation_lite", "main", "test.jsonl", "livecodebench/test.jsonl", ""},
        {"livecodebench/code_generation_lite", "main", "test2.jsonl", "livecodebench/test2.jsonl", ""},
        {"livecodebench/code_generation_lite", "main", "test3.jsonl", "livecodebench/test3.jsonl", ""},
        {"livecodebench/code_generation_lite", "main", "test4.jsonl", "livecodebench/test4.jsonl", ""},
        {"livecodebench/code_generation_lite", "main", "test5.jsonl", "livecodebench/test5.jsonl", ""},
        {"livecodebench/code_generation_lite", "main", "test6.jsonl", "livecodebench/test6.jsonl", ""}},
       ""},
      {"gpqa_diamond", {},
       "the GPQA authors publish dataset.zip (password protected) at github.com/idavidrein/gpqa; save it as "
       "DATA/gpqa/gpqa_diamond.zip (the loader reads its member dataset/gpqa_diamond.csv)"},
      {"mmlu", {},
       "the hub copy (cais/mmlu) is parquet; unpack hendrycks' data.tar (people.eecs.berkeley.edu/~hendrycks/data.tar) "
       "so that DATA/mmlu/test/<subject>_test.csv exist"},
      {"mmlu_pro", {},
       "the hub copy (TIGER-Lab/MMLU-Pro) is parquet; export its test split to JSON Lines as DATA/mmlu_pro/test.jsonl"},
      {"gsm8k", {},
       "the hub copy (openai/gsm8k) is parquet; take grade_school_math/data/test.jsonl from "
       "github.com/openai/grade-school-math as DATA/gsm8k/test.jsonl"},
      {"humaneval", {},
       "the hub copy (openai/openai_humaneval) is parquet; take data/HumanEval.jsonl.gz from "
       "github.com/openai/human-eval as DATA/humaneval/HumanEval.jsonl.gz"},
      {"codeforces", {},
       "there is no official source; write problem packages as DATA/codeforces/<problem>.json "
       "(see docs/codeforces_format.md); contest standings for ratings: `reval data fetch codeforces --contest ID`"},
  };
  return s;
}

}  // namespace

std::string hub_file_url(std::string_view hub_url, const FetchFile& f) {
  Url h = parse_url(hub_url, "hub URL");
  return fmt::format("{}{}/datasets/{}/resolve/{}/{}", h.origin(), h.path, f.repo, f.revision, f.path);
}

std::vector<FetchFile> fetch_plan(std::string_view task) {
  task_info(task);  // unknown task -> error listing the known ones
  for (const auto& s : sources())
    if (s.task == task) {
      if (s.files.empty())
        throw Error(fmt::format("{}: no downloadable copy on the Hugging Face Hub in a format reval reads: {}", task,
                                s.manual));
      return s.files;
    }
  throw Error(fmt::format("{}: no download source is known", task));
}

FetchResult fetch_file(const FetchFile& file, const FetchOptions& o) {
  auto log = o.log ? o.log : [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  FetchFile f = file;
  if (!o.revision.empty()) f.revision = o.revision;
  if (o.data_dir.empty()) throw Error("data fetch: no data directory given");
  FetchResult result;
  result.dest_path = (fs::path(o.data_dir) / f.dest).string();
  std::error_code ec;

  if (!o.force && fs::is_regular_file(result.dest_path, ec)) {
    result.sha256 = sha256_file(result.dest_path);
    if (!o.verify || f.sha256.empty() || result.sha256 == f.sha256) {
      result.skipped = true;
      result.bytes = fs::file_size(result.dest_path, ec);
      log(fmt::format("{}: already present ({})", f.dest, human_bytes(result.bytes)));
      return result;
    }
    log(fmt::format("{}: present but its sha256 differs; downloading again", f.dest));
  }
  if (o.force) fs::remove(result.dest_path + ".part", ec);

  DownloadOptions d;
  d.label = f.dest;
  d.token = o.token;
  d.sha256 = o.verify ? f.sha256 : std::string();
  d.compute_sha256 = true;
  d.max_attempts = o.max_attempts;
  d.log = log;
  DownloadResult r = download_file(hub_file_url(default_hub_url(o.hub_url), f), result.dest_path, d);
  result.bytes = r.bytes;
  result.resumes = r.resumes;
  result.sha256 = r.sha256;
  return result;
}

std::vector<FetchResult> fetch_task_data(std::string_view task, const FetchOptions& options) {
  std::vector<FetchResult> out;
  for (const auto& f : fetch_plan(task)) out.push_back(fetch_file(f, options));
  return out;
}

std::string codeforces_api_url(const std::string& api_url) {
  std::string url = api_url;
  if (url.empty())
    if (const char* v = std::getenv("REVAL_CODEFORCES_API"); v && *v) url = v;
  if (url.empty()) url = "https://codeforces.com/api";
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

namespace {

// A cached API reply must be JSON with status "OK" and a result; anything else is removed so that the next run
// fetches it again.
void check_api_reply(const std::string& path) {
  std::string problem, field;
  try {
    auto j = nlohmann::json::parse(read_file(path));
    if (!j.is_object() || !j.contains("status")) {
      field = "status";
      problem = "missing (not a Codeforces API reply)";
    } else if (j["status"] != "OK") {
      field = "status";
      problem = fmt::format("the API answered {}{}", j["status"].dump(),
                            j.contains("comment") ? ": " + j["comment"].dump() : std::string());
    } else if (!j.contains("result")) {
      field = "result";
      problem = "missing";
    }
  } catch (const nlohmann::json::exception& e) {
    problem = std::string("invalid JSON: ") + e.what();
  }
  if (problem.empty()) return;
  std::error_code ec;
  std::filesystem::remove(path, ec);
  fail_at(path, 0, field, problem + " (file removed)");
}

}  // namespace

std::vector<FetchResult> fetch_codeforces_contests(const std::vector<std::int64_t>& contest_ids,
                                                   const FetchOptions& o, const CodeforcesFetchOptions& cf) {
  auto log = o.log ? o.log : [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  if (o.data_dir.empty()) throw Error("data fetch: no data directory given");
  if (contest_ids.empty()) throw Error("field 'contest': no contest ids given");
  std::string api = codeforces_api_url(cf.api_url);
  std::vector<FetchResult> out;
  bool called = false;
  for (std::int64_t id : contest_ids) {
    if (id <= 0) throw Error(fmt::format("field 'contest': {} is not a contest id", id));
    std::string rel = fmt::format("codeforces/contests/{}/", id);
    const std::pair<std::string, std::string> files[] = {
        {"standings.json", fmt::format("{}/contest.standings?contestId={}&showUnofficial=false", api, id)},
        {"rating_changes.json", fmt::format("{}/contest.ratingChanges?contestId={}", api, id)}};
    for (const auto& [name, url] : files) {
      FetchResult r;
      r.dest_path = (std::filesystem::path(o.data_dir) / (rel + name)).string();
      std::error_code ec;
      if (!o.force && std::filesystem::is_regular_file(r.dest_path, ec)) {
        r.skipped = true;
        r.bytes = std::filesystem::file_size(r.dest_path, ec);
        log(fmt::format("{}{}: already present", rel, name));
        out.push_back(r);
        continue;
      }
      if (o.force) std::filesystem::remove(r.dest_path + ".part", ec);
      if (called && cf.request_interval_s > 0)
        std::this_thread::sleep_for(std::chrono::duration<double>(cf.request_interval_s));
      called = true;
      DownloadOptions d;
      d.label = rel + name;
      d.token_env.clear();  // anonymous: no $HF_TOKEN to a non-Hub server
      d.max_attempts = o.max_attempts;
      d.log = log;
      DownloadResult dr;
      try {
        dr = download_file(url, r.dest_path, d);
      } catch (const Error& e) {
        std::string msg = e.what();
        if (msg.find("HTTP 400") != std::string::npos)
          msg += " (Codeforces answers 400 for an unknown contest or one without standings or rating changes)";
        throw Error(fmt::format("contest {}: {}", id, msg));
      }
      check_api_reply(r.dest_path);
      r.bytes = dr.bytes;
      r.resumes = dr.resumes;
      out.push_back(r);
    }
  }
  return out;
}

}  // namespace reval
