// Ratings of stored runs on synthetic contests written in the Codeforces API's JSON shape: reading the cached
// replies (and refusing malformed ones with the file and field named, while the other contests are still rated),
// both rating methods through a real SQLite store, the ratings table (round trip, replacement, migration from
// schema 2), the refresh hook, and ratings in reports and comparisons.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "base/error.hpp"
#include "results/codeforces_rating.hpp"
#include "results/codeforces_standings.hpp"
#include "results/rating.hpp"
#include "results/report.hpp"
#include "tests/results/codeforces_fixtures.hpp"
#include "tests/test_util.hpp"

using namespace reval;
using test::CfContest;
using test::CfProblemSpec;

namespace {

std::string histogram() { return test::shared_path("data/codeforces/ratings/user_rating_histogram.json"); }

std::vector<bool> v(std::initializer_list<int> bits) {
  std::vector<bool> out;
  for (int b : bits) out.push_back(b != 0);
  return out;
}

// Contest 9001 (points, 300 rated), 9002 (ICPC, 250 rated), 9003 (written malformed by the test), 9004 (not cached).
struct Fixture {
  test::TempDir dir;
  std::string data = dir.file("data");
  std::unique_ptr<SampleStore> store = open_sqlite_store(dir.file("r.db"));
  CfContest c1 = test::big_contest(9001, "CF", 300, 3), c2 = test::big_contest(9002, "ICPC", 250, 3),
            c3 = test::big_contest(9003, "CF", 220, 2);
  Fixture() {
    test::write_contest(data, c1);
    test::write_contest(data, c2);
    test::write_contest(data, c3);
  }
  // One run; `strong` solves more and sooner.
  RunInfo run(const std::string& name, bool strong) {
    std::vector<CfProblemSpec> specs = {
        {"9001A", 9001, 800, strong ? v({1, 1}) : v({0, 1})},
        {"9001B", 9001, 1400, strong ? v({0, 0, 1}) : v({0, 0, 0})},
        {"9001C", 9001, 2000, v({0, 0, 0})},
        {"9002A", 9002, 900, v({1})},
        {"9002B", 9002, 1500, strong ? v({0, 1}) : v({0, 0})},
        {"9002C", 9002, 2200, v({0, 0})},
        {"9003A", 9003, 1000, v({1})},
        {"9003B", 9003, 1700, v({0})},
        {"9004A", 9004, 1200, strong ? v({1}) : v({0})},
    };
    return test::make_codeforces_run(*store, name, data, specs);
  }
  void corrupt_9003() {
    auto path = codeforces_contest_dir(data, 9003) + "/standings.json";
    auto j = test::standings_json(c3);
    j["result"]["rows"][5]["points"] = "lots";
    std::ofstream(path) << j.dump();
  }
};

std::map<std::string, ProblemAttempts> attempts_of(std::initializer_list<std::pair<const char*, ProblemAttempts>> l) {
  std::map<std::string, ProblemAttempts> m;
  for (const auto& [k, a] : l) m[k] = a;
  return m;
}

}  // namespace

TEST(CodeforcesStandings, ParsesTheApiShapeAndIntersectsTheField) {
  CfContest c = test::big_contest(7001, "CF", 10, 2);
  c.rows[3].rated = false;  // in the standings, not in the rating changes
  auto rc = test::rating_changes_json(c);
  rc["result"].push_back({{"contestId", 7001}, {"handle", "ghost"}, {"oldRating", 1000}, {"newRating", 990}});
  ContestStandings s = parse_codeforces_contest(test::standings_json(c).dump(), "s.json", rc.dump(), "r.json");
  EXPECT_EQ(s.id, 7001);
  EXPECT_EQ(s.name, c.name);
  EXPECT_EQ(s.scoring, ContestScoring::points);
  ASSERT_EQ(s.problems.size(), 2u);
  EXPECT_EQ(s.problems[0].id, "7001A");
  EXPECT_DOUBLE_EQ(s.problems[1].points, 1000);
  EXPECT_EQ(s.standings_rows, 10);
  EXPECT_EQ(s.rating_changes, 10);  // 9 rated rows + the ghost
  EXPECT_EQ(s.field.size(), 9u);    // intersection: neither the unrated row nor the ghost
  for (const auto& f : s.field) {
    EXPECT_NE(f.handle, c.rows[3].handle);
    EXPECT_NE(f.handle, "ghost");
  }
  ContestStandings icpc = parse_codeforces_contest(test::standings_json(test::big_contest(7002, "ICPC", 5)).dump(), "s",
                                                   test::rating_changes_json(test::big_contest(7002, "ICPC", 5)).dump(), "r");
  EXPECT_EQ(icpc.scoring, ContestScoring::icpc);
}

