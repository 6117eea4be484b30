// Codeforces contest data in the API's own JSON, as `reval data fetch codeforces --contest ID` caches it:
//   <data dir>/codeforces/contests/<id>/standings.json       reply of contest.standings?contestId=ID&showUnofficial=false
//   <data dir>/codeforces/contests/<id>/rating_changes.json  reply of contest.ratingChanges?contestId=ID
// Both are {"status": "OK", "result": ...} exactly as codeforces.com/api returns them. The reader checks every field
// it uses and names the file and the JSON path of the first bad one ("…/standings.json: field
// 'result.rows[3].points': expected a number"), so one malformed contest can be skipped while the others are rated.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "results/rating.hpp"

namespace reval {

inline constexpr const char* kCodeforcesStandingsFile = "standings.json";
inline constexpr const char* kCodeforcesRatingChangesFile = "rating_changes.json";

// <data_dir>/codeforces/contests/<id>
std::string codeforces_contest_dir(const std::string& data_dir, std::int64_t contest_id);
// Both files of the contest exist.
bool codeforces_contest_cached(const std::string& data_dir, std::int64_t contest_id);

// Parses the two replies (texts plus the names used in messages). The field is the intersection of the official
// standings rows (first member's handle) and the rating changes; scoring comes from result.contest.type ("CF":
// points, "ICPC": icpc; others are refused). Throws reval::Error naming the file and field.
ContestStandings parse_codeforces_contest(const std::string& standings_json, const std::string& standings_name,
                                          const std::string& rating_changes_json,
                                          const std::string& rating_changes_name);
// Reads the cached files of one contest; also checks that they describe contest `contest_id`.
ContestStandings load_codeforces_contest(const std::string& data_dir, std::int64_t contest_id);

}  // namespace reval
