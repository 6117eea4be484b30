// Code loaders: LiveCodeBench (code_generation_lite JSONL, with private tests either plain JSON or
// base64(zlib(pickle(json str)))), Codeforces-style problem packages (docs/codeforces_format.md) and HumanEval.
// They fill Problem.grading to the code grader's contract:
//   {"mode": "stdio"|"functional"|"humaneval", "language", "tests": [{"input","output"}], "fn_name",
//    "starter_code", "time_limit" (s), "memory_limit" (MB), "checker"}
// LiveCodeBench functional tests keep the dataset's strings: `input` is newline-separated JSON arguments, `output`
// the JSON result.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/jsonl.hpp"
#include "tasks/formats.hpp"
#include "tasks/internal.hpp"

namespace reval::tasks_detail {
namespace {

constexpr double kLcbTimeLimit = 6.0;        // seconds per test, LCB's default evaluation timeout
constexpr double kLcbMemoryLimit = 1024.0;   // MB (LCB sets none; a generous cap)
constexpr double kHumanEvalTimeLimit = 10.0;

std::string lcb_file_name(int n) { return n == 1 ? "test.jsonl" : fmt::format("test{}.jsonl", n); }

// LCB release names: "release_vN" = files 1..N (cumulative, as the dataset's loader), "vN" = file N only,
// "vA_vB" = files A..B, "release_latest" / "latest" = every file present. Returns file numbers.
std::vector<int> lcb_release_files(const std::string& release, const std::string& dir) {
  auto num = [&](std::string_view s) -> int {
    if (s.size() < 2 || s[0] != 'v') return -1;
    int v = 0;
    for (char c : s.substr(1)) {
      if (c < '0' || c > '9') return -1;
      v = v * 10 + (c - '0');
    }
    return v >= 1 && v <= 99 ? v : -1;
  };
  std::vector<int> files;
  if (release.empty() || release == "release_latest" || release == "latest") {
    for (int n = 1; n <= 99; ++n) {
      std::error_code ec;
      if (std::filesystem::is_regular_file(join_path(dir, lcb_file_name(n)), ec)) files.push_back(n);
    }
    if (files.empty())
      throw Error(fmt::format("livecodebench: no test*.jsonl files in {} (run `reval data fetch livecodebench`)", dir));
    return files;
  }
  int a = -1, b = -1;
  if (release.starts_with("release_")) {
    a = 1;
    b = num(std::string_view(release).substr(8));
  } else if (auto us = release.find('_'); us != std::string::npos) {
    a = num(std::string_view(release).substr(0, us));
    b = num(std::string_view(release).substr(us + 1));
  } else {
    a = b = num(release);
  }
  if (a < 1 || b < a)
    throw Error(fmt::format("livecodebench: filter 'release': unknown release '{}' (use release_vN, vN, vA_vB or "
                            "release_latest)", release));
  for (int n = a; n <= b; ++n) files.push_back(n);
  return files;
}

Json parse_json_string(const std::string& text, const std::string& file, std::int64_t line, std::string_view name) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    fail_at(file, line, name, std::string("invalid JSON: ") + e.what());
  }
}

// Appends {input, output} tests from an LCB test list; returns the testtypes seen.
void append_lcb_tests(const Json& list, Json& tests, std::set<std::string>& types, const std::string& file,
                      std::int64_t line, std::string_view name) {
  if (!list.is_array()) fail_at(file, line, name, "expected a list of test cases");
  for (size_t k = 0; k < list.size(); ++k) {
    const Json& t = list[k];
    std::string where_field = fmt::format("{}[{}]", name, k);
    if (!t.is_object()) fail_at(file, line, where_field, "expected an object");
    for (const char* f : {"input", "output", "testtype"})
      if (!t.contains(f) || !t[f].is_string()) fail_at(file, line, where_field + "." + f, "missing or not a string");
    std::string type = t["testtype"];
    if (type != "stdin" && type != "functional")
      fail_at(file, line, where_field + ".testtype", "expected \"stdin\" or \"functional\", got \"" + type + "\"");
    types.insert(type);
    tests.push_back({{"input", t["input"]}, {"output", t["output"]}});
  }
}

std::string date_part(const std::string& iso) { return iso.substr(0, std::min<size_t>(iso.size(), 10)); }

bool valid_date(const std::string& d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
  for (size_t k : {0, 1, 2, 3, 5, 6, 8, 9})
    if (d[k] < '0' || d[k] > '9') return false;
  return true;
}

