// Multiple-choice loaders: GPQA Diamond (CSV inside a password-protected zip, choices shuffled per problem with a
// seeded splitmix64 so runs are reproducible on every platform), MMLU (per-subject CSV files, in either the original
// headerless layout with letter answers or the HF export with a header and 0-3 answers) and MMLU-Pro (its JSONL
// export). All render the simple-evals multiple-choice prompt; gold is the correct letter, grading carries the
// letters ("choices") and the option texts ("options") so graders can also match an answer given as text.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "base/error.hpp"
#include "base/jsonl.hpp"
#include "tasks/formats.hpp"
#include "tasks/internal.hpp"

namespace reval::tasks_detail {
namespace {

constexpr const char* kGpqaDefaultPassword = "deserted-untie-orchid";  // published in the idavidrein/gpqa README
constexpr const char* kGpqaMember = "dataset/gpqa_diamond.csv";

Problem choice_problem(std::string_view task, std::string id, const std::string& question,
                       const std::vector<std::string>& options, int correct, const std::string& tmpl) {
  Problem p;
  p.task = std::string(task);
  p.id = std::move(id);
  Json vars = choice_vars(question, options);
  p.prompt = render_prompt_template(tmpl, vars);
  std::string letters = vars["letters"];
  p.gold = {std::string(1, letters[static_cast<size_t>(correct)])};
  p.grading["choices"] = letters;
  p.grading["options"] = options;
  return p;
}

// Column name -> index for a header record; fails naming the first missing column.
std::map<std::string, size_t> header_index(const formats::CsvRecord& header, const std::vector<std::string>& required,
                                           const std::string& source) {
  std::map<std::string, size_t> idx;
  for (size_t k = 0; k < header.fields.size(); ++k) idx.emplace(trim(header.fields[k]), k);
  for (const auto& name : required)
    if (!idx.count(name)) fail_at(source, header.line, name, "column missing from the CSV header");
  return idx;
}

}  // namespace

std::vector<Problem> load_gpqa_diamond(const LoadOptions& o) {
  std::string zip_path = require_file("gpqa_diamond", o, "gpqa/gpqa_diamond.zip");
  std::string password = o.gpqa_password;
  if (password.empty())
    if (const char* env = std::getenv("REVAL_GPQA_PASSWORD"); env && *env) password = env;
  if (password.empty()) password = kGpqaDefaultPassword;
  std::string tmpl = template_text(o, kChoiceTemplate);
  std::string csv = formats::read_zip_member(zip_path, kGpqaMember, password);
  std::string source = zip_path + ":" + kGpqaMember;
  auto records = formats::parse_csv(csv, source);
  if (records.empty()) fail_at(source, 0, "", "empty CSV");
  const std::vector<std::string> cols = {"Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
                                         "Incorrect Answer 3", "Record ID"};
  auto idx = header_index(records[0], cols, source);
  auto col = [&](const formats::CsvRecord& r, const std::string& name) -> const std::string& {
    size_t k = idx.at(name);
    if (k >= r.fields.size())
      fail_at(source, r.line, name, fmt::format("row has {} fields, header has {}", r.fields.size(),
                                                records[0].fields.size()));
    return r.fields[k];
  };
  std::vector<Problem> out;
  for (size_t n = 1; n < records.size(); ++n) {
    const auto& r = records[n];
    if (r.fields.size() != records[0].fields.size())
      fail_at(source, r.line, "", fmt::format("row has {} fields, header has {}", r.fields.size(),
                                              records[0].fields.size()));
    std::string id = trim(col(r, "Record ID"));
    if (id.empty()) fail_at(source, r.line, "Record ID", "empty");
    const std::string& question = col(r, "Question");
    if (trim(question).empty()) fail_at(source, r.line, "Question", "empty");
    std::vector<std::string> original;  // [correct, incorrect 1..3]
    for (const char* name : {"Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3"}) {
      original.push_back(trim(col(r, name)));
      if (original.back().empty()) fail_at(source, r.line, name, "empty");
    }
    // Per-problem stream: the run seed mixed with a hash of the record id, so one problem's order does not depend
    // on which other problems are loaded.
    formats::SplitMix64 rng(formats::fnv1a64(id) ^ (o.seed * 0x9e3779b97f4a7c15ULL));
    std::vector<int> perm = formats::shuffled_indices(4, rng);  // display position -> original index (0 = correct)
    std::vector<std::string> shown;
    int correct = -1;
    for (int k = 0; k < 4; ++k) {
      shown.push_back(original[static_cast<size_t>(perm[static_cast<size_t>(k)])]);
      if (perm[static_cast<size_t>(k)] == 0) correct = k;
    }
    Problem p = choice_problem("gpqa_diamond", id, question, shown, correct, tmpl);
    p.metadata["permutation"] = perm;
    p.metadata["seed"] = o.seed;
    if (auto it = idx.find("High-level domain"); it != idx.end() && it->second < r.fields.size())
      p.metadata["domain"] = trim(r.fields[it->second]);
    if (auto it = idx.find("Subdomain"); it != idx.end() && it->second < r.fields.size())
      p.metadata["subdomain"] = trim(r.fields[it->second]);
    out.push_back(std::move(p));
  }
  return out;
}

namespace {
// The four categories of the MMLU paper (Hendrycks et al. 2021), by subject (the file name without "_test"). A
// subject not listed (a renamed or extra file) gets no category.
const char* mmlu_category(const std::string& subject) {
  static const std::map<std::string, const char*> categories = [] {
    std::map<std::string, const char*> m;
    for (const char* s : {"abstract_algebra", "astronomy", "college_biology", "college_chemistry",
                          "college_computer_science", "college_mathematics", "college_physics", "computer_security",
                          "conceptual_physics", "electrical_engineering", "elementary_mathematics",
                          "high_school_biology", "high_school_chemistry", "high_school_computer_science",
                          "high_school_mathematics", "high_school_physics", "high_school_statistics",
                          "machine_learning"})
      m[s] = "STEM";
    for (const char* s : {"formal_logic", "high_school_european_history", "high_school_us_history",
                          "high_school_world_history", "international_law", "jurisprudence", "logical_fallacies",
                          "moral_disputes", "moral_scenarios", "philosophy", "prehistory", "professional_law",
                          "world_religions"})
      m[s] = "humanities";
    for (const char* s : {"econometrics", "high_school_geography", "high_school_government_and_politics",
                          "high_school_macroeconomics", "high_school_microeconomics", "high_school_psychology",
                          "human_sexuality", "professional_psychology", "public_relations", "security_studies",
                          "sociology", "us_foreign_policy"})
      m[s] = "social sciences";
    for (const char* s : {"anatomy", "business_ethics", "clinical_knowledge", "college_medicine", "global_facts",
                          "human_aging", "management", "marketing", "medical_genetics", "miscellaneous", "nutrition",
                          "professional_accounting", "professional_medicine", "virology"})
      m[s] = "other";
    return m;
  }();
  auto it = categories.find(subject);
  return it == categories.end() ? nullptr : it->second;
}
}  // namespace

std::vector<Problem> load_mmlu(const LoadOptions& o) {
  std::string dir = join_path(o.data_dir, "mmlu/test");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw Error(fmt::format("mmlu: missing data directory {} (expected mmlu/test/<subject>_test.csv files)", dir));
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".csv") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw Error(fmt::format("mmlu: no .csv files in {}", dir));
  std::string tmpl = template_text(o, kChoiceTemplate);
  std::vector<Problem> out;
  for (const auto& file : files) {
    std::string subject = std::filesystem::path(file).stem().string();
    if (subject.size() > 5 && subject.ends_with("_test")) subject.resize(subject.size() - 5);
    auto records = formats::parse_csv(read_file(file), file);
    size_t first = 0;
    bool header = false;
    std::vector<size_t> cols = {0, 1, 2, 3, 4, 5};  // question, four choices, answer
    if (!records.empty() && trim(records[0].fields[0]) == "question") {
      header = true;
      first = 1;
      std::map<std::string, size_t> idx;
      for (size_t k = 0; k < records[0].fields.size(); ++k) idx.emplace(trim(records[0].fields[k]), k);
      bool numbered = idx.count("choice0") > 0;
      std::vector<std::string> names = numbered ? std::vector<std::string>{"question", "choice0", "choice1", "choice2",
                                                                           "choice3", "answer"}
                                                : std::vector<std::string>{"question", "A", "B", "C", "D", "answer"};
      for (size_t k = 0; k < names.size(); ++k) {
        auto it = idx.find(names[k]);
        if (it == idx.end()) fail_at(file, records[0].line, names[k], "column missing from the CSV header");
        cols[k] = it->second;
      }
    }
    if (records.size() <= first)
      fail_at(file, 0, "", "no rows (an empty subject file: MMLU has questions for every subject)");
    for (size_t n = first; n < records.size(); ++n) {
      const auto& r = records[n];
      size_t expected = header ? records[0].fields.size() : 6;
      if (r.fields.size() != expected)
        fail_at(file, r.line, "", fmt::format("expected {} fields (question, 4 choices, answer), got {}", expected,
                                              r.fields.size()));
      std::string question = r.fields[cols[0]];
      std::vector<std::string> options;
      for (size_t k = 1; k <= 4; ++k) options.push_back(r.fields[cols[k]]);
      std::string ans = trim(r.fields[cols[5]]);
      int correct = -1;
      if (ans.size() == 1 && ans[0] >= 'A' && ans[0] <= 'D') correct = ans[0] - 'A';
      else if (header && ans.size() == 1 && ans[0] >= '0' && ans[0] <= '3') correct = ans[0] - '0';
      if (correct < 0)
        fail_at(file, r.line, "answer", fmt::format("expected {}, got '{}'", header ? "0-3 or A-D" : "A-D", ans));
      Problem p = choice_problem("mmlu", fmt::format("{}/{}", subject, n - first), question, options, correct, tmpl);
      p.metadata["subject"] = subject;
      if (const char* category = mmlu_category(subject)) p.metadata["category"] = category;
      out.push_back(std::move(p));
    }
  }
  return out;
}

