// SampleStore: where every run, problem, sample and grade lives. The SQLite implementation uses WAL and versioned
// schema migrations; samples are queued and written by a background writer thread in small transactions so that
// generation never waits on disk, and flush() makes everything queued durable. A sample is keyed by
// (run, task, problem_id, sample_index): writing the same key twice replaces the earlier row (a retried infra
// failure), so a resumed run never holds duplicates.
// Thread-safety: all methods may be called from any thread.
#pragma once
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "results/records.hpp"

namespace reval {

struct StoreOptions {
  // Reading commands (runs, report, compare, check) open the file read-only: nothing is created, migrated or
  // switched to WAL, and a file on a read-only file system (or without write permission) is read as it is.
  bool read_only = false;
  // Run SQLite's quick_check when opening (eval start, reports): a corrupt file is refused, naming the corruption.
  bool quick_check = false;
  std::string vfs;               // SQLite VFS name ("" = the default); tests register one that injects faults
  int page_size = 8192;          // bytes; applied when the file is created
  int batch_rows = 1000;         // most rows per write transaction
  bool synchronous_full = false; // synchronous=NORMAL (default, durable in WAL across process crashes) or FULL
  std::size_t max_queued_rows = 10000;  // add_sample/add_grade wait while this many rows are queued (bounds memory)
  int busy_timeout_ms = 10000;   // how long a write waits for another process holding the database lock
};

// The schema version this build writes (PRAGMA user_version). Older files are migrated on open; newer ones are
// refused.
inline constexpr int kSqliteSchemaVersion = 5;

// A sample without its completion text, joined with its newest grade (if graded): what metrics and reports read.
struct SampleSummary {
  std::int64_t run_id = 0;
  SampleKey key;
  std::int64_t prompt_tokens = -1;
  std::int64_t completion_tokens = -1;
  std::string finish_reason;
  double latency_s = 0.0;
  std::string error;                  // non-empty: generation failed (infra_error)
  std::optional<GradeRecord> grade;   // newest grade; empty while ungraded
};

// One sample as `reval samples` and `reval export` read it: the stored row, its newest grade and its problem's
// prompt, gold answers and metadata. The JSON columns are handed over as the stored text (compact, valid JSON), so
// an export writes them without parsing them.
struct SampleDetail {
  SampleRecord sample;                 // completion whole, or its head only when cut (see completion_tail)
  std::int64_t completion_chars = 0;   // characters (code points) of the stored completion
  bool completion_cut = false;         // the completion was longer than SampleQuery::head_chars + tail_chars
  std::string completion_tail;         // when cut: its last tail_chars characters
  std::optional<GradeRecord> grade;    // newest grade (result.details empty: see grade_details_json)
  std::string grade_details_json = "{}";
  bool has_problem = false;            // the problem row was found (SampleQuery::with_problem)
  std::string prompt;                  // the user turn as the model saw it
  std::string gold_json = "[]";
  std::string metadata_json = "{}";
};

// What a sample "is" for filtering and display: "infra_error" when its generation failed, "ungraded" without a
// grade, else the newest grade's verdict (correct, wrong, no_answer, ...).
std::string sample_status(const std::string& error, const std::optional<GradeRecord>& grade);
// The names sample_status returns; throws reval::Error naming the field and listing them for anything else.
void check_sample_status(const std::string& status, const std::string& field);

struct SampleQuery {
  std::string task;                    // "" = every task
  std::string problem_id;              // "" = every problem
  int sample_index = -1;               // -1 = every sample
  std::vector<std::string> statuses;   // empty = any; else sample_status() must be one of these
  bool truncated_only = false;         // only samples that stopped at the length limit (finish_reason "length")
  bool with_problem = true;            // also read the problem's prompt, gold and metadata
  std::int64_t head_chars = -1;        // -1: whole completions; else a longer one is cut to head_chars + tail_chars
  std::int64_t tail_chars = 0;         //   characters (completion + completion_tail, completion_cut set)
};

// A run is evaluated by one process at a time. A lease row (owner pid, host, heartbeat) claims it; the holder's
// heartbeat thread refreshes it every few seconds, and the destructor releases it. A lease is stale, and taken
// over, when its heartbeat is older than `stale_after_s` or its owner is a process on this host that no longer
// exists (a crash or SIGKILL).
struct LeaseOptions {
  std::string purpose = "eval";   // shown to a refused process ("eval", "regrade")
  double heartbeat_s = 5;
  double stale_after_s = 60;
};
class RunLease {
 public:
  virtual ~RunLease() = default;  // releases the lease
};

// What `reval check` reports.
struct StoreCheck {
  std::vector<std::string> integrity;                 // PRAGMA integrity_check lines ("ok" when sound)
  std::map<std::string, std::int64_t> rows;           // rows per table
  std::map<std::string, std::int64_t> orphans;        // rows whose parent is missing, by kind
  std::int64_t schema_version = 0;
  bool ok() const;
};

class SampleStore {
 public:
  virtual ~SampleStore() = default;

