// Implementation of results/codeforces_standings.hpp: a strict reader of the two Codeforces API replies. Only the
// fields the rating needs are read (contest id/name/type, problems' contestId/index/points, rows' first member
// handle/points/penalty, rating changes' handle/oldRating); every one is type-checked with its JSON path.
#include "results/codeforces_standings.hpp"

#include <filesystem>
#include <set>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "base/jsonl.hpp"

namespace reval {

namespace {

using Json = nlohmann::json;

// A JSON value together with its path, so every check can name where it failed.
struct At {
  const Json& v;
  std::string path;
  const std::string& file;

  [[noreturn]] void fail(const std::string& what) const { fail_at(file, 0, path, what); }
  At operator[](const char* key) const {
    if (!v.is_object()) fail("expected an object");
    auto it = v.find(key);
    std::string p = path.empty() ? key : path + "." + key;
    if (it == v.end()) fail_at(file, 0, p, "missing");
    return At{*it, p, file};
  }
  At item(size_t i) const { return At{v[i], fmt::format("{}[{}]", path, i), file}; }
  bool has(const char* key) const { return v.is_object() && v.contains(key) && !v[key].is_null(); }
  const Json& array() const {
    if (!v.is_array()) fail("expected a list");
    return v;
  }
  std::string str() const {
    if (!v.is_string()) fail("expected a string");
    return v.get<std::string>();
  }
  double number() const {
    if (!v.is_number()) fail("expected a number");
    return v.get<double>();
  }
  std::int64_t integer() const {
    if (!v.is_number_integer()) fail("expected an integer");
    return v.get<std::int64_t>();
  }
};

// Parses the whole reply (syntax errors anywhere are reported), but keeps no per-problem results of the standings
// rows: they are most of a big contest's bytes and the rating never reads them.
Json parse(const std::string& text, const std::string& file) {
  try {
    return Json::parse(text, [](int depth, Json::parse_event_t event, Json& parsed) {
      return !(event == Json::parse_event_t::key && depth == 4 && parsed == "problemResults");
    });
  } catch (const Json::exception& e) {
    fail_at(file, 0, "", std::string("invalid JSON: ") + e.what());
  }
}

// The reply's "result", after checking "status" is "OK".
At api_result(const Json& reply, const std::string& file) {
  At root{reply, "", file};
  std::string status = root["status"].str();
  if (status != "OK") {
    std::string comment = root.has("comment") && reply["comment"].is_string() ? reply["comment"].get<std::string>() : "";
    fail_at(file, 0, "status", fmt::format("the API answered \"{}\"{}", status, comment.empty() ? "" : ": " + comment));
  }
  return root["result"];
}

}  // namespace

std::string codeforces_contest_dir(const std::string& data_dir, std::int64_t contest_id) {
  return (std::filesystem::path(data_dir) / "codeforces" / "contests" / std::to_string(contest_id)).string();
}

bool codeforces_contest_cached(const std::string& data_dir, std::int64_t contest_id) {
  std::error_code ec;
  std::filesystem::path dir = codeforces_contest_dir(data_dir, contest_id);
  return std::filesystem::is_regular_file(dir / kCodeforcesStandingsFile, ec) &&
         std::filesystem::is_regular_file(dir / kCodeforcesRatingChangesFile, ec);
}

ContestStandings parse_codeforces_contest(const std::string& standings_json, const std::string& standings_name,
                                          const std::string& rating_changes_json,
                                          const std::string& rating_changes_name) {
  ContestStandings c;
  c.source = standings_name;
  Json sj = parse(standings_json, standings_name);
  At result = api_result(sj, standings_name);
  At contest = result["contest"];
  c.id = contest["id"].integer();
  c.name = contest["name"].str();
  std::string type = contest["type"].str();
  if (type == "CF") c.scoring = ContestScoring::points;
  else if (type == "ICPC") c.scoring = ContestScoring::icpc;
  else contest["type"].fail(fmt::format("\"{}\" scoring is not modelled (only CF and ICPC)", type));

  At problems = result["problems"];
  std::set<std::string> ids;
  for (size_t i = 0; i < problems.array().size(); ++i) {
    At p = problems.item(i);
    ContestProblem cp;
    cp.id = std::to_string(p["contestId"].integer()) + p["index"].str();
    if (!ids.insert(cp.id).second) p["index"].fail("duplicate problem " + cp.id);
    if (c.scoring == ContestScoring::points) {
      cp.points = p["points"].number();
      if (cp.points <= 0) p["points"].fail("expected a positive number");
    }
    c.problems.push_back(std::move(cp));
  }

  Json rj = parse(rating_changes_json, rating_changes_name);
  At changes = api_result(rj, rating_changes_name);
  std::unordered_map<std::string, int> old_rating;
  for (size_t i = 0; i < changes.array().size(); ++i) {
    At ch = changes.item(i);
    if (ch.has("contestId") && ch["contestId"].integer() != c.id)
      ch["contestId"].fail(fmt::format("is {}, but {} describes contest {}", ch["contestId"].integer(),
                                       standings_name, c.id));
    std::string handle = ch["handle"].str();
    std::int64_t old = ch["oldRating"].integer();
    if (!old_rating.emplace(handle, static_cast<int>(old)).second) ch["handle"].fail("duplicate handle " + handle);
  }
  c.rating_changes = static_cast<std::int64_t>(old_rating.size());

  At rows = result["rows"];
  std::set<std::string> placed;
  for (size_t i = 0; i < rows.array().size(); ++i) {
    At row = rows.item(i);
    At members = row["party"]["members"];
    if (members.array().empty()) members.fail("expected at least one member");
    std::string handle = members.item(0)["handle"].str();
    double points = row["points"].number();
    double penalty = row["penalty"].number();
    ++c.standings_rows;
    auto it = old_rating.find(handle);
    if (it == old_rating.end() || !placed.insert(handle).second) continue;
    c.field.push_back(FieldEntry{handle, points, penalty, it->second});
  }
  return c;
}

ContestStandings load_codeforces_contest(const std::string& data_dir, std::int64_t contest_id) {
  std::filesystem::path dir = codeforces_contest_dir(data_dir, contest_id);
  std::string s = (dir / kCodeforcesStandingsFile).string(), r = (dir / kCodeforcesRatingChangesFile).string();
  std::error_code ec;
  for (const auto& f : {s, r})
    if (!std::filesystem::is_regular_file(f, ec))
      throw Error(fmt::format("{}: missing (fetch it with `reval data fetch codeforces --contest {}`)", f, contest_id));
  ContestStandings c = parse_codeforces_contest(read_file(s), s, read_file(r), r);
  if (c.id != contest_id)
    fail_at(s, 0, "result.contest.id", fmt::format("is {}, but the file lies in the folder of contest {}", c.id,
                                                    contest_id));
  return c;
}

}  // namespace reval
