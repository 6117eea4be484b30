// OpenAI-compatible HTTP backend: vLLM, SGLang, TGI, llama.cpp server, or any server speaking the OpenAI
// /v1/chat/completions or /v1/completions API (non-streaming).
//
// Theory of operation
// - Endpoint. endpoint "chat" POSTs {prefix}/chat/completions with `messages` (the server applies its own chat
//   template; an override file in BackendOptions::chat_template is sent as the vLLM/SGLang "chat_template" field).
//   endpoint "completions" POSTs {prefix}/completions with `prompt` rendered by reval, with the first that applies:
//   BackendOptions::render (the caller's renderer); the chat template of the directory named by `model` (vLLM
//   serves a local checkpoint under its path), with `chat_template` as override file; the `chat_template` file
//   alone (bos/eos tokens then undefined); else the message contents joined with "\n". Templates are rendered with
//   add_generation_prompt = true; BackendInfo::chat_template_id reports the template's source hash (or
//   BackendOptions::chat_template_id with a caller renderer, "join-contents" for the fallback).
// - Body. model, temperature, top_p, max_tokens (= max_new_tokens), seed, n, stop (only when non-empty), and
//   top_k / min_p only when set (> 0), which vLLM/SGLang accept as top-level extra parameters. Then
//   BackendOptions::extra is applied as a JSON merge patch (RFC 7386: a null value deletes a key, e.g.
//   {"seed": null} for servers that reject it).
// - Samples per request. request_n = true: one request with n = #sample_indices; its seed is the first requested
//   sample's per-sample seed (sample_seed(run seed, task, problem, index)) and every returned Completion reports
//   that request seed, since the server derives all n samples from it. Choice i (by its "index" field, else
//   position) becomes sample_indices[i]. (vLLM derives distinct per-choice randomness from the one seed; a server
//   that would instead reuse it for every choice returns n identical samples: use extra {"seed": null} or
//   request_n = false with such a server.) request_n = false: one request per sample with n = 1 and that sample's own
//   seed, run in parallel worker threads (bounded by the semaphore below) within one generate() call.
// - Response. Per choice: text (completions) or message.content (chat; null -> ""). If the message carries
//   reasoning_content (or "reasoning", newer vLLM) the text becomes "<think>\n" + reasoning + "\n</think>\n" +
//   content, i.e. what the model actually produced before the server split it, so graders see one transcript.
//   finish_reason "length" -> length; "abort"/"error" -> error sample; anything else (stop, eos, null, ...) ->
//   stop. usage.prompt_tokens applies to every choice. usage.completion_tokens is used directly when n == 1; for
//   n > 1 a choice's completion tokens are -1 unless the choice itself reports them ("completion_tokens" or
//   "usage.completion_tokens" on the choice).
// - Concurrency. max_concurrency() = BackendOptions::concurrency, and an internal counting semaphore caps HTTP
//   requests in flight across all threads at the same number (held only during an attempt, not while backing off).
// - Retries. 429, 408, 5xx, connection errors, timeouts and 2xx bodies that are not a valid completion response
//   are retried up to max_retries times: delay = min(backoff_max, backoff_initial * 2^retry) scaled by a random
//   factor in [0.5, 1]; a Retry-After header (seconds) replaces the computed delay (capped at backoff_max).
//   Other 4xx are not retried. When a request finally fails, every sample it carried gets Completion::error with
//   the reason (the server's error message where it sent one) -> infra_error samples. generate() never throws for
//   server/network trouble.
// - Auth. "Authorization: Bearer $<api_key_env>" when that variable is set and non-empty; the key is never put in
//   an error message or log.
// - URLs. http:// and https:// (OpenSSL; the certificate is always verified, against BackendOptions::ca_cert_file
//   when set, else the system CA store); port defaults to 80/443; the path
//   part of base_url (e.g. /v1) prefixes every endpoint. Timeouts: connect_timeout_s for connecting, timeout_s for
//   each read/write (a non-streamed completion sends nothing until done, so this bounds the whole generation).
// - Model. An empty BackendOptions::model is resolved once, lazily, from GET {prefix}/models (first id).
// - latency_s is the wall time from the sample's first attempt to its response, retries included.
#pragma once
#include "base/url.hpp"
#include <memory>
#include <string>

#include "model/backends.hpp"

namespace reval {

std::unique_ptr<Backend> make_openai_backend(const BackendOptions& opts);

// Split of a base URL, exposed for tests. Throws reval::Error on an unsupported scheme or malformed URL.
// The server URL of BackendOptions::base_url (base/url.hpp rules; errors name "base_url").
Url parse_base_url(const std::string& url);

}  // namespace reval