// Every kind of malformed reply is refused with the file and the JSON field named.
TEST(CodeforcesStandings, MalformedFilesNameFileAndField) {
  CfContest c = test::big_contest(7003, "CF", 6, 2);
  struct Case {
    const char* what;
    std::function<void(nlohmann::json& s, nlohmann::json& r)> mutate;
    const char* file;   // standings.json | rating_changes.json
    const char* field;
  };
  std::vector<Case> cases = {
      {"row points not a number", [](auto& s, auto&) { s["result"]["rows"][3]["points"] = "x"; }, "standings.json",
       "result.rows[3].points"},
      {"row penalty missing", [](auto& s, auto&) { s["result"]["rows"][2].erase("penalty"); }, "standings.json",
       "result.rows[2].penalty"},
      {"no members", [](auto& s, auto&) { s["result"]["rows"][0]["party"]["members"] = nlohmann::json::array(); },
       "standings.json", "result.rows[0].party.members"},
      {"handle not a string", [](auto& s, auto&) { s["result"]["rows"][1]["party"]["members"][0]["handle"] = 5; },
       "standings.json", "result.rows[1].party.members[0].handle"},
      {"IOI scoring", [](auto& s, auto&) { s["result"]["contest"]["type"] = "IOI"; }, "standings.json",
       "result.contest.type"},
      {"points missing in a CF round", [](auto& s, auto&) { s["result"]["problems"][1].erase("points"); },
       "standings.json", "result.problems[1].points"},
      {"status FAILED", [](auto& s, auto&) { s = {{"status", "FAILED"}, {"comment", "contestId: not found"}}; },
       "standings.json", "status"},
      {"rows not a list", [](auto& s, auto&) { s["result"]["rows"] = 3; }, "standings.json", "result.rows"},
      {"oldRating not an integer", [](auto&, auto& r) { r["result"][2]["oldRating"] = "1500"; }, "rating_changes.json",
       "result[2].oldRating"},
      {"rating change of another contest", [](auto&, auto& r) { r["result"][0]["contestId"] = 1; },
       "rating_changes.json", "result[0].contestId"},
      {"duplicate handle", [](auto&, auto& r) { r["result"][1]["handle"] = r["result"][0]["handle"]; },
       "rating_changes.json", "result[1].handle"},
      {"result missing", [](auto&, auto& r) { r.erase("result"); }, "rating_changes.json", "result"},
  };
  for (const auto& k : cases) {
    test::TempDir dir;
    auto s = test::standings_json(c), r = test::rating_changes_json(c);
    k.mutate(s, r);
    auto folder = codeforces_contest_dir(dir.path(), c.id);
    std::filesystem::create_directories(folder);
    std::ofstream(folder + "/standings.json") << s.dump();
    std::ofstream(folder + "/rating_changes.json") << r.dump();
    try {
      load_codeforces_contest(dir.path(), c.id);
      ADD_FAILURE() << k.what << ": accepted";
    } catch (const Error& e) {
      std::string m = e.what();
      EXPECT_NE(m.find(folder + "/" + k.file), std::string::npos) << k.what << ": " << m;
      EXPECT_NE(m.find(std::string("field '") + k.field + "'"), std::string::npos) << k.what << ": " << m;
    }
  }
  // Not JSON at all; and a folder that holds another contest.
  test::TempDir dir;
  auto folder = codeforces_contest_dir(dir.path(), 7003);
  std::filesystem::create_directories(folder);
  std::ofstream(folder + "/standings.json") << "{\"status\": \"OK\", \"result\": ";
  std::ofstream(folder + "/rating_changes.json") << test::rating_changes_json(c).dump();
  EXPECT_THROW(load_codeforces_contest(dir.path(), 7003), Error);
  test::write_contest(dir.path(), c);
  std::filesystem::rename(codeforces_contest_dir(dir.path(), 7003), codeforces_contest_dir(dir.path(), 7004));
  try {
    load_codeforces_contest(dir.path(), 7004);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("field 'result.contest.id'"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(codeforces_contest_cached(dir.path(), 7003));
  EXPECT_TRUE(codeforces_contest_cached(dir.path(), 7004));
}

// The standings method end to end: a malformed contest and an uncached one are skipped with their reasons; the
// other two are rated exactly as rate_contest rates them, and the run's rating is their mean.
TEST(RunRating, StandingsRateGoodContestsAndSkipBadOnes) {
  Fixture f;
  f.corrupt_9003();
  RunInfo run = f.run("strong", true);
  RatingOptions o;
  o.distribution = histogram();
  RatingRecord r = compute_rating(*f.store, run, "standings", o);
  EXPECT_EQ(r.method, "standings");
  EXPECT_EQ(r.used, 2);
  EXPECT_EQ(r.skipped, 2);
  const auto& skipped = r.details["skipped"];
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_EQ(skipped[0]["id"], 9003);
  std::string why = skipped[0]["reason"];
  EXPECT_NE(why.find("9003/standings.json"), std::string::npos) << why;
  EXPECT_NE(why.find("field 'result.rows[5].points'"), std::string::npos) << why;
  EXPECT_EQ(skipped[1]["id"], 9004);
  EXPECT_NE(skipped[1]["reason"].get<std::string>().find("reval data fetch codeforces --contest 9004"),
            std::string::npos);

  // Independent computation of the two contest ratings from the parsed files.
  StandingsOptions so;
  auto p1 = rate_contest(load_codeforces_contest(f.data, 9001),
                         attempts_of({{"9001A", {2, 0}}, {"9001B", {3, 2}}, {"9001C", {3, -1}}}), so);
  auto p2 = rate_contest(load_codeforces_contest(f.data, 9002),
                         attempts_of({{"9002A", {1, 0}}, {"9002B", {2, 1}}, {"9002C", {2, -1}}}), so);
  EXPECT_DOUBLE_EQ(p1.score, 500 + 1000 - 100);
  EXPECT_DOUBLE_EQ(p2.score, 2);
  EXPECT_DOUBLE_EQ(p2.penalty, 10);
  const auto& contests = r.details["contests"];
  ASSERT_EQ(contests.size(), 2u);
  EXPECT_NEAR(contests[0]["rating"].get<double>(), p1.rating, 1e-9);
  EXPECT_NEAR(contests[1]["rating"].get<double>(), p2.rating, 1e-9);
  EXPECT_EQ(contests[0]["field"], 300);
  EXPECT_NEAR(r.rating, (p1.rating + p2.rating) / 2, 1e-9);
  EXPECT_NEAR(r.se, std::fabs(p1.rating - p2.rating) / 2, 1e-9);  // sd / sqrt(2) for two values
  EXPECT_TRUE(std::isfinite(r.percentile));
  EXPECT_NEAR(r.percentile, RatingDistribution::load(histogram()).percentile(r.rating), 1e-12);
  EXPECT_EQ(r.population, "all 717,421 rated Codeforces accounts in user_rating_histogram.json");

  // The weaker run rates lower on the same contests.
  RatingRecord weak = compute_rating(*f.store, f.run("weak", false), "standings", o);
  EXPECT_EQ(weak.used, 2);
  EXPECT_LT(weak.rating, r.rating);

  // Only some contests; too-small fields.
  RatingOptions only = o;
  only.contests = {9002};
  EXPECT_EQ(compute_rating(*f.store, run, "standings", only).used, 1);
  RatingOptions big = o;
  big.min_field = 260;
  RatingRecord b = compute_rating(*f.store, run, "standings", big);
  EXPECT_EQ(b.used, 1);  // 9002 (250 rated) is too small now
  EXPECT_NE(b.details["skipped"][0]["reason"].get<std::string>().find("only 250 rated participants"),
            std::string::npos);
}

TEST(RunRating, AttemptsAllowedAndInfraErrorsAreNotAttempts) {
  Fixture f;
  RunInfo run = f.run("strong", true);
  RatingOptions two;
  two.attempts = 2;
  two.contests = {9001};
  RatingRecord r = compute_rating(*f.store, run, "standings", two);
  ASSERT_EQ(r.used, 1);
  const auto& probs = r.details["contests"][0]["problems"];
  EXPECT_EQ(probs[1]["id"], "9001B");
  EXPECT_EQ(probs[1]["first_pass"], -1) << "solved only at the third sample: unsolved with 2 attempts";
  EXPECT_DOUBLE_EQ(r.details["contests"][0]["score"].get<double>(), 500);
  // An infra error before the passing sample is not a failed attempt.
  SampleRecord s;
  s.run_id = run.id;
  s.key = {"codeforces", "9001C", 0};
  s.error = "backend timeout";
  s.finish_reason = "error";
  f.store->add_sample(s);  // replaces 9001C#0 (and drops its grade)
  GradeRecord g;
  g.run_id = run.id;
  g.key = {"codeforces", "9001C", 1};
  g.grader = "code";
  g.result.verdict = Verdict::correct;
  f.store->add_grade(g);
  f.store->flush();
  RatingOptions one = two;
  one.attempts = 1;
  RatingRecord q = compute_rating(*f.store, run, "standings", one);
  const auto& c = q.details["contests"][0]["problems"][2];
  EXPECT_EQ(c["id"], "9001C");
  EXPECT_EQ(c["first_pass"], 0) << "the first scored sample (index 1) passed";
  EXPECT_DOUBLE_EQ(c["points"].get<double>(), 1500);
}

TEST(RunRating, ProblemsMethodThroughTheStore) {
  test::TempDir dir;
  auto store = open_sqlite_store(dir.file("r.db"));
  std::vector<CfProblemSpec> specs;
  for (int i = 0; i < 10; ++i)
    specs.push_back({"500" + std::string(1, static_cast<char>('A' + i)), 500, 1600, i < 3 ? v({0, 1}) : v({0, 0})});
  specs.push_back({"501A", 501, 0, v({1})});  // no difficulty rating: skipped
  RunInfo run = test::make_codeforces_run(*store, "p", dir.path(), specs);
  RatingOptions o;
  o.distribution = histogram();
  RatingRecord r = compute_rating(*store, run, "problems", o);
  EXPECT_EQ(r.used, 10);
  EXPECT_EQ(r.skipped, 1);
  EXPECT_EQ(r.details["skipped"][0]["id"], "501A");
  EXPECT_NEAR(r.rating, 1600 + 400 * std::log10(3.0 / 7.0), 1e-5);
  EXPECT_LT(r.ci_lo, r.rating);
  EXPECT_GT(r.ci_hi, r.rating);
  EXPECT_TRUE(std::isfinite(r.percentile));
  // With one attempt nothing is solved: censored, an upper limit only.
  RatingOptions one = o;
  one.attempts = 1;
  RatingRecord z = compute_rating(*store, run, "problems", one);
  EXPECT_EQ(z.details["mle"]["censored"], "none_solved");
  EXPECT_TRUE(std::isinf(z.ci_lo));
  EXPECT_EQ(format_rating_value(z).rfind("≤ ", 0), 0u) << format_rating_value(z);
  // No distribution file where the run's data dir says: no percentile, a note instead.
  RatingRecord nd = compute_rating(*store, run, "problems", RatingOptions{});
  EXPECT_TRUE(std::isnan(nd.percentile));
  EXPECT_NE(nd.details["notes"].dump().find("no rating distribution"), std::string::npos);
  EXPECT_EQ(default_rating_method(*store, run), "problems");
  EXPECT_THROW(compute_rating(*store, run, "elo", o), Error);
}

TEST(RunRating, StoreRoundTripReplaceAndParamsKey) {
  test::TempDir dir;
  auto store = open_sqlite_store(dir.file("r.db"));
  RunInfo run = test::make_codeforces_run(*store, "x", dir.path(), {{"1A", 1, 800, v({1})}, {"1B", 1, 0, v({0})}});
  auto md = store->problem_metadata(run.id, "codeforces");  // metadata only, what ratings read
  ASSERT_EQ(md.size(), 2u);
  EXPECT_EQ(md["1A"]["rating"], 800);
  EXPECT_EQ(md["1A"]["contest_id"], 1);
  EXPECT_FALSE(md["1B"].contains("rating"));
  EXPECT_TRUE(store->problem_metadata(run.id, "aime24").empty());
  RatingRecord r;
  r.run_id = run.id;
  r.method = "problems";
  r.params = rating_params("problems", RatingOptions{});
  r.rating = 1234.5;
  r.se = NAN;
  r.ci_lo = 1000;
  r.ci_hi = INFINITY;
  r.percentile = 61.2;
  r.population = "pop";
  r.used = 7;
  r.skipped = 2;
  r.details = {{"notes", {"n"}}};
  store->put_rating(r);
  auto rows = store->ratings(run.id);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].method, "problems");
  EXPECT_EQ(rows[0].params, r.params);
  EXPECT_DOUBLE_EQ(rows[0].rating, 1234.5);
  EXPECT_TRUE(std::isnan(rows[0].se));
  EXPECT_TRUE(std::isinf(rows[0].ci_hi) && rows[0].ci_hi > 0);
  EXPECT_DOUBLE_EQ(rows[0].ci_lo, 1000);
  EXPECT_EQ(rows[0].used, 7);
  EXPECT_EQ(rows[0].skipped, 2);
  EXPECT_EQ(rows[0].details, r.details);
  EXPECT_FALSE(rows[0].computed_at.empty());
  r.rating = 1300;  // same key: replaced
  store->put_rating(r);
  RatingOptions four;
  four.attempts = 4;
  r.params = rating_params("problems", four);  // another key: kept beside
  store->put_rating(r);
  rows = store->ratings(run.id, "codeforces");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_DOUBLE_EQ(rows[0].rating, 1300);
  EXPECT_TRUE(store->ratings(run.id, "aime24").empty());
  // report_ratings shows the default-parameter row per method.
  auto shown = report_ratings(rows);
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_EQ(shown[0].params["attempts"], 8);
}