std::string filter_string(const Json& filters, const char* key, const char* task) {
  auto it = filters.find(key);
  if (it == filters.end() || it->is_null()) return {};
  if (!it->is_string()) throw Error(fmt::format("{}: filter '{}' must be a string", task, key));
  return it->get<std::string>();
}

void check_filter_keys(const Json& filters, const std::set<std::string>& known, const char* task) {
  if (filters.is_null()) return;
  if (!filters.is_object()) throw Error(fmt::format("{}: filters must be a JSON object", task));
  for (const auto& [key, value] : filters.items())
    if (!known.count(key)) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw Error(fmt::format("{}: unknown filter '{}' (known: {})", task, key, list));
    }
}

}  // namespace

std::vector<Problem> load_livecodebench(const LoadOptions& o) {
  const Json& filters = o.filters;
  check_filter_keys(filters, {"release", "date_from", "date_to", "platform", "difficulty"}, "livecodebench");
  std::string release = filter_string(filters, "release", "livecodebench");
  std::string from = filter_string(filters, "date_from", "livecodebench");
  std::string to = filter_string(filters, "date_to", "livecodebench");
  std::string platform = filter_string(filters, "platform", "livecodebench");
  std::string difficulty = filter_string(filters, "difficulty", "livecodebench");
  for (const auto* d : {&from, &to})
    if (!d->empty() && !valid_date(*d))
      throw Error(fmt::format("livecodebench: date filter '{}' is not YYYY-MM-DD", *d));
  std::string dir = join_path(o.data_dir, "livecodebench");
  std::vector<int> file_numbers = lcb_release_files(release, dir);
  std::string stdin_tmpl = template_text(o, kLcbStdinTemplate);
  std::string starter_tmpl = o.prompt_template ? stdin_tmpl : std::string(kLcbStarterTemplate);
  std::vector<Problem> out;
  std::set<std::string> seen;
  for (int n : file_numbers) {
    std::string file = require_file("livecodebench", o, "livecodebench/" + lcb_file_name(n));
    for_each_jsonl_file(file, [&](JsonlLine& l) {
      check_row(l, file);
      const Json& row = *l.value;
      const Json& qid = field(row, "question_id", file, l.line);
      std::string id = qid.is_string() ? qid.get<std::string>() : qid.dump();
      std::string date = string_field(row, "contest_date", file, l.line);
      if (!valid_date(date_part(date))) fail_at(file, l.line, "contest_date", "expected an ISO date, got '" + date + "'");
      std::string title = string_field(row, "question_title", file, l.line);
      std::string content = string_field(row, "question_content", file, l.line);
      std::string plat = string_field(row, "platform", file, l.line);
      std::string diff = string_field(row, "difficulty", file, l.line);
      std::string starter = string_field(row, "starter_code", file, l.line);
      const Json& contest = field(row, "contest_id", file, l.line);
      const Json& public_field = field(row, "public_test_cases", file, l.line);
      const Json& private_field = field(row, "private_test_cases", file, l.line);
      for (const auto& [f, name] : {std::pair{&public_field, "public_test_cases"}, {&private_field, "private_test_cases"}})
        if (!f->is_string() && !f->is_array()) fail_at(file, l.line, name, "expected a JSON string (or a list)");
      // `metadata` is a JSON string in the dataset; an already-decoded object (some re-exports) is accepted too.
      std::string meta_text = "{}";
      if (auto it = row.find("metadata"); it != row.end() && !it->is_null())
        meta_text = it->is_string() ? it->get<std::string>() : it->dump();
      if (!seen.insert(id).second) fail_at(file, l.line, "question_id", "duplicate id '" + id + "'");
      // Every row's plain fields are validated; filters apply before the (expensive) test decoding, so the private
      // tests of rows outside the window are not decoded (and not checked).
      std::string day = date_part(date);
      if (!from.empty() && day < from) return;
      if (!to.empty() && day > to) return;
      if (!platform.empty() && plat != platform) return;
      if (!difficulty.empty() && diff != difficulty) return;
      Json tests = Json::array();
      std::set<std::string> types;
      append_lcb_tests(public_field.is_array() ? public_field
                                               : parse_json_string(public_field.get<std::string>(), file, l.line,
                                                                   "public_test_cases"),
                       tests, types, file, l.line, "public_test_cases");
      size_t public_count = tests.size();
      std::string private_json;
      std::string trimmed = private_field.is_array() ? private_field.dump() : trim(private_field.get<std::string>());
      bool compressed = !trimmed.empty() && trimmed[0] != '[';
      if (!compressed) {
        private_json = trimmed.empty() ? "[]" : trimmed;
      } else {
        try {
          private_json = formats::unpickle_str(formats::zlib_inflate(formats::base64_decode(trimmed)));
        } catch (const Error& e) {
          fail_at(file, l.line, "private_test_cases", fmt::format("cannot decode base64/zlib/pickle: {}", e.what()));
        }
      }
      append_lcb_tests(parse_json_string(private_json, file, l.line, "private_test_cases"), tests, types, file, l.line,
                       "private_test_cases");
      if (types.size() > 1) fail_at(file, l.line, "public_test_cases", "mixes stdin and functional test cases");
      Json meta = parse_json_string(meta_text, file, l.line, "metadata");
      if (!meta.is_object()) fail_at(file, l.line, "metadata", "expected a JSON object");
      bool functional = types.count("functional") > 0;
      std::string fn_name;
      if (functional) {
        if (!meta.contains("func_name") || !meta["func_name"].is_string())
          fail_at(file, l.line, "metadata", "functional problem without a \"func_name\"");
        fn_name = meta["func_name"];
      }
      if (tests.empty()) fail_at(file, l.line, "public_test_cases", "problem has no test cases");

      Problem p;
      p.task = "livecodebench";
      p.id = id;
      Json vars = {{"question", content}, {"problem", content}, {"question_content", content},
                   {"starter_code", starter}, {"title", title}};
      p.prompt = render_prompt_template(starter.empty() ? stdin_tmpl : starter_tmpl, vars);
      p.grading = {{"mode", functional ? "functional" : "stdio"},
                   {"language", "python"},
                   {"tests", std::move(tests)},
                   {"starter_code", starter},
                   {"time_limit", kLcbTimeLimit},
                   {"memory_limit", kLcbMemoryLimit},
                   {"checker", "lcb"}};  // LiveCodeBench's own output comparison (graders/code)
      if (functional) p.grading["fn_name"] = fn_name;
      p.metadata = {{"title", title},
                    {"platform", plat},
                    {"contest_id", contest},
                    {"contest_date", date},
                    {"difficulty", diff},
                    {"public_tests", public_count},
                    {"private_tests_compressed", compressed},
                    {"file", lcb_file_name(n)}};
      out.push_back(std::move(p));
    });
  }
  return out;
}