std::vector<Problem> load_mmlu_pro(const LoadOptions& o) {
  std::string file = require_file("mmlu_pro", o, "mmlu_pro/test.jsonl");
  std::string tmpl = template_text(o, kChoiceTemplate);
  std::vector<Problem> out;
  for_each_jsonl_file(file, [&](JsonlLine& l) {
    check_row(l, file);
    const Json& row = *l.value;
    const Json& qid = field(row, "question_id", file, l.line);
    if (!qid.is_number_integer() && !qid.is_string()) fail_at(file, l.line, "question_id", "expected an integer");
    std::string id = qid.is_string() ? qid.get<std::string>() : qid.dump();
    std::string question = string_field(row, "question", file, l.line);
    const Json& opts = field(row, "options", file, l.line);
    if (!opts.is_array() || opts.empty() || opts.size() > 10)
      fail_at(file, l.line, "options", "expected a list of 1 to 10 strings");
    std::vector<std::string> options;
    for (const auto& v : opts) {
      if (!v.is_string()) fail_at(file, l.line, "options", "expected a list of strings");
      options.push_back(v.get<std::string>());
    }
    std::string answer = trim(string_field(row, "answer", file, l.line));
    int correct = (answer.size() == 1 && answer[0] >= 'A') ? answer[0] - 'A' : -1;
    if (correct < 0 || correct >= static_cast<int>(options.size()))
      fail_at(file, l.line, "answer", fmt::format("expected a letter among the {} options, got '{}'", options.size(),
                                                  answer));
    if (auto it = row.find("answer_index"); it != row.end() && !it->is_null()) {
      if (!it->is_number_integer() || it->get<int>() != correct)
        fail_at(file, l.line, "answer_index", fmt::format("does not match answer '{}'", answer));
    }
    Problem p = choice_problem("mmlu_pro", id, question, options, correct, tmpl);
    if (auto it = row.find("category"); it != row.end() && it->is_string()) p.metadata["category"] = *it;
    if (auto it = row.find("src"); it != row.end() && it->is_string()) p.metadata["src"] = *it;
    out.push_back(std::move(p));
  });
  return out;
}

}  // namespace reval::tasks_detail