// A file written by a build with schema version 2 (no ratings, no run leases, several grades per sample allowed) is
// migrated on open.
TEST(RunRating, MigratesSchemaTwo) {
  test::TempDir dir;
  std::string path = dir.file("old.db");
  {
    auto store = open_sqlite_store(path);
    RunInfo r;
    r.name = "old";
    r.model = "m";
    store->create_or_open_run(r);
  }
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "DROP TABLE ratings; DROP TABLE run_leases; DROP INDEX grades_one_per_sample; "
                           "CREATE INDEX grades_by_sample ON grades (run_id, task, problem_id, sample_index, id); "
                           "DELETE FROM schema_migrations WHERE version >= 3; PRAGMA user_version=2;",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = open_sqlite_store(path);
  auto run = store->find_run("old");
  ASSERT_TRUE(run);
  EXPECT_TRUE(store->ratings(run->id).empty());
  RatingRecord r;
  r.run_id = run->id;
  r.method = "standings";
  r.rating = 1500;
  store->put_rating(r);
  EXPECT_EQ(store->ratings(run->id).size(), 1u);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT (SELECT user_version FROM pragma_user_version), "
                         "(SELECT COUNT(*) FROM schema_migrations WHERE version = 3)", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), kSqliteSchemaVersion);
  EXPECT_EQ(sqlite3_column_int(st, 1), 1);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

