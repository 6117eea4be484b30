// Implementation of results/sample_export.hpp: one SampleStore::for_each_sample stream per run, each row formatted
// into a reused buffer and written to the stream at once. JSON is written by hand (string escaping below, stored
// JSON columns copied verbatim) so that a 100k-sample export parses nothing.
#include "results/sample_export.hpp"

#include <cmath>

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/utf8.hpp"
#include "results/report.hpp"

namespace reval {

namespace {

void append_escaped_valid(std::string& out, std::string_view s, bool html_safe) {
  static const char* hex = "0123456789abcdef";
  std::size_t run = 0;  // start of the pending run of characters copied as they are
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    bool plain = c >= 0x20 && c != '"' && c != '\\' && !(html_safe && (c == '<' || c == '>' || c == '&'));
    if (plain) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
}

std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string number(double v) { return std::isfinite(v) ? fmt::format("{}", v) : std::string(); }

// A completion as stored, or its head and tail around a note of what was left out.
std::string completion_text(const SampleDetail& d) {
  if (!d.completion_cut) return d.sample.completion;
  std::int64_t kept = 0;
  for (unsigned char c : d.sample.completion) kept += (c & 0xC0) != 0x80;
  for (unsigned char c : d.completion_tail) kept += (c & 0xC0) != 0x80;
  return d.sample.completion + fmt::format("\n[... {} of {} characters left out ...]\n", d.completion_chars - kept,
                                           d.completion_chars) +
         d.completion_tail;
}

// One row's values, shared by the JSONL and CSV writers. JSON-valued columns hold JSON text.
struct Row {
  const RunInfo& run;
  const SampleDetail& d;
  std::string status;
};

void write_jsonl(std::string& out, const Row& r, bool prompts) {
  const SampleDetail& d = r.d;
  const auto& g = d.grade;
  auto key = [&](const char* k) {
    if (out.back() != '{') out += ',';
    out += '"';
    out += k;
    out += "\":";
  };
  auto str = [&](const char* k, std::string_view v) {
    key(k);
    append_json_string(out, v);
  };
  auto raw = [&](const char* k, std::string_view v) {
    key(k);
    out += v;
  };
  auto opt_num = [&](const char* k, std::int64_t v) { raw(k, v < 0 ? std::string("null") : std::to_string(v)); };
  out += '{';
  str("run", r.run.name);
  raw("run_id", std::to_string(r.run.id));
  str("model", r.run.model);
  str("task", d.sample.key.task);
  str("problem_id", d.sample.key.problem_id);
  raw("sample_index", std::to_string(d.sample.key.sample_index));
  str("verdict", r.status);
  raw("correct", r.status == "correct" ? "true" : "false");
  raw("score", g ? (number(g->result.score).empty() ? "null" : number(g->result.score)) : "null");
  if (g && g->result.extracted) str("extracted", *g->result.extracted);
  else raw("extracted", "null");
  raw("gold", d.gold_json);
  str("finish_reason", d.sample.finish_reason);
  raw("truncated", d.sample.finish_reason == "length" ? "true" : "false");
  opt_num("prompt_tokens", d.sample.prompt_tokens);
  opt_num("completion_tokens", d.sample.completion_tokens);
  raw("completion_chars", std::to_string(d.completion_chars));
  raw("latency_s", number(d.sample.latency_s).empty() ? "null" : number(d.sample.latency_s));
  raw("seed", std::to_string(d.sample.seed));
  str("error", d.sample.error);
  if (g) {
    str("grader", g->grader);
    str("grader_version", g->grader_version);
  } else {
    raw("grader", "null");
    raw("grader_version", "null");
  }
  raw("grade_details", d.grade_details_json);
  raw("metadata", d.metadata_json);
  if (prompts) str("prompt", d.prompt);
  else raw("prompt", "null");
  str("completion", completion_text(d));
  str("created_at", d.sample.created_at);
  if (g) str("graded_at", g->created_at);
  else raw("graded_at", "null");
  out += "}\n";
}

void write_csv(std::string& out, const Row& r, bool prompts) {
  const SampleDetail& d = r.d;
  const auto& g = d.grade;
  auto opt_num = [](std::int64_t v) { return v < 0 ? std::string() : std::to_string(v); };
  std::string completion = completion_text(d);
  std::vector<std::string> c = {r.run.name,
                                std::to_string(r.run.id),
                                r.run.model,
                                d.sample.key.task,
                                d.sample.key.problem_id,
                                std::to_string(d.sample.key.sample_index),
                                r.status,
                                r.status == "correct" ? "true" : "false",
                                g ? number(g->result.score) : std::string(),
                                g && g->result.extracted ? sanitize_utf8(*g->result.extracted) : std::string(),
                                d.gold_json,
                                d.sample.finish_reason,
                                d.sample.finish_reason == "length" ? "true" : "false",
                                opt_num(d.sample.prompt_tokens),
                                opt_num(d.sample.completion_tokens),
                                std::to_string(d.completion_chars),
                                number(d.sample.latency_s),
                                std::to_string(d.sample.seed),
                                sanitize_utf8(d.sample.error),
                                g ? g->grader : std::string(),
                                g ? g->grader_version : std::string(),
                                d.grade_details_json,
                                d.metadata_json,
                                prompts ? sanitize_utf8(d.prompt) : std::string(),
                                is_valid_utf8(completion) ? std::move(completion) : sanitize_utf8(completion),
                                d.sample.created_at,
                                g ? g->created_at : std::string()};
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (i) out += ',';
    out += csv_field(c[i]);
  }
  out += "\r\n";
}

// ---- text ----

std::string indent_block(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 16);
  bool start = true;
  for (char c : text) {
    if (start) out += "  ";
    out += c;
    start = c == '\n';
  }
  if (!out.empty() && out.back() != '\n') out += '\n';
  return out;
}

