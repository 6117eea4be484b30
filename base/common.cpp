// Implementations of the small shared pieces declared in error.hpp, jsonl.hpp, verdict.hpp and finish_reason.hpp.
#include <array>
#include <fstream>
#include <sstream>

#include <zlib.h>

#include "base/error.hpp"
#include "base/finish_reason.hpp"
#include "base/jsonl.hpp"
#include "base/verdict.hpp"

namespace reval {

std::string where(std::string_view file, std::int64_t line, std::string_view field) {
  std::string out(file);
  if (line > 0) out += (out.empty() ? "line " : ":") + std::to_string(line);
  if (!field.empty()) {
    if (!out.empty()) out += ": ";
    out += "field '";
    out += field;
    out += "'";
  }
  return out;
}

void fail_at(std::string_view file, std::int64_t line, std::string_view field, std::string_view message) {
  std::string w = where(file, line, field);
  throw Error(w.empty() ? std::string(message) : w + ": " + std::string(message));
}

namespace {
constexpr std::array<std::string_view, 9> kVerdictNames = {
    "correct", "wrong", "no_answer", "compile_error", "runtime_error",
    "time_limit", "memory_limit", "output_limit", "infra_error"};

}  // namespace

std::string_view to_string(Verdict v) { return kVerdictNames.at(static_cast<size_t>(v)); }

std::optional<Verdict> verdict_from_string(std::string_view s) {
  for (size_t i = 0; i < kVerdictNames.size(); ++i)
    if (kVerdictNames[i] == s) return static_cast<Verdict>(i);
  return std::nullopt;
}

std::string to_string(FinishReason r) {
  switch (r) {
    case FinishReason::stop: return "stop";
    case FinishReason::length: return "length";
    case FinishReason::error: return "error";
  }
  return "error";
}

FinishReason finish_reason_from_string(std::string_view s) {
  if (s == "length") return FinishReason::length;
  if (s == "error") return FinishReason::error;
  return FinishReason::stop;
}

std::string read_file(const std::string& path) {
  bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  if (gz) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) throw Error(path + ": cannot open");
    std::string out;
    std::array<char, 1 << 16> buf{};
    int n;
    while ((n = gzread(f, buf.data(), buf.size())) > 0) out.append(buf.data(), static_cast<size_t>(n));
    int err = 0;
    const char* msg = gzerror(f, &err);
    std::string emsg = (n < 0 && msg) ? msg : "";
    gzclose(f);
    if (n < 0) throw Error(path + ": gzip error: " + emsg);
    return out;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path + ": read error");
  return ss.str();
}

void for_each_jsonl(std::string_view text, const std::function<void(JsonlLine&)>& fn) {
  std::int64_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    JsonlLine rec;
    rec.line = line_no;
    rec.raw = std::string(line);
    if (!is_valid_utf8(line)) {
      rec.error = "invalid UTF-8";
    } else {
      try {
        rec.value = nlohmann::json::parse(line);
      } catch (const nlohmann::json::parse_error& e) {
        rec.error = std::string("invalid JSON: ") + e.what();
      }
    }
    fn(rec);
  }
}

void for_each_jsonl_file(const std::string& path, const std::function<void(JsonlLine&)>& fn) {
  for_each_jsonl(read_file(path), fn);
}

}  // namespace reval