// The hook: computes the default ratings, recomputes stored variants with their own parameters after new grades,
// and leaves runs without codeforces problems alone.
TEST(RunRating, RefreshRecomputesStoredAndDefaultRatings) {
  Fixture f;
  RunInfo run = f.run("strong", true);
  RatingOptions two;
  two.attempts = 2;
  two.distribution = histogram();
  f.store->put_rating(compute_rating(*f.store, run, "problems", two));
  EXPECT_TRUE(refresh_ratings(*f.store, run.id, false).empty());
  auto rows = f.store->ratings(run.id);
  ASSERT_EQ(rows.size(), 3u);  // problems (attempts 2, kept), problems (defaults), standings (defaults: cached)
  std::map<std::string, RatingRecord> by;
  for (const auto& r : rows) by[r.method + r.params.dump()] = r;
  auto key2 = "problems" + rating_params("problems", two).dump();
  ASSERT_TRUE(by.count(key2));
  double before = by[key2].rating;
  EXPECT_EQ(by[key2].details["distribution"], histogram()) << "the variant keeps its distribution";
  EXPECT_TRUE(by.count("standings" + rating_params("standings", RatingOptions{}).dump()));
  // Re-grade: every sample of the run is now wrong, except 9001A#0.
  for (const auto& s : f.store->sample_summaries(run.id)) {
    GradeRecord g;
    g.run_id = run.id;
    g.key = s.key;
    g.grader = "code";
    g.result.verdict = s.key.problem_id == "9001A" && s.key.sample_index == 0 ? Verdict::correct : Verdict::wrong;
    f.store->add_grade(g);
  }
  f.store->flush();
  EXPECT_TRUE(refresh_ratings(*f.store, run.id, false).empty());
  rows = f.store->ratings(run.id);
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& r : rows) {
    if (r.method + r.params.dump() == key2) {
      EXPECT_LT(r.rating, before);
    }
  }
  // Another task only: nothing to do, nothing written.
  RunInfo other;
  other.name = "math";
  other.model = "m";
  auto o = f.store->create_or_open_run(other);
  EXPECT_TRUE(refresh_ratings(*f.store, o.id, false).empty());
  EXPECT_TRUE(f.store->ratings(o.id).empty());
  EXPECT_TRUE(refresh_ratings(*f.store, 9999, false).empty());
}