std::size_t count_livecodebench_rows(const LoadOptions& o) {
  check_filter_keys(o.filters, {"release", "date_from", "date_to", "platform", "difficulty"}, "livecodebench");
  std::string dir = join_path(o.data_dir, "livecodebench");
  std::size_t rows = 0;
  for (int n : lcb_release_files(filter_string(o.filters, "release", "livecodebench"), dir)) {
    std::string file = require_file("livecodebench", o, "livecodebench/" + lcb_file_name(n));
    std::ifstream in(file, std::ios::binary);
    if (!in) throw Error("cannot read " + file);
    std::string line;
    while (std::getline(in, line))
      if (line.find_first_not_of(" \t\r") != std::string::npos) ++rows;
  }
  return rows;
}

// ---- Codeforces packages ----
namespace {

Json validate_checker(const Json& c, const std::string& file, const std::string& at) {
  if (c.is_null()) return "tokens";
  if (c.is_string()) {
    std::string s = c;
    if (s == "exact" || s == "tokens") return s;
    fail_at(file, 0, at + "checker", "expected \"exact\", \"tokens\" or an object, got \"" + s + "\"");
  }
  if (!c.is_object() || !c.contains("kind") || !c["kind"].is_string())
    fail_at(file, 0, at + "checker", "expected a string or an object with \"kind\"");
  std::string kind = c["kind"];
  if (kind == "exact" || kind == "tokens") return kind;
  if (kind == "float") {
    Json out = {{"kind", "float"}, {"abs", 1e-6}, {"rel", 1e-6}};
    for (const char* k : {"abs", "rel"})
      if (c.contains(k)) {
        if (!c[k].is_number() || c[k].get<double>() < 0)
          fail_at(file, 0, at + "checker." + k, "expected a non-negative number");
        out[k] = c[k];
      }
    return out;
  }
  if (kind == "custom") {
    if (!c.contains("source") || !c["source"].is_string() || c["source"].get<std::string>().empty())
      fail_at(file, 0, at + "checker.source", "custom checker needs its source code");
    std::string lang = c.value("language", "cpp");
    if (lang != "cpp" && lang != "python")
      fail_at(file, 0, at + "checker.language", "expected \"cpp\" or \"python\", got \"" + lang + "\"");
    return {{"kind", "custom"}, {"language", lang}, {"source", c["source"]}};
  }
  fail_at(file, 0, at + "checker.kind", "expected exact, tokens, float or custom, got \"" + kind + "\"");
}

std::string cf_string(const Json& pkg, const char* name, const std::string& file, const std::string& at, bool required) {
  auto it = pkg.find(name);
  if (it == pkg.end() || it->is_null()) {
    if (required) fail_at(file, 0, at + name, "missing");
    return {};
  }
  if (!it->is_string()) fail_at(file, 0, at + name, "expected a string");
  return it->get<std::string>();
}

double cf_number(const Json& pkg, const char* name, const std::string& file, const std::string& at) {
  auto it = pkg.find(name);
  if (it == pkg.end() || !it->is_number() || it->get<double>() <= 0)
    fail_at(file, 0, at + name, "missing or not a positive number");
  return it->get<double>();
}

Json cf_tests(const Json& list, const std::string& file, const std::string& at) {
  if (!list.is_array()) fail_at(file, 0, at, "expected a list of {input, output}");
  Json out = Json::array();
  for (size_t k = 0; k < list.size(); ++k) {
    const Json& t = list[k];
    std::string w = fmt::format("{}[{}]", at, k);
    if (!t.is_object() || !t.contains("input") || !t["input"].is_string() || !t.contains("output") ||
        !t["output"].is_string())
      fail_at(file, 0, w, "expected {\"input\": str, \"output\": str}");
    out.push_back({{"input", t["input"]}, {"output", t["output"]}});
  }
  return out;
}

std::string fmt_number(double v) {
  std::string s = fmt::format("{}", v);
  return s;
}

Problem cf_problem(const Json& pkg, const std::string& file, const std::string& at, const std::string& tmpl) {
  if (!pkg.is_object()) fail_at(file, 0, at.empty() ? "" : at.substr(0, at.size() - 1), "expected a JSON object");
  const Json& cid = pkg.contains("contest_id") ? pkg["contest_id"] : Json();
  if (!cid.is_number_integer() && !cid.is_string()) fail_at(file, 0, at + "contest_id", "missing or not an integer");
  std::string contest = cid.is_string() ? cid.get<std::string>() : cid.dump();
  std::string index = cf_string(pkg, "index", file, at, true);
  std::string name = cf_string(pkg, "name", file, at, true);
  double tl = cf_number(pkg, "time_limit", file, at);
  double ml = cf_number(pkg, "memory_limit", file, at);
  if (!pkg.contains("statement") || !pkg["statement"].is_object())
    fail_at(file, 0, at + "statement", "missing or not an object");
  const Json& st = pkg["statement"];
  std::string sat = at + "statement.";
  std::string legend = cf_string(st, "legend", file, sat, true);
  std::string input_spec = cf_string(st, "input", file, sat, true);
  std::string output_spec = cf_string(st, "output", file, sat, true);
  std::string notes = cf_string(st, "notes", file, sat, false);
  Json samples = st.contains("samples") ? cf_tests(st["samples"], file, sat + "samples") : Json::array();
  if (!pkg.contains("tests")) fail_at(file, 0, at + "tests", "missing");
  Json tests = cf_tests(pkg["tests"], file, at + "tests");
  // The judge runs the samples first (as Codeforces does) unless the package already lists them among its tests.
  Json all = Json::array();
  std::set<std::string> inputs;
  for (const auto& t : tests) inputs.insert(t["input"].get<std::string>());
  for (const auto& s : samples)
    if (!inputs.count(s["input"].get<std::string>())) all.push_back(s);
  for (const auto& t : tests) all.push_back(t);
  if (all.empty()) fail_at(file, 0, at + "tests", "problem has no tests");
  Json checker = validate_checker(pkg.contains("checker") ? pkg["checker"] : Json(), file, at);

  std::string statement = fmt::format("# {}{}. {}\n\n{}\n\n## Input\n\n{}\n\n## Output\n\n{}", contest, index, name,
                                      trim(legend), trim(input_spec), trim(output_spec));
  for (size_t k = 0; k < samples.size(); ++k) {
    statement += k == 0 ? "\n\n## Examples" : "";
    statement += fmt::format("\n\nInput:\n```\n{}\n```\nOutput:\n```\n{}\n```",
                             trim(samples[k]["input"].get<std::string>()), trim(samples[k]["output"].get<std::string>()));
  }
  if (!trim(notes).empty()) statement += "\n\n## Note\n\n" + trim(notes);

  Problem p;
  p.task = "codeforces";
  p.id = contest + index;
  p.prompt = render_prompt_template(tmpl, Json{{"statement", statement},
                                               {"problem", statement},
                                               {"name", name},
                                               {"legend", legend},
                                               {"input_spec", input_spec},
                                               {"output_spec", output_spec},
                                               {"notes", notes},
                                               {"time_limit", fmt_number(tl)},
                                               {"memory_limit", fmt_number(ml)}});
  p.grading = {{"mode", "stdio"}, {"language", "cpp"},    {"tests", std::move(all)},
               {"time_limit", tl}, {"memory_limit", ml}, {"checker", std::move(checker)}};
  p.metadata = {{"contest_id", cid}, {"index", index}, {"name", name}, {"file", file}};
  for (const char* k : {"rating", "points", "tags", "contest_date", "url"})
    if (pkg.contains(k) && !pkg[k].is_null()) p.metadata[k] = pkg[k];
  if (p.metadata.contains("rating") && !p.metadata["rating"].is_number_integer())
    fail_at(file, 0, at + "rating", "expected an integer");
  return p;
}

}  // namespace

