// Hugging Face Hub models: resolve_model_dir() turns "org/name[@revision]" into a local checkpoint folder in the
// user cache, downloading with base/http.hpp's resumable, checked downloader.
//
// Theory of operation.
// resolve_model_dir() returns an existing directory unchanged. Otherwise, if the argument is a hub id, it fills
// CACHE/models/<org>--<name>/<revision>/ with the checkpoint files (config.json required; generation_config.json,
// tokenizer.json, tokenizer_config.json, chat_template.jinja optional, a 404 is fine; then every shard named by
// model.safetensors.index.json, or model.safetensors when there is no index). Files already in the folder are
// complete (download_file only renames finished files), so an interrupted resolve resumes where it stopped: kept
// files are not requested again and a leftover .part continues with a Range request. After the last file a marker
// (.reval-complete, JSON listing the files) is written; a folder with the marker is returned without any network
// access as long as the listed files exist. A lock file (flock) serialises processes resolving the same folder.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/http.hpp"

namespace reval {

using HubLog = DownloadLog;


struct HubOptions {
  std::string hub_url;            // empty: $HF_ENDPOINT, else https://huggingface.co
  std::string token;              // empty: $HF_TOKEN
  std::string revision = "main";  // branch, tag or commit; "org/name@rev" in the id takes precedence
  std::string cache_dir;          // empty: $REVAL_CACHE, else $XDG_CACHE_HOME/reval, else ~/.cache/reval
  int max_attempts = 5;
  HubLog log;                     // default: stderr
};

struct HubModelId {
  std::string org, name, revision;  // revision empty when the id names none
};
// True (and fills `out`) when `s` looks like "org/name" or "org/name@revision".
bool parse_hub_model_id(std::string_view s, HubModelId* out = nullptr);
// The cache root ($REVAL_CACHE, $XDG_CACHE_HOME/reval or ~/.cache/reval) unless `cache_dir` is set.
std::string model_cache_root(const std::string& cache_dir = {});
// {hub}/{org}/{name}/resolve/{revision}/{path}
std::string hub_model_file_url(std::string_view hub_url, const HubModelId& id, std::string_view path);

// `model` unchanged when it is an existing directory; else downloads the hub id into the cache and returns that
// folder. Throws reval::Error when `model` is neither, or when the download fails.
std::string resolve_model_dir(const std::string& model, const HubOptions& options = {});

}  // namespace reval
