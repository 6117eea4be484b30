// `reval data fetch`: downloads a task's official files from the Hugging Face Hub
// ({hub}/datasets/{repo}/resolve/{revision}/{path}) into the data directory layout the loaders read, and
// (`reval data fetch codeforces --contest ID,...`) caches Codeforces contest standings and rating changes for the
// standings-based rating (results/codeforces_rating.hpp).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace reval {

struct FetchFile {
  std::string repo;               // dataset repository on the hub, e.g. "HuggingFaceH4/MATH-500"
  std::string revision = "main";  // branch, tag or commit
  std::string path;               // file inside the repository
  std::string dest;               // destination relative to the data directory, e.g. "math500/test.jsonl"
  std::string sha256;             // expected lowercase hex digest; empty when no checksum is known
};

struct FetchOptions {
  std::string data_dir;
  std::string hub_url;            // empty: $HF_ENDPOINT, else https://huggingface.co
  std::string token;              // empty: $HF_TOKEN (sent as a bearer token)
  std::string revision;           // overrides every file's revision when set
  bool verify = true;             // check sha256 when one is known
  bool force = false;             // download again even if the destination exists
  int max_attempts = 5;           // a dropped connection resumes from the .part file up to this many times
  // Progress and notes (one line each); default: written to stderr.
  std::function<void(const std::string&)> log;
};

struct FetchResult {
  std::string dest_path;
  std::uint64_t bytes = 0;
  bool skipped = false;           // already present (and verified when a checksum is known)
  int resumes = 0;                // how many times a Range request continued a partial download
  std::string sha256;             // digest of the file on disk
};

// The hub files of a task. Throws reval::Error, explaining where to get the files by hand, for tasks whose
// official data is not on the hub in a format the loaders read.
std::vector<FetchFile> fetch_plan(std::string_view task);
std::vector<FetchResult> fetch_task_data(std::string_view task, const FetchOptions& options);
// Downloads one file: into DEST.part (resumed with a Range request when it exists), checks size and sha256, then
// renames it to DEST. HTTP errors (404, 401) fail at once; dropped connections are retried.
FetchResult fetch_file(const FetchFile& file, const FetchOptions& options);
std::string hub_file_url(std::string_view hub_url, const FetchFile& file);

struct CodeforcesFetchOptions {
  std::string api_url;              // empty: $REVAL_CODEFORCES_API, else https://codeforces.com/api
  double request_interval_s = 2.0;  // pause between API calls (Codeforces allows one call per 2 seconds)
};

// For each contest, saves the API's replies unchanged as
//   DATA/codeforces/contests/<id>/standings.json       contest.standings?contestId=<id>&showUnofficial=false
//   DATA/codeforces/contests/<id>/rating_changes.json  contest.ratingChanges?contestId=<id>
// through the resumable downloader. Files already present are kept (unless options.force), so running the same
// command again after an interruption fetches only what is missing. A reply that is not valid JSON with status "OK"
// is removed again and reported, naming the file and the field. No token is sent. Returns one result per file.
std::vector<FetchResult> fetch_codeforces_contests(const std::vector<std::int64_t>& contest_ids,
                                                   const FetchOptions& options,
                                                   const CodeforcesFetchOptions& cf = {});
std::string codeforces_api_url(const std::string& api_url = {});

}  // namespace reval