std::vector<Problem> load_codeforces(const LoadOptions& o) {
  check_filter_keys(o.filters, {"rating_min", "rating_max"}, "codeforces");
  auto bound = [&](const char* k, int fallback) {
    auto it = o.filters.is_object() ? o.filters.find(k) : o.filters.end();
    if (!o.filters.is_object() || it == o.filters.end() || it->is_null()) return fallback;
    if (!it->is_number_integer()) throw Error(fmt::format("codeforces: filter '{}' must be an integer", k));
    return it->get<int>();
  };
  int rmin = bound("rating_min", INT32_MIN), rmax = bound("rating_max", INT32_MAX);
  std::string dir = join_path(o.data_dir, "codeforces");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw Error(fmt::format("codeforces: missing data directory {} (expected codeforces/<problem>.json packages, see "
                            "docs/codeforces_format.md)", dir));
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw Error(fmt::format("codeforces: no .json problem packages in {}", dir));
  std::string tmpl = template_text(o, kCodeforcesTemplate);
  std::vector<Problem> out;
  std::set<std::string> seen;
  for (const auto& file : files) {
    Json doc;
    try {
      doc = Json::parse(read_file(file));
    } catch (const Json::exception& e) {
      fail_at(file, 0, "", std::string("invalid JSON: ") + e.what());
    }
    std::vector<std::pair<const Json*, std::string>> pkgs;
    if (doc.is_array()) {
      for (size_t k = 0; k < doc.size(); ++k) pkgs.emplace_back(&doc[k], fmt::format("[{}].", k));
    } else {
      pkgs.emplace_back(&doc, "");
    }
    for (const auto& [pkg, at] : pkgs) {
      Problem p = cf_problem(*pkg, file, at, tmpl);
      if (!seen.insert(p.id).second) fail_at(file, 0, at + "index", "duplicate problem " + p.id);
      if (rmin != INT32_MIN || rmax != INT32_MAX) {
        if (!p.metadata.contains("rating")) continue;
        int r = p.metadata["rating"];
        if (r < rmin || r > rmax) continue;
      }
      out.push_back(std::move(p));
    }
  }
  return out;
}