TEST(RunRating, ReportsAndComparisonsShowRatings) {
  Fixture f;
  f.corrupt_9003();
  RunInfo a = f.run("strong", true), b = f.run("weak", false);
  RatingOptions o;
  o.distribution = histogram();
  for (const auto& run : {a, b})
    for (const char* m : {"standings", "problems"}) f.store->put_rating(compute_rating(*f.store, run, m, o));
  Leaderboard board = build_leaderboard(*f.store, {});
  ASSERT_EQ(board.ratings.size(), 4u);
  std::string pop = "rated Codeforces accounts in user_rating_histogram.json";
  std::string md = render_leaderboard(board, ReportFormat::md);
  EXPECT_NE(md.find("## Codeforces ratings"), std::string::npos);
  EXPECT_NE(md.find("standings (CodeElo)"), std::string::npos);
  EXPECT_NE(md.find("problem ratings (MLE)"), std::string::npos);
  EXPECT_NE(md.find(pop), std::string::npos) << "the population is next to the percentile";
  EXPECT_NE(md.find("2 contests used, 2 skipped"), std::string::npos) << md;
  EXPECT_NE(md.find(format_rating_value(board.ratings[0])), std::string::npos);
  std::string html = render_leaderboard(board, ReportFormat::html);
  EXPECT_NE(html.find("<h2>Codeforces ratings</h2>"), std::string::npos);
  EXPECT_NE(html.find(pop), std::string::npos);
  auto j = nlohmann::json::parse(render_leaderboard(board, ReportFormat::json));
  ASSERT_EQ(j["ratings"].size(), 4u);
  EXPECT_EQ(j["ratings"][0]["run"], "strong");
  EXPECT_EQ(j["ratings"][0]["method"], "problems");
  EXPECT_EQ(j["ratings"][1]["method"], "standings");
  EXPECT_EQ(j["ratings"][1]["used"], 2);
  EXPECT_EQ(j["ratings"][1]["params"]["attempts"], 8);
  EXPECT_NEAR(j["ratings"][1]["rating"].get<double>(), board.ratings[1].rating, 1e-9);
  EXPECT_NE(j["ratings"][1]["population"].get<std::string>().find(pop), std::string::npos);
  std::string csv = render_leaderboard(board, ReportFormat::csv);
  auto header = csv.substr(0, csv.find('\n'));
  for (const char* col : {"standings_rating", "standings_rating_se", "standings_percentile", "standings_used",
                          "standings_skipped", "problems_rating", "problems_attempts", "percentile_population"})
    EXPECT_NE(header.find(col), std::string::npos) << col;
  EXPECT_NE(csv.find(fmt::format("{:.6g}", board.ratings[1].rating)), std::string::npos);

  RunComparison cmp = compare_runs(*f.store, "strong", "weak");
  ASSERT_EQ(cmp.ratings.size(), 2u);
  const auto& st = cmp.ratings[1];
  EXPECT_EQ(st.method, "standings");
  EXPECT_EQ(st.common_contests, 2);
  EXPECT_GT(st.diff, 0);
  EXPECT_NEAR(st.paired_diff, st.diff, 1e-9);  // same two contests
  const auto& pr = cmp.ratings[0];
  EXPECT_EQ(pr.method, "problems");
  EXPECT_NEAR(pr.se, std::hypot(pr.a.se, pr.b.se), 1e-9);
  std::string text = format_comparison(cmp);
  EXPECT_NE(text.find("Codeforces ratings"), std::string::npos);
  EXPECT_NE(text.find("paired over 2 common contests"), std::string::npos) << text;
  EXPECT_NE(text.find(pop), std::string::npos);
  // The run summary printed by `reval eval` carries the ratings too.
  std::string summary = format_run_summary(*f.store, a.id);
  EXPECT_NE(summary.find("codeforces rating by standings (CodeElo), attempts <= 8: "), std::string::npos) << summary;
}