// Byte length of the longest prefix of `s` with at most `bytes` bytes that does not split a character.
std::size_t utf8_prefix(const std::string& s, std::size_t bytes) {
  if (bytes >= s.size()) return s.size();
  while (bytes > 0 && (static_cast<unsigned char>(s[bytes]) & 0xC0) == 0x80) --bytes;
  return bytes;
}

std::string tokens_text(std::int64_t n) { return n < 0 ? std::string("?") : std::to_string(n); }

void write_text(std::string& out, const Row& r, bool prompts, std::string& last_problem) {
  const SampleDetail& d = r.d;
  const auto& k = d.sample.key;
  std::string problem = k.task + "\n" + k.problem_id;
  if (problem != last_problem) {
    last_problem = problem;
    out += fmt::format("\n==== {} / {} ====\n", k.task, k.problem_id);
    if (prompts) {
      out += d.has_problem ? "prompt (the user turn as the model saw it):\n" + indent_block(sanitize_utf8(d.prompt))
                           : std::string("prompt: (problem not stored)\n");
    }
    out += "gold: " + d.gold_json + "\n";
    if (d.metadata_json != "{}") out += "metadata: " + d.metadata_json + "\n";
  }
  const auto& g = d.grade;
  std::string answer = "(none)";
  if (g && g->result.extracted) {
    std::string a = sanitize_utf8(*g->result.extracted);
    answer = a.size() > 200 ? fmt::format("\"{}...\" (cut)", a.substr(0, utf8_prefix(a, 200))) : fmt::format("\"{}\"", a);
  }
  out += fmt::format("---- sample {} | {} | extracted {} | tokens {} prompt, {} completion | finish {} | {:.1f} s\n",
                     k.sample_index, r.status, answer, tokens_text(d.sample.prompt_tokens),
                     tokens_text(d.sample.completion_tokens),
                     d.sample.finish_reason.empty() ? "?" : d.sample.finish_reason, d.sample.latency_s);
  if (g)
    out += fmt::format("grader {} {} | score {} | details {}\n", g->grader, g->grader_version, number(g->result.score),
                       d.grade_details_json);
  if (!d.sample.error.empty()) out += "generation error: " + sanitize_utf8(d.sample.error) + "\n";
  std::string text = completion_text(d);
  out += text.empty() ? std::string("(empty completion)\n") : sanitize_utf8(text);
  if (!out.empty() && out.back() != '\n') out += '\n';
}

