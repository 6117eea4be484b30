// OpenAI-compatible HTTP backend: vLLM, SGLang, TGI, llama.cpp server, or any server speaking the OpenAI
// /v1/chat/completions or /v1/completions API (non-streaming), on one server or spread over several.
//
// Theory of operation
// - Endpoint. endpoint "chat" POSTs {prefix}/chat/completions with `messages` (the server applies its own chat
//   template; an override file in BackendOptions::chat_template is sent as the vLLM/SGLang "chat_template" field).
//   endpoint "completions" POSTs {prefix}/completions with `prompt` rendered by reval, with the first that applies:
//   BackendOptions::render (the caller's renderer); the chat template of the tokenizer folder
//   (BackendOptions::tokenizer, else `model` when it is a checkpoint folder: vLLM serves a local checkpoint under
//   its path), with `chat_template` as override file; the `chat_template` file alone (bos/eos tokens then
//   undefined); else the message contents joined with "\n". Templates are rendered with add_generation_prompt =
//   true; BackendInfo::chat_template_id reports the template's source hash (or BackendOptions::chat_template_id
//   with a caller renderer, "join-contents" for the fallback).
// - BOS (completions). Servers tokenize a completions prompt with special tokens added (vLLM's default), so a
//   tokenizer that prepends a BOS gets one from the server; a template that renders the BOS text as well would
//   give the model two. Whether the server adds one is read from the tokenizer (does encoding with special tokens
//   prepend the BOS id?), else tokenizer_config.json's add_bos_token, else unknown. When the rendered prompt starts
//   with the BOS text and the server adds one, the prompt is sent without it. What was decided is logged once and
//   reported in BackendInfo::details["bos"].
// - Names. The "model" sent is BackendOptions::served_model_name, else `model`, else the first id of GET
//   {prefix}/models.
// - Discovery. Before the first request, GET {prefix}/models of every server (once; retried only when the model
//   name must come from it): the served model's max_model_len (vLLM offers it) gives the context length unless
//   BackendOptions::context_length is set; the smallest over the servers is used. A model name the servers do not
//   list is warned about.
// - Body. model, temperature, top_p, max_tokens, seed, n, stop (only when non-empty), and top_k / min_p only when
//   set (> 0), which vLLM/SGLang accept as top-level extra parameters. max_tokens = max_new_tokens, capped to the
//   context length minus the prompt's tokens when the context length is known (logged: the first three caps, then
//   counts): the prompt is counted with the tokenizer when there is one (for chat: the folder's chat template
//   rendered and tokenized), else estimated from UTF-8 bytes plus an allowance for the chat template (an upper bound
//   for byte-level BPE tokenizers). A prompt that leaves no room gives error samples without a request. Then
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
//   stop. usage.prompt_tokens applies to every choice (the tokenizer's count when usage has none). Completion tokens
//   of a choice: its own count ("completion_tokens" or "usage.completion_tokens" on the choice) when the server
//   gives one, else usage.completion_tokens when n == 1, else (n > 1) the choice's text re-tokenized with the
//   tokenizer when there is one (the EOS that ended it is not in the text, so not counted), else -1 (unknown).
// - Servers. BackendOptions::base_urls (or base_url alone) form a ServerPool (server_pool.hpp): every problem
//   (one generate() call) is homed on the least loaded server in rotation, all its requests and retries go there
//   while it is in rotation (its prefix cache holds the prompt), and with two or more servers a failing one is taken
//   out of rotation and probed again later (circuit breaker: breaker_failures, breaker_initial_s, breaker_max_s).
//   A retry after a failure goes to another server in rotation at once when there is one; else it waits the
//   backoff below. A router or a data-parallel deployment behind one URL is simply one server.
// - Concurrency. max_concurrency() = BackendOptions::concurrency, and an internal counting semaphore caps HTTP
//   requests in flight across all threads and servers at the same number (held only during an attempt, not while
//   backing off).
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
