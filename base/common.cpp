// Implementations of the small shared pieces declared in error.hpp, jsonl.hpp, verdict.hpp and finish_reason.hpp.
#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
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

std::string gunzip(std::string_view data, std::string_view source, std::uint64_t max_bytes) {
  std::string out;
  std::size_t pos = 0;
  std::array<char, 1 << 16> buf{};
  do {  // one or more concatenated gzip members
    z_stream z{};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) throw Error(std::string(source) + ": gzip: cannot initialise zlib");
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + pos));
    z.avail_in = static_cast<uInt>(std::min<std::size_t>(data.size() - pos, UINT32_MAX));
    int rc = Z_OK;
    while (rc == Z_OK) {
      z.next_out = reinterpret_cast<Bytef*>(buf.data());
      z.avail_out = static_cast<uInt>(buf.size());
      rc = inflate(&z, Z_NO_FLUSH);
      out.append(buf.data(), buf.size() - z.avail_out);
      if (out.size() > max_bytes) {
        inflateEnd(&z);
        throw Error(fmt::format("{}: gzip: decompresses to more than {} bytes", source, max_bytes));
      }
      if (rc == Z_BUF_ERROR && z.avail_in == 0) break;  // input ended inside the member
    }
    std::string why = z.msg ? z.msg : "";
    pos = data.size() - z.avail_in;
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
      if (rc == Z_OK || rc == Z_BUF_ERROR)
        throw Error(fmt::format("{}: gzip: truncated (the stream ends before its trailer; the file is incomplete)",
                                source));
      throw Error(fmt::format("{}: gzip: corrupt data ({})", source, why.empty() ? "zlib error" : why));
    }
  } while (pos < data.size() && data.size() - pos >= 2 && static_cast<unsigned char>(data[pos]) == 0x1f &&
           static_cast<unsigned char>(data[pos + 1]) == 0x8b);
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path + ": read error");
  bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  if (gz) return gunzip(ss.str(), path);
  return ss.str();
}

std::string json_depth_error(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char ch : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (ch == '\\') escaped = true;
      else if (ch == '"') in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      if (++depth > max_depth) return "nested deeper than " + std::to_string(max_depth) + " levels";
    } else if (ch == ']' || ch == '}') {
      --depth;
    }
  }
  return "";
}

nlohmann::json parse_json(std::string_view text, std::string_view source) {
  if (std::string depth = json_depth_error(text); !depth.empty())
    throw Error(std::string(source) + ": invalid JSON: " + depth);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string(source) + ": invalid JSON: " + e.what());
  }
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
    } else if (std::string depth = json_depth_error(line); !depth.empty()) {
      rec.error = "invalid JSON: " + depth;
    } else {
      try {
        rec.value = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for 1e999999
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