// ---- HumanEval ----
std::vector<Problem> load_humaneval(const LoadOptions& o) {
  std::string file = require_file("humaneval", o, "humaneval/HumanEval.jsonl.gz");
  std::string tmpl = template_text(o, kHumanEvalTemplate);
  std::vector<Problem> out;
  for_each_jsonl_file(file, [&](JsonlLine& l) {
    check_row(l, file);
    const Json& row = *l.value;
    std::string id = string_field(row, "task_id", file, l.line);
    std::string prompt = string_field(row, "prompt", file, l.line);
    std::string test = string_field(row, "test", file, l.line);
    std::string entry = string_field(row, "entry_point", file, l.line);
    if (entry.empty()) fail_at(file, l.line, "entry_point", "empty");
    std::string shown = prompt;
    while (!shown.empty() && (shown.back() == '\n' || shown.back() == '\r')) shown.pop_back();
    Problem p;
    p.task = "humaneval";
    p.id = id;
    p.prompt = render_prompt_template(tmpl, Json{{"prompt", shown}, {"problem", shown}, {"entry_point", entry}});
    p.grading = {{"mode", "humaneval"}, {"language", "python"}, {"prompt", prompt},
                 {"test", test},        {"entry_point", entry}, {"time_limit", kHumanEvalTimeLimit}};
    out.push_back(std::move(p));
  });
  return out;
}

}  // namespace reval::tasks_detail
