// Hugging Face Hub downloads: one resumable, checked HTTP downloader (used by the model cache below and by
// `reval data fetch` in tasks/fetch.cpp), and resolve_model_dir(), which turns "org/name[@revision]" into a local
// checkpoint folder in the user cache.
//
// Theory of operation.
// download_file() streams one URL into DEST.part. If a .part file exists (an earlier attempt or process was
// interrupted) the request carries "Range: bytes=N-"; a 206 reply is appended, a 200 reply (server ignored the
// range) restarts the file, a 416 (the .part is longer than the file) discards it. A dropped connection or a short
// body (fewer bytes than Content-Length) triggers another attempt that resumes the same way, up to max_attempts.
// HTTP errors (404, 401, ...) fail at once, without retries. Redirects (the hub sends files to its CDN) are followed.
// Once complete the size is checked against the server's length, the sha256 against the expected digest (when
// given), and the .part file is renamed over DEST, so DEST only ever holds a complete, verified file.
//
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

namespace reval {

using HubLog = std::function<void(const std::string&)>;

struct DownloadOptions {
  std::string label;              // name used in progress lines and errors (default: the destination path)
  std::string token;              // bearer token; empty: $HF_TOKEN
  bool anonymous = false;         // send no token at all (downloads from sites other than the hub)
  std::string sha256;             // expected lowercase hex digest; empty: not checked
  bool compute_sha256 = false;    // report the digest even when none is expected
  bool missing_ok = false;        // a 404 returns {missing = true} instead of throwing
  int max_attempts = 5;           // a dropped connection resumes from the .part file up to this many times
  HubLog log;                     // progress and notes, one line each; default: stderr
};

struct DownloadResult {
  std::uint64_t bytes = 0;
  int resumes = 0;                // how many times a Range request continued a partial download
  std::string sha256;             // digest of the file (when expected or compute_sha256)
  bool missing = false;           // 404 with missing_ok: nothing was written
};

// Downloads URL ("http[s]://host[:port]/path") into DEST via DEST.part; see the theory of operation. Creates DEST's
// parent folders. Throws reval::Error naming the URL on HTTP errors, after max_attempts dropped transfers (the
// .part is kept for a later resume) and on a checksum mismatch (the download is discarded).
DownloadResult download_file(const std::string& url, const std::string& dest, const DownloadOptions& options);

// The hub base URL: `hub_url` when set, else $HF_ENDPOINT, else https://huggingface.co.
std::string default_hub_url(const std::string& hub_url = {});
// SHA-256 of a file's contents, lowercase hex.
std::string sha256_file(const std::string& path);

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
