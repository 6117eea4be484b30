// Backend factory: turns a backend name plus BackendOptions into a Backend.
//
// Theory of operation: the harness never constructs backends directly; it fills one BackendOptions from the CLI /
// config (every field has a usable default) and calls make_backend(name, opts). "replay", "openai" and "native"
// (the in-process engine, model/backends/native_backend.hpp) are built in; register_backend() adds or replaces
// makers (tests use this to inject fakes). Registration is thread-safe; a later registration under the same name
// replaces the earlier one. Unknown names throw reval::Error listing the known ones.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/backend.hpp"

namespace reval {

struct BackendOptions {
  // --- all backends ---
  std::string model;        // native: checkpoint dir; openai: served model name ("" = first id from GET /models);
                            // replay: label recorded in BackendInfo ("" = "replay:<file>")
  int concurrency = 8;      // openai: max requests in flight (max_concurrency() and an internal semaphore)
  int threads = 0;          // native: CPU threads (0 = engine default)
  std::string chat_template;  // path of a chat template file overriding the model's. native: passed on;
                              // openai chat endpoint: sent as the vLLM/SGLang "chat_template" request field;
                              // openai completions endpoint: used to render the prompt (see `render`)
  nlohmann::json native = nlohmann::json::object();  // native engine options (see native_options_from_json:
                                                     // kv_memory, max_running, max_step_tokens, block_size, ...)

  // --- replay ---
  std::string replay_file;  // JSONL of completions (see model/backends/replay_backend.hpp)

  // --- openai ---
  std::string base_url = "http://127.0.0.1:8000/v1";  // http:// or https://, optional path prefix
  // Several servers (replicas, a data-parallel deployment's ranks): requests spread over them by load, all samples
  // of a problem to one server, failing servers out of rotation for a while (model/backends/server_pool.hpp).
  // Non-empty: replaces base_url.
  std::vector<std::string> base_urls;
  std::string served_model_name;  // the "model" sent in requests; "" = `model` ("" there too: GET /models)
  // Folder with tokenizer.json (and tokenizer_config.json, a chat template) of the served model: counts prompt and
  // completion tokens, renders completions prompts, tells whether the server adds a BOS. "" = `model` when it is
  // such a folder, else none (token counts are then estimated or unknown).
  std::string tokenizer;
  // Context length of the servers in tokens (prompt + completion); 0 = max_model_len from GET /models when the
  // server offers it (vLLM does), else unknown. max_tokens is capped to it minus the prompt's tokens.
  int context_length = 0;
  int breaker_failures = 3;        // several servers: consecutive failures that take one out of rotation
  double breaker_initial_s = 5;    // its first time out of rotation (doubling per trip in a row)
  double breaker_max_s = 120;
  std::string api_key_env = "OPENAI_API_KEY";         // env var holding the key; unset/empty = no auth header
  std::string endpoint = "chat";                      // "chat" (/chat/completions) | "completions" (/completions)
  double timeout_s = 600;          // read/write timeout of one HTTP request (per socket operation; the server
                                   // sends nothing until a non-streamed completion is done, so ~whole request)
  double connect_timeout_s = 30;   // TCP/TLS connect timeout
  std::string ca_cert_file;        // https: PEM bundle to verify the server against ("" = system CA store)
  int max_retries = 5;             // retries after the first attempt (429, 408, 5xx, timeouts, connection errors,
                                   // unparseable 200 bodies)
  double backoff_initial_s = 1;    // first retry delay; doubles per retry, capped at backoff_max_s, with jitter
  double backoff_max_s = 60;
  bool request_n = true;           // true: one request with n = #samples; false: one request per sample
  nlohmann::json extra = nlohmann::json::object();  // JSON merge-patch applied to every request body (null deletes)
  // completions endpoint only: renders the chat into the prompt string. Empty: the backend renders with the chat
  // template of the tokenizer folder (`tokenizer`, else `model` when it is a folder) or the `chat_template` file,
  // else joins contents with "\n".
  std::function<std::string(const std::vector<ChatMessage>&)> render;
  std::string chat_template_id;    // provenance id of `render`'s template, reported in BackendInfo
  // Optional diagnostics sink (e.g. the CLI's stderr logger): one line per retried attempt. May be called from
  // several threads at once. Never receives the API key. Empty: silent.
  std::function<void(const std::string&)> log;
};

using BackendMaker = std::function<std::unique_ptr<Backend>(const BackendOptions&)>;

// Registers (or replaces) a backend under `name`. Built-in names ("replay", "openai", "native") may be overridden.
void register_backend(const std::string& name, BackendMaker maker);
// True if `name` can be made (built in or registered).
bool has_backend(const std::string& name);
// Sorted list of the names make_backend accepts.
std::vector<std::string> backend_names();

// Builds the named backend. Throws reval::Error for an unknown/unavailable name or invalid options (e.g. a
// malformed replay file, a bad base_url, an unknown endpoint).
std::unique_ptr<Backend> make_backend(const std::string& name, const BackendOptions& opts);

}  // namespace reval