std::string run_header(const RunInfo& run) {
  std::string out = fmt::format("run {} (id {}): model {}, backend {}", run.name, run.id, run.model, run.backend);
  const auto& c = run.config;
  if (c.is_object()) {
    if (auto it = c.find("chat_template_id"); it != c.end() && it->is_string() && !it->get<std::string>().empty())
      out += ", chat template " + it->get<std::string>();
    if (auto it = c.find("system_prompt"); it != c.end() && it->is_string() && !it->get<std::string>().empty())
      out += "\nsystem prompt: " + it->get<std::string>();
  }
  return out + "\n";
}

}  // namespace

void append_json_string(std::string& out, std::string_view s, bool html_safe) {
  out += '"';
  if (is_valid_utf8(s)) append_escaped_valid(out, s, html_safe);
  else append_escaped_valid(out, sanitize_utf8(s), html_safe);
  out += '"';
}

SampleFormat sample_format_from_string(std::string_view s) {
  if (s == "text") return SampleFormat::text;
  if (s == "jsonl") return SampleFormat::jsonl;
  if (s == "csv") return SampleFormat::csv;
  throw Error(fmt::format("field 'format': unknown sample format '{}' (known: text, jsonl, csv)", s));
}

const std::vector<std::string>& sample_export_columns() {
  static const std::vector<std::string> c = {
      "run",         "run_id",        "model",         "task",           "problem_id",        "sample_index",
      "verdict",     "correct",       "score",         "extracted",      "gold",              "finish_reason",
      "truncated",   "prompt_tokens", "completion_tokens", "completion_chars", "latency_s",     "seed",
      "error",       "grader",        "grader_version", "grade_details", "metadata",          "prompt",
      "completion",  "created_at",    "graded_at"};
  return c;
}

SampleExportStats export_samples(SampleStore& store, const SampleExportOptions& options, std::ostream& out) {
  if (options.runs.empty()) throw Error("field 'run': no run given");
  if (options.max_chars < 0) throw Error("field 'max_chars': must be >= 0");
  std::vector<RunInfo> runs;
  for (const auto& name : options.runs) runs.push_back(resolve_run(store, name));
  SampleQuery q = options.query;
  for (const auto& v : q.statuses) check_sample_status(v, "verdict");
  q.with_problem = true;  // gold and metadata are part of every row
  if (options.max_chars > 0) {
    q.head_chars = options.max_chars / 4;
    q.tail_chars = options.max_chars - q.head_chars;
  } else {
    q.head_chars = -1;
    q.tail_chars = 0;
  }
  SampleExportStats stats;
  std::string buf;
  auto emit = [&] {
    out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (!out) throw Error("writing the samples failed (disk full or closed pipe?)");
    stats.bytes += static_cast<std::int64_t>(buf.size());
    buf.clear();
  };
  if (options.format == SampleFormat::csv) {
    const auto& cols = sample_export_columns();
    for (std::size_t i = 0; i < cols.size(); ++i) buf.append(i ? "," : "").append(cols[i]);
    buf += "\r\n";
    emit();
  }
  for (const auto& run : runs) {
    std::string last_problem;
    if (options.format == SampleFormat::text) {
      if (&run != &runs.front()) buf += '\n';
      buf += run_header(run);
      emit();
    }
    std::int64_t before = stats.rows;
    store.for_each_sample(run.id, q, [&](const SampleDetail& d) {
      Row r{run, d, sample_status(d.sample.error, d.grade)};
      switch (options.format) {
        case SampleFormat::jsonl: write_jsonl(buf, r, options.prompts); break;
        case SampleFormat::csv: write_csv(buf, r, options.prompts); break;
        case SampleFormat::text: write_text(buf, r, options.prompts, last_problem); break;
      }
      ++stats.rows;
      if (buf.size() >= (1u << 16)) emit();
    });
    if (options.format == SampleFormat::text && stats.rows == before) buf += "no samples match\n";
    if (!buf.empty()) emit();
  }
  out.flush();
  if (!out) throw Error("writing the samples failed (disk full or closed pipe?)");
  return stats;
}

}  // namespace reval
