// HTTP downloads: one resumable, checked downloader for model files (model/hub) and benchmark data (tasks/fetch).
//
// Theory of operation.
// download_file() streams one URL into DEST.part. If a .part file exists (an earlier attempt or process was
// interrupted) the request carries "Range: bytes=N-"; a 206 reply is appended, a 200 reply (server ignored the
// range) restarts the file, a 416 (the .part is longer than the file) discards it. A dropped connection or a short
// body (fewer bytes than Content-Length) triggers another attempt that resumes the same way, up to max_attempts.
// HTTP errors (404, 401, ...) fail at once, without retries. Redirects (a hub sends files to its CDN) are followed.
// Once complete the size is checked against the server's length, the sha256 against the expected digest (when
// given), and the .part file is renamed over DEST, so DEST only ever holds a complete, verified file.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace reval {

using DownloadLog = std::function<void(const std::string&)>;

struct DownloadOptions {
  std::string label;              // name used in progress lines and errors (default: the destination path)
  std::string token;              // bearer token; empty: the value of $token_env (when set)
  std::string token_env = "HF_TOKEN";  // environment variable read when `token` is empty ("" = none)
  std::string sha256;             // expected lowercase hex digest; empty: not checked
  bool compute_sha256 = false;    // report the digest even when none is expected
  bool missing_ok = false;        // a 404 returns {missing = true} instead of throwing
  int max_attempts = 5;           // a dropped connection resumes from the .part file up to this many times
  DownloadLog log;                // progress and notes, one line each; default: stderr
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

// The Hugging Face Hub base URL (models and datasets): `hub_url` when set, else $HF_ENDPOINT, else
// https://huggingface.co.
std::string default_hub_url(const std::string& hub_url = {});

// The value of environment variable `name`, or `fallback` when it is unset or empty.
std::string env_or(const char* name, const std::string& fallback);

}  // namespace reval