TEST(RunRating, BreakdownText) {
  Fixture f;
  RunInfo run = f.run("strong", true);
  RatingOptions o;
  o.distribution = histogram();
  RatingRecord st = compute_rating(*f.store, run, "standings", o);
  std::string text = format_rating_breakdown(run, st);
  EXPECT_NE(text.find("method: contest standings (CodeElo's method), first 8 attempts"), std::string::npos) << text;
  EXPECT_NE(text.find("9001"), std::string::npos);
  EXPECT_NE(text.find("Synthetic Round 9002 (Educational)"), std::string::npos);
  EXPECT_NE(text.find("skipped (1):"), std::string::npos) << text;
  EXPECT_NE(text.find("percentile: "), std::string::npos);
  EXPECT_NE(text.find("rated Codeforces accounts"), std::string::npos);
  RatingRecord pr = compute_rating(*f.store, run, "problems", o);
  text = format_rating_breakdown(run, pr);
  EXPECT_NE(text.find("maximum likelihood from problem ratings"), std::string::npos);
  EXPECT_NE(text.find("9001B"), std::string::npos);
  EXPECT_NE(text.find("#3"), std::string::npos) << "9001B solved at the third attempt";
  EXPECT_NE(text.find("profile-likelihood CI"), std::string::npos);
}