  // Creates the run, or returns the existing run with the same name (its stored config is kept).
  virtual RunInfo create_or_open_run(const RunInfo& run) = 0;
  // Replaces the stored configuration of a run (a resumed run extended with new tasks or a larger k, a merge).
  virtual void update_run_config(std::int64_t run_id, const nlohmann::json& config) = 0;
  virtual std::optional<RunInfo> find_run(const std::string& name) = 0;
  virtual std::optional<RunInfo> run_by_id(std::int64_t id) = 0;
  virtual std::vector<RunInfo> list_runs() = 0;

  // Idempotent: re-adding a problem of a run replaces it.
  virtual void put_problems(const std::vector<ProblemRecord>& problems) = 0;
  virtual std::vector<ProblemRecord> problems(std::int64_t run_id, const std::string& task = "") = 0;
  // problem_id -> metadata of the run's problems of `task`, without prompts, gold or grading fields (which hold
  // whole test sets for code tasks): what ratings read.
  virtual std::map<std::string, nlohmann::json> problem_metadata(std::int64_t run_id, const std::string& task) = 0;

  // Samples already stored for the run; samples whose generation failed (error set) are left out unless asked,
  // so a resumed run generates them again.
  virtual std::set<SampleKey> sample_keys(std::int64_t run_id, bool include_errors = false) = 0;
  // Queued; durable after flush(). created_at is stamped now unless the record carries one.
  virtual void add_sample(const SampleRecord& sample) = 0;
  // Queued; durable after flush(). A sample has one grade: a new grade replaces the previous one (schema v5).
  virtual void add_grade(const GradeRecord& grade) = 0;
  virtual void flush() = 0;                                  // waits until everything queued is committed

  virtual std::vector<SampleRecord> samples(std::int64_t run_id, const std::string& task = "") = 0;
  // The grade of each sample (the newest row, for files written before schema v5 held one row per grade).
  virtual std::vector<GradeRecord> grades(std::int64_t run_id, const std::string& task = "") = 0;

  // Added for reports (the defaults build them from samples()/grades(); the SQLite store answers with one query
  // that never reads completion text).
  // Every sample of the run (optionally of one task) with its newest grade, ordered by task, problem, index.
  virtual std::vector<SampleSummary> sample_summaries(std::int64_t run_id, const std::string& task = "");
  // Number of stored samples per task of the run (errored ones included).
  virtual std::map<std::string, std::int64_t> sample_counts(std::int64_t run_id);
  // Streams the run's samples that match `query`, ordered by task, problem, index, with their newest grade and
  // (with_problem) their problem's prompt, gold and metadata; memory stays bounded whatever the run's size. `fn`
  // must not call back into the store (the read connection is busy until the last row).
  virtual void for_each_sample(std::int64_t run_id, const SampleQuery& query,
                               const std::function<void(const SampleDetail&)>& fn);
  // The run's problems of `task` ("" = all) without their grading fields (test sets): prompt, gold, metadata.
  virtual std::vector<ProblemRecord> problem_texts(std::int64_t run_id, const std::string& task = "");

  // Claims the run for this process (see LeaseOptions). Throws reval::Error naming the holder when another live
  // process holds it.
  virtual std::unique_ptr<RunLease> lease_run(std::int64_t run_id, const LeaseOptions& options = {}) = 0;
  // Integrity check, row counts and orphan rows (`reval check`).
  virtual StoreCheck check() = 0;
  // Ratings (results/codeforces_rating.hpp). put_rating replaces the row with the same (run, task, method, params);
  // ratings() lists a run's rows ordered by task, method, params.
  virtual void put_rating(const RatingRecord& rating) = 0;
  virtual std::vector<RatingRecord> ratings(std::int64_t run_id, const std::string& task = "") = 0;
};

// Opens (creating if needed, unless read_only) a SQLite store. Throws reval::Error naming the path if it can't be
// opened, is not a reval database (it is then left untouched), is corrupt, or its schema is newer than this build
// understands. Errors SQLite reports as corruption say so and point at `reval check`.
std::unique_ptr<SampleStore> open_sqlite_store(const std::string& path, const StoreOptions& options = {});
// What reading commands (runs, report, compare, samples, export) open: an existing file, read-only, after
// quick_check. A missing file is an error naming it (never created empty).
std::unique_ptr<SampleStore> open_existing_store(const std::string& path);

}  // namespace reval
