// Synthetic Codeforces contests for offline tests, written in the exact JSON shape of the API's contest.standings
// and contest.ratingChanges replies (every field the API sends, not only those reval reads), plus a helper that
// fills a results store with a codeforces run whose attempts are given per problem.
#pragma once
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "results/store.hpp"

namespace reval::test {

struct CfParticipant {
  std::string handle;
  double points = 0;
  int penalty = 0;
  int old_rating = 1500;
  bool rated = true;  // listed in the rating changes
};

struct CfContest {
  std::int64_t id = 0;
  std::string name;
  std::string type = "CF";                               // "CF" (points) | "ICPC"
  std::vector<std::pair<std::string, double>> problems;  // index, points (ignored for ICPC)
  std::vector<CfParticipant> rows;                       // any order; written in standings order
};

inline std::vector<CfParticipant> standings_order(std::vector<CfParticipant> rows) {
  std::stable_sort(rows.begin(), rows.end(), [](const CfParticipant& a, const CfParticipant& b) {
    return a.points != b.points ? a.points > b.points : a.penalty < b.penalty;
  });
  return rows;
}

inline nlohmann::json standings_json(const CfContest& c) {
  using J = nlohmann::json;
  J problems = J::array();
  for (const auto& [index, points] : c.problems) {
    J p = {{"contestId", c.id}, {"index", index}, {"name", "Problem " + index}, {"type", "PROGRAMMING"},
           {"rating", 800 + 100 * static_cast<int>(problems.size())}, {"tags", J::array({"math"})}};
    if (c.type == "CF") p["points"] = points;
    problems.push_back(p);
  }
  J rows = J::array();
  auto ordered = standings_order(c.rows);
  int rank = 0;
  for (size_t i = 0; i < ordered.size(); ++i) {
    const auto& r = ordered[i];
    if (i == 0 || r.points != ordered[i - 1].points || r.penalty != ordered[i - 1].penalty) rank = static_cast<int>(i) + 1;
    J results = J::array();
    for (size_t k = 0; k < c.problems.size(); ++k)
      results.push_back({{"points", 0.0}, {"rejectedAttemptCount", 0}, {"type", "FINAL"}});
    rows.push_back({{"party",
                     {{"contestId", c.id},
                      {"members", J::array({{{"handle", r.handle}}})},
                      {"participantType", "CONTESTANT"},
                      {"ghost", false},
                      {"room", 1 + static_cast<int>(i % 50)},
                      {"startTimeSeconds", 1733668500}}},
                    {"rank", rank},
                    {"points", r.points},
                    {"penalty", r.penalty},
                    {"successfulHackCount", 0},
                    {"unsuccessfulHackCount", 0},
                    {"problemResults", results}});
  }
  return {{"status", "OK"},
          {"result",
           {{"contest",
             {{"id", c.id},
              {"name", c.name},
              {"type", c.type},
              {"phase", "FINISHED"},
              {"frozen", false},
              {"durationSeconds", 7200},
              {"startTimeSeconds", 1733668500},
              {"relativeTimeSeconds", 31536000}}},
            {"problems", problems},
            {"rows", rows}}}};
}

inline nlohmann::json rating_changes_json(const CfContest& c) {
  nlohmann::json result = nlohmann::json::array();
  auto ordered = standings_order(c.rows);
  for (size_t i = 0; i < ordered.size(); ++i) {
    const auto& r = ordered[i];
    if (!r.rated) continue;
    result.push_back({{"contestId", c.id},
                      {"contestName", c.name},
                      {"handle", r.handle},
                      {"rank", static_cast<int>(i) + 1},
                      {"ratingUpdateTimeSeconds", 1733675700},
                      {"oldRating", r.old_rating},
                      {"newRating", r.old_rating + 10}});
  }
  return {{"status", "OK"}, {"result", result}};
}

// Writes DATA/codeforces/contests/<id>/{standings.json, rating_changes.json}.
inline void write_contest(const std::string& data_dir, const CfContest& c) {
  auto dir = std::filesystem::path(data_dir) / "codeforces" / "contests" / std::to_string(c.id);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "standings.json") << standings_json(c).dump();
  std::ofstream(dir / "rating_changes.json") << rating_changes_json(c).dump();
}

// A contest of `n` rated participants (deterministic): old ratings spread over 0..3400, points falling with rank.
inline CfContest big_contest(std::int64_t id, const std::string& type, int n, int problems = 4) {
  CfContest c;
  c.id = id;
  c.name = "Synthetic Round " + std::to_string(id) + (type == "CF" ? " (Div. 2)" : " (Educational)");
  c.type = type;
  for (int k = 0; k < problems; ++k) c.problems.emplace_back(std::string(1, static_cast<char>('A' + k)), 500.0 * (k + 1));
  for (int i = 0; i < n; ++i) {
    CfParticipant p;
    p.handle = fmt::format("user{}_{}", id, i);
    p.old_rating = (i * 7919) % 3400;
    // Stronger users tend to score more: a deterministic score from the rating with some scatter.
    int solved = std::min(problems, std::max(0, p.old_rating / 700 + (i % 3 == 0 ? 1 : 0) - (i % 5 == 0 ? 1 : 0)));
    if (type == "CF") {
      p.points = 0;
      for (int k = 0; k < solved; ++k) p.points += 500.0 * (k + 1) - 2 * (i % 40);
    } else {
      p.points = solved;
      p.penalty = solved * (20 + i % 70);
    }
    c.rows.push_back(p);
  }
  return c;
}

// A codeforces run whose problem `id` has the given verdicts (true = correct) in sample order; the problem
// metadata carries contest_id and, when rating > 0, the difficulty rating.
struct CfProblemSpec {
  std::string id;               // e.g. "2051A"
  std::int64_t contest = 0;
  int rating = 0;               // 0: none
  std::vector<bool> verdicts;
};

inline RunInfo make_codeforces_run(SampleStore& store, const std::string& name, const std::string& data_dir,
                                   const std::vector<CfProblemSpec>& specs) {
  RunInfo r;
  r.name = name;
  r.model = "m/" + name;
  r.backend = "replay";
  r.config = {{"data_dir", data_dir}};
  RunInfo run = store.create_or_open_run(r);
  std::vector<ProblemRecord> problems;
  for (const auto& s : specs) {
    ProblemRecord p;
    p.run_id = run.id;
    p.task = "codeforces";
    p.problem_id = s.id;
    p.prompt = "solve " + s.id;
    p.metadata = {{"contest_id", s.contest}, {"index", s.id.substr(std::to_string(s.contest).size())}};
    if (s.rating > 0) p.metadata["rating"] = s.rating;
    problems.push_back(p);
  }
  store.put_problems(problems);
  for (const auto& s : specs)
    for (size_t i = 0; i < s.verdicts.size(); ++i) {
      SampleRecord sample;
      sample.run_id = run.id;
      sample.key = {"codeforces", s.id, static_cast<int>(i)};
      sample.completion = "```cpp\nint main(){}\n```";
      store.add_sample(sample);
      GradeResult result;
      result.verdict = s.verdicts[i] ? Verdict::correct : Verdict::wrong;
      store.add_grade(GradeRecord{run.id, sample.key, std::string("code"), std::string("1"), result, std::string()});
    }
  store.flush();
  return run;
}

}  // namespace reval::test