// Random damage to the replies (truncation, byte changes, swapped types) is either read or refused with
// reval::Error naming the file; nothing else escapes and nothing crashes.
TEST(CodeforcesStandings, DamagedRepliesFailCleanly) {
  CfContest c = test::big_contest(7005, "ICPC", 12, 2);
  const std::string s = test::standings_json(c).dump(), r = test::rating_changes_json(c).dump();
  std::mt19937_64 rng(3);
  const char junk[] = {'"', '{', '}', '[', ']', ',', ':', '0', '-', 'x', 'e', '.', ' ', 't', 'n'};
  int refused = 0, read = 0;
  for (int i = 0; i < 400; ++i) {
    std::string bs = s, br = r;
    std::string& target = (i % 3 == 0) ? br : bs;
    if (i % 4 == 0) target.resize(rng() % target.size());
    for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k)
      if (!target.empty()) target[rng() % target.size()] = junk[rng() % sizeof junk];
    try {
      ContestStandings got = parse_codeforces_contest(bs, "s.json", br, "r.json");
      EXPECT_LE(got.field.size(), 12u);
      ++read;
    } catch (const Error& e) {
      std::string m = e.what();
      EXPECT_TRUE(m.rfind("s.json", 0) == 0 || m.rfind("r.json", 0) == 0) << m;
      ++refused;
    }
  }
  EXPECT_GT(refused, 100);
  EXPECT_GT(read, 0);  // a change inside a string or an ignored field leaves the reply readable
}
