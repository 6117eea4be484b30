// SQLite implementation of SampleStore.
//
// Theory of operation
// - Two connections to one WAL-mode file: a write connection (used by the background writer thread and by the few
//   synchronous writes: create_or_open_run, put_problems) guarded by `write_mu_`, and a read connection guarded by
//   `read_mu_`. WAL lets the reader see committed data while the writer appends.
// - add_sample/add_grade stamp created_at, copy the record into an in-memory queue and return at once; the writer
//   thread takes up to `batch_rows` queued rows, writes them in one BEGIN IMMEDIATE transaction with prepared
//   statements and commits. Generation therefore never waits on disk (unless the queue is full: max_queued_rows).
// - Every queued row has a sequence number; flush() waits until the writer has finished all rows queued before the
//   call. A failed batch is rolled back and retried row by row; the rows that still fail are counted and the first
//   error is kept; the next flush()/add_*() call throws it as reval::Error (once), so a lost write is never silent. Read methods flush first, so they see every row queued before them.
// - A sample is unique per (run, task, problem_id, sample_index). Writing a key again replaces the row (an upsert)
//   and drops the grades of the old completion (they judged text that no longer exists).
// - One grade per sample (version 5): add_grade upserts on (run, task, problem_id, sample_index), so a regrade
//   replaces the previous verdict instead of appending rows (no report showed the history; `reval regrade` says
//   which verdicts changed). Migration 5 keeps the newest grade of each sample of an older file. Readers still
//   take the newest row, so a version-4 file opened read-only reads the same.
// - created_at of a sample or grade is stamped on add unless the record carries one (`reval merge` keeps the
//   original times).
// - Ratings (version 3) are derived rows keyed by (run, task, method, params); put_rating replaces the row with the
//   same key in one synchronous statement (they are few and written after grading, not per sample).
// - Schema: PRAGMA user_version is the schema version; kMigrations lists one SQL script per version and every
//   script after the file's version runs in one transaction on open. A file newer than kSqliteSchemaVersion, or a
//   SQLite file of another application (application_id, or tables in a file without one), is refused with a clear
//   error before anything in it is changed. schema_migrations logs which build applied which version.
// - Read-only opening (reading commands): one read connection, no writer thread, no migration; on a read-only file
//   system, where WAL's shared-memory file cannot be created, the file is reopened as immutable.
// - Corruption: errors SQLite reports as SQLITE_CORRUPT/SQLITE_NOTADB say "corrupt" and point at `reval check`;
//   quick_check on open (eval start, reports) refuses a damaged file before anything reads or writes it.
// - Run leases (schema v4): run_leases holds one row per run being evaluated (owner token, pid, host, heartbeat);
//   lease_run() claims it in a write transaction unless a live holder has it, a thread refreshes the heartbeat, and
//   the destructor deletes the row.
#include <signal.h>
#include <cerrno>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <random>
#include <set>
#include <variant>

#include <fmt/format.h>

#include "base/error.hpp"
#include "results/store.hpp"
#include "reval/version.hpp"

namespace reval {

// ---- defaults of the methods added to SampleStore for reports ----

std::vector<SampleSummary> SampleStore::sample_summaries(std::int64_t run_id, const std::string& task) {
  std::map<SampleKey, GradeRecord> newest;
  for (auto& g : grades(run_id, task)) newest[g.key] = std::move(g);
  std::vector<SampleSummary> out;
  for (auto& s : samples(run_id, task)) {
    SampleSummary r;
    r.run_id = s.run_id;
    r.key = s.key;
    r.prompt_tokens = s.prompt_tokens;
    r.completion_tokens = s.completion_tokens;
    r.finish_reason = s.finish_reason;
    r.latency_s = s.latency_s;
    r.error = s.error;
    if (auto it = newest.find(s.key); it != newest.end()) r.grade = it->second;
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const SampleSummary& a, const SampleSummary& b) { return a.key < b.key; });
  return out;
}

std::map<std::string, std::int64_t> SampleStore::sample_counts(std::int64_t run_id) {
  std::map<std::string, std::int64_t> out;
  for (auto& s : samples(run_id)) ++out[s.key.task];
  return out;
}

std::string sample_status(const std::string& error, const std::optional<GradeRecord>& grade) {
  if (!error.empty()) return "infra_error";
  if (!grade) return "ungraded";
  return std::string(to_string(grade->result.verdict));
}

void check_sample_status(const std::string& status, const std::string& field) {
  if (status == "ungraded" || verdict_from_string(status)) return;
  std::string known;
  for (auto v : {Verdict::correct, Verdict::wrong, Verdict::no_answer, Verdict::compile_error, Verdict::runtime_error,
                 Verdict::time_limit, Verdict::memory_limit, Verdict::output_limit, Verdict::infra_error})
    known.append(to_string(v)).append(", ");
  throw Error(fmt::format("field '{}': unknown verdict '{}' (known: {}ungraded)", field, status, known));
}

namespace {
// Characters (code points) of UTF-8 text, as SQLite's length() counts them.
std::int64_t utf8_chars(const std::string& s) {
  std::int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}
// Byte offset of character `chars` (clamped to the end).
std::size_t utf8_offset(const std::string& s, std::int64_t chars) {
  std::size_t i = 0;
  for (; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && chars-- == 0) return i;
  return s.size();
}
}  // namespace

void SampleStore::for_each_sample(std::int64_t run_id, const SampleQuery& q,
                                  const std::function<void(const SampleDetail&)>& fn) {
  std::map<SampleKey, GradeRecord> newest;
  for (auto& g : grades(run_id, q.task)) newest[g.key] = std::move(g);
  std::map<std::pair<std::string, std::string>, ProblemRecord> problems;
  if (q.with_problem)
    for (auto& p : problem_texts(run_id, q.task)) problems[{p.task, p.problem_id}] = std::move(p);
  auto rows = samples(run_id, q.task);
  std::sort(rows.begin(), rows.end(), [](const SampleRecord& a, const SampleRecord& b) { return a.key < b.key; });
  for (auto& s : rows) {
    if (!q.problem_id.empty() && s.key.problem_id != q.problem_id) continue;
    if (q.sample_index >= 0 && s.key.sample_index != q.sample_index) continue;
    if (q.truncated_only && s.finish_reason != "length") continue;
    SampleDetail d;
    if (auto it = newest.find(s.key); it != newest.end()) {
      d.grade_details_json = it->second.result.details.dump();
      d.grade = std::move(it->second);
      d.grade->result.details = nlohmann::json::object();
    }
    if (!q.statuses.empty() &&
        std::find(q.statuses.begin(), q.statuses.end(), sample_status(s.error, d.grade)) == q.statuses.end())
      continue;
    d.completion_chars = utf8_chars(s.completion);
    if (q.head_chars >= 0 && d.completion_chars > q.head_chars + q.tail_chars) {
      d.completion_cut = true;
      d.completion_tail = s.completion.substr(utf8_offset(s.completion, d.completion_chars - q.tail_chars));
      s.completion.resize(utf8_offset(s.completion, q.head_chars));
    }
    if (auto it = problems.find({s.key.task, s.key.problem_id}); it != problems.end()) {
      d.has_problem = true;
      d.prompt = it->second.prompt;
      d.gold_json = it->second.gold.dump();
      d.metadata_json = it->second.metadata.dump();
    }
    d.sample = std::move(s);
    fn(d);
  }
}

std::vector<ProblemRecord> SampleStore::problem_texts(std::int64_t run_id, const std::string& task) {
  auto out = problems(run_id, task);
  for (auto& p : out) p.grading = nlohmann::json::object();
  return out;
}

bool StoreCheck::ok() const {
  if (integrity.size() != 1 || integrity.front() != "ok") return false;
  for (const auto& [kind, n] : orphans)
    if (n != 0) return false;
  return true;
}

namespace {

constexpr int kApplicationId = 0x7265766c;  // "revl"

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// One script per schema version; never edit a released script, add a new version instead.
const Migration kMigrations[] = {
    {1, "initial schema: runs, problems, samples, grades", R"sql(
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  model TEXT NOT NULL,
  model_hash TEXT NOT NULL,
  backend TEXT NOT NULL,
  engine_version TEXT NOT NULL,
  device TEXT NOT NULL,
  host TEXT NOT NULL,
  reval_version TEXT NOT NULL,
  config TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE problems (
  run_id INTEGER NOT NULL REFERENCES runs(id),
  task TEXT NOT NULL,
  problem_id TEXT NOT NULL,
  prompt TEXT NOT NULL,
  gold TEXT NOT NULL,
  grading TEXT NOT NULL,
  metadata TEXT NOT NULL,
  PRIMARY KEY (run_id, task, problem_id)
);
CREATE TABLE samples (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  task TEXT NOT NULL,
  problem_id TEXT NOT NULL,
  sample_index INTEGER NOT NULL,
  completion TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  finish_reason TEXT NOT NULL,
  latency_s REAL NOT NULL,
  seed INTEGER NOT NULL,
  error TEXT NOT NULL,
  created_at TEXT NOT NULL,
  UNIQUE (run_id, task, problem_id, sample_index)
);
CREATE TABLE grades (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  task TEXT NOT NULL,
  problem_id TEXT NOT NULL,
  sample_index INTEGER NOT NULL,
  grader TEXT NOT NULL,
  grader_version TEXT NOT NULL,
  verdict TEXT NOT NULL,
  score REAL NOT NULL,
  extracted TEXT,
  details TEXT NOT NULL,
  created_at TEXT NOT NULL
);
)sql"},
    {2, "runs.preset; index of grades by sample; migration log", R"sql(
ALTER TABLE runs ADD COLUMN preset TEXT NOT NULL DEFAULT '';
CREATE INDEX grades_by_sample ON grades (run_id, task, problem_id, sample_index, id);
CREATE TABLE schema_migrations (
  version INTEGER PRIMARY KEY,
  description TEXT NOT NULL,
  applied_at TEXT NOT NULL,
  reval_version TEXT NOT NULL
);
)sql"},
    {3, "ratings: Codeforces-style ratings per run, method and parameters", R"sql(
CREATE TABLE ratings (
  run_id INTEGER NOT NULL REFERENCES runs(id),
  task TEXT NOT NULL,
  method TEXT NOT NULL,
  params TEXT NOT NULL,
  rating REAL,
  se REAL,
  ci_lo REAL,
  ci_hi REAL,
  percentile REAL,
  population TEXT NOT NULL,
  used INTEGER NOT NULL,
  skipped INTEGER NOT NULL,
  details TEXT NOT NULL,
  computed_at TEXT NOT NULL,
  reval_version TEXT NOT NULL,
  PRIMARY KEY (run_id, task, method, params)
);
)sql"},
    {4, "run leases: one evaluating process per run", R"sql(
CREATE TABLE run_leases (
  run_id INTEGER PRIMARY KEY REFERENCES runs(id),
  owner TEXT NOT NULL,
  pid INTEGER NOT NULL,
  host TEXT NOT NULL,
  purpose TEXT NOT NULL,
  acquired_at TEXT NOT NULL,
  heartbeat_unix REAL NOT NULL
);
)sql"},
    {5, "one grade per sample: regrade replaces the previous grade (older grade rows dropped)", R"sql(
DELETE FROM grades WHERE id NOT IN (
  SELECT MAX(id) FROM grades GROUP BY run_id, task, problem_id, sample_index);
DROP INDEX IF EXISTS grades_by_sample;
CREATE UNIQUE INDEX grades_one_per_sample ON grades (run_id, task, problem_id, sample_index);
)sql"},
};
static_assert(std::size(kMigrations) == kSqliteSchemaVersion, "one migration per schema version");

// ISO-8601 UTC with milliseconds. The "YYYY-MM-DDTHH:MM:SS" part is formatted once per second per thread.
std::string now_utc() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  thread_local std::time_t cached_t = -1;
  thread_local char prefix[64];
  if (t != cached_t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::snprintf(prefix, sizeof prefix, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_t = t;
  }
  std::string out(prefix);
  out += '.';
  out += static_cast<char>('0' + ms / 100);
  out += static_cast<char>('0' + ms / 10 % 10);
  out += static_cast<char>('0' + ms % 10);
  out += 'Z';
  return out;
}

// Owns one prepared statement; reset after each use by the Use guard.
class Stmt {
 public:
  Stmt() = default;
  Stmt(sqlite3* db, const char* sql, bool persistent, const std::string& path) {
    int rc = sqlite3_prepare_v3(db, sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0, &s_, nullptr);
    if (rc != SQLITE_OK)
      throw Error(fmt::format("{}: preparing statement failed: {} ({})", path, sqlite3_errmsg(db), sql));
  }
  Stmt(Stmt&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Stmt& operator=(Stmt&& o) noexcept {
    if (this != &o) {
      sqlite3_finalize(s_);
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  ~Stmt() { sqlite3_finalize(s_); }
  sqlite3_stmt* get() const { return s_; }

  void bind(int i, std::string_view v) { sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC); }
  void bind(int i, std::int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void bind(int i, int v) { sqlite3_bind_int64(s_, i, v); }
  void bind(int i, double v) { sqlite3_bind_double(s_, i, v); }
  void bind_null(int i) { sqlite3_bind_null(s_, i); }

  std::string text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    int n = sqlite3_column_bytes(s_, col);
    return p ? std::string(p, static_cast<size_t>(n)) : std::string();
  }
  bool is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  std::int64_t i64(int col) const { return sqlite3_column_int64(s_, col); }
  double f64(int col) const { return sqlite3_column_double(s_, col); }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// Resets and clears a statement's bindings when it leaves scope, so cached statements never hold locks or dangling
// pointers to bound strings.
struct Use {
  explicit Use(Stmt& s) : st(s) {}
  ~Use() {
    sqlite3_reset(st.get());
    sqlite3_clear_bindings(st.get());
  }
  Stmt& st;
};

nlohmann::json parse_json_column(const std::string& text, const std::string& path, const char* column) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(fmt::format("{}: field '{}': stored JSON is invalid: {}", path, column, e.what()));
  }
}

// Compact JSON; invalid UTF-8 inside strings (model output copied into grader details) becomes U+FFFD instead of
// failing the write.
std::string dump_json(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

using QueueItem = std::variant<SampleRecord, GradeRecord>;

class SqliteStore final : public SampleStore {
 public:
  SqliteStore(const std::string& path, const StoreOptions& options) : path_(path), opt_(options) {
    if (opt_.batch_rows < 1) throw Error(path_ + ": field 'batch_rows': must be >= 1");
    if (opt_.max_queued_rows < 1) opt_.max_queued_rows = 1;
    if (opt_.read_only) {
      open_read_only();
      return;
    }
    wdb_ = open_connection(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    try {
      configure_and_migrate();
      if (opt_.quick_check) quick_check(wdb_);
      rdb_ = open_connection(SQLITE_OPEN_READWRITE);
      exec(rdb_, "PRAGMA query_only=ON;");
      prepare_write_statements();
    } catch (...) {
      close_all();
      throw;
    }
    writer_ = std::thread([this] { writer_loop(); });
  }

  ~SqliteStore() override {
    if (opt_.read_only) {
      close_all();
      return;
    }
    {
      std::lock_guard lk(qmu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    if (writer_.joinable()) writer_.join();  // the writer drains the queue before it stops
    if (!error_.empty())
      std::fprintf(stderr, "reval: error: %s: %zu queued rows were not written: %s\n", path_.c_str(), failed_rows_,
                   error_.c_str());
    close_all();
  }

  RunInfo create_or_open_run(const RunInfo& run) override {
    writable("create a run");
    throw_pending_error();
    RunInfo r = run;
    if (r.name.empty()) {
      std::string base = r.model;
      while (!base.empty() && base.back() == '/') base.pop_back();
      if (auto slash = base.rfind('/'); slash != std::string::npos) base = base.substr(slash + 1);
      r.name = base + (r.backend.empty() ? "" : "-" + r.backend);
    }
    if (r.name.empty()) throw Error(path_ + ": field 'name': a run needs a name (or a model to derive it from)");
    {
      std::lock_guard lk(write_mu_);
      exec(wdb_, "BEGIN IMMEDIATE;");
      try {
        bool exists;
        {
          Stmt find(wdb_, "SELECT id FROM runs WHERE name = ?1", false, path_);
          find.bind(1, std::string_view(r.name));
          exists = step_row(wdb_, find);
        }
        if (!exists) {
          Stmt ins(wdb_,
                   "INSERT INTO runs (name, model, model_hash, backend, engine_version, device, host, reval_version,"
                   " preset, config, created_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
                   false, path_);
          std::string config = dump_json(r.config);
          std::string created = now_utc();
          ins.bind(1, std::string_view(r.name));
          ins.bind(2, std::string_view(r.model));
          ins.bind(3, std::string_view(r.model_hash));
          ins.bind(4, std::string_view(r.backend));
          ins.bind(5, std::string_view(r.engine_version));
          ins.bind(6, std::string_view(r.device));
          ins.bind(7, std::string_view(r.host));
          ins.bind(8, std::string_view(r.reval_version));
          ins.bind(9, std::string_view(r.preset));
          ins.bind(10, std::string_view(config));
          ins.bind(11, std::string_view(created));
          step_done(wdb_, ins, "runs");
        }
        exec(wdb_, "COMMIT;");
      } catch (...) {
        sqlite3_exec(wdb_, "ROLLBACK;", nullptr, nullptr, nullptr);
        throw;
      }
    }
    auto stored = find_run(r.name);
    if (!stored) throw Error(path_ + ": run '" + r.name + "' vanished after it was created");
    return *stored;
  }

  void update_run_config(std::int64_t run_id, const nlohmann::json& config) override {
    writable("update a run's configuration");
    throw_pending_error();
    std::string text = dump_json(config);
    std::lock_guard lk(write_mu_);
    Stmt st(wdb_, "UPDATE runs SET config = ?1 WHERE id = ?2", false, path_);
    st.bind(1, std::string_view(text));
    st.bind(2, run_id);
    step_done(wdb_, st, "runs", fmt::format("{} (config)", run_id));
    if (sqlite3_changes(wdb_) != 1) throw Error(fmt::format("{}: run {} does not exist", path_, run_id));
  }

  std::optional<RunInfo> find_run(const std::string& name) override {
    auto runs = query_runs("WHERE name = ?1", name, 0);
    if (runs.empty()) return std::nullopt;
    return runs.front();
  }

  std::optional<RunInfo> run_by_id(std::int64_t id) override {
    auto runs = query_runs("WHERE id = ?1", {}, id);
    if (runs.empty()) return std::nullopt;
    return runs.front();
  }

  std::vector<RunInfo> list_runs() override { return query_runs("", {}, 0); }

  void put_problems(const std::vector<ProblemRecord>& problems) override {
    writable("store problems");
    throw_pending_error();
    std::lock_guard lk(write_mu_);
    exec(wdb_, "BEGIN IMMEDIATE;");
    try {
      Use u(put_problem_);
      for (const auto& p : problems) {
        std::string gold = dump_json(p.gold), grading = dump_json(p.grading), metadata = dump_json(p.metadata);
        put_problem_.bind(1, p.run_id);
        put_problem_.bind(2, std::string_view(p.task));
        put_problem_.bind(3, std::string_view(p.problem_id));
        put_problem_.bind(4, std::string_view(p.prompt));
        put_problem_.bind(5, std::string_view(gold));
        put_problem_.bind(6, std::string_view(grading));
        put_problem_.bind(7, std::string_view(metadata));
        step_done(wdb_, put_problem_, "problems", p.task + "/" + p.problem_id);
        sqlite3_reset(put_problem_.get());
      }
      exec(wdb_, "COMMIT;");
    } catch (...) {
      sqlite3_exec(wdb_, "ROLLBACK;", nullptr, nullptr, nullptr);
      throw;
    }
  }

  std::vector<ProblemRecord> problems(std::int64_t run_id, const std::string& task) override {
    return read_problems(run_id, task, /*with_grading=*/true);
  }

  std::map<std::string, nlohmann::json> problem_metadata(std::int64_t run_id, const std::string& task) override {
    std::lock_guard lk(read_mu_);
    Stmt st(rdb_, "SELECT problem_id, metadata FROM problems WHERE run_id = ?1 AND task = ?2", false, path_);
    st.bind(1, run_id);
    st.bind(2, std::string_view(task));
    std::map<std::string, nlohmann::json> out;
    while (step_row(rdb_, st)) out[st.text(0)] = parse_json_column(st.text(1), path_, "problems.metadata");
    return out;
  }

  std::set<SampleKey> sample_keys(std::int64_t run_id, bool include_errors) override {
    flush();
    std::lock_guard lk(read_mu_);
    Stmt st(rdb_,
            "SELECT task, problem_id, sample_index FROM samples WHERE run_id = ?1 AND (?2 OR error = '')", false,
            path_);
    st.bind(1, run_id);
    st.bind(2, include_errors ? 1 : 0);
    std::set<SampleKey> out;
    while (step_row(rdb_, st)) out.insert(SampleKey{st.text(0), st.text(1), static_cast<int>(st.i64(2))});
    return out;
  }

  void add_sample(const SampleRecord& sample) override {
    writable("store a sample");
    SampleRecord s = sample;
    if (s.created_at.empty()) s.created_at = now_utc();
    enqueue(QueueItem(std::move(s)));
  }

  void add_grade(const GradeRecord& grade) override {
    writable("store a grade");
    GradeRecord g = grade;
    if (g.created_at.empty()) g.created_at = now_utc();
    enqueue(QueueItem(std::move(g)));
  }

  void flush() override {
    if (opt_.read_only) return;
    std::unique_lock lk(qmu_);
    std::uint64_t target = enqueued_;
    ++flush_waiters_;
    done_cv_.wait(lk, [&] { return completed_ >= target; });
    --flush_waiters_;
    throw_pending_error_locked();
  }

  std::vector<SampleRecord> samples(std::int64_t run_id, const std::string& task) override {
    flush();
    std::lock_guard lk(read_mu_);
    Stmt st(rdb_,
            "SELECT run_id, task, problem_id, sample_index, completion, prompt_tokens, completion_tokens,"
            " finish_reason, latency_s, seed, error, created_at FROM samples"
            " WHERE run_id = ?1 AND (?2 = '' OR task = ?2) ORDER BY task, problem_id, sample_index",
            false, path_);
    st.bind(1, run_id);
    st.bind(2, std::string_view(task));
    std::vector<SampleRecord> out;
    while (step_row(rdb_, st)) {
      SampleRecord s;
      s.run_id = st.i64(0);
      s.key = SampleKey{st.text(1), st.text(2), static_cast<int>(st.i64(3))};
      s.completion = st.text(4);
      s.prompt_tokens = st.i64(5);
      s.completion_tokens = st.i64(6);
      s.finish_reason = st.text(7);
      s.latency_s = st.f64(8);
      s.seed = static_cast<std::uint64_t>(st.i64(9));
      s.error = st.text(10);
      s.created_at = st.text(11);
      out.push_back(std::move(s));
    }
    return out;
  }

  std::vector<GradeRecord> grades(std::int64_t run_id, const std::string& task) override {
    flush();
    std::lock_guard lk(read_mu_);
    Stmt st(rdb_,
            "SELECT run_id, task, problem_id, sample_index, grader, grader_version, verdict, score, extracted,"
            " details, created_at FROM grades g WHERE run_id = ?1 AND (?2 = '' OR task = ?2) AND id = ("
            "  SELECT MAX(id) FROM grades h WHERE h.run_id = g.run_id AND h.task = g.task"
            "  AND h.problem_id = g.problem_id AND h.sample_index = g.sample_index)"
            " ORDER BY task, problem_id, sample_index",
            false, path_);
    st.bind(1, run_id);
    st.bind(2, std::string_view(task));
    std::vector<GradeRecord> out;
    while (step_row(rdb_, st)) out.push_back(read_grade(st, 0));
    return out;
  }

  std::vector<SampleSummary> sample_summaries(std::int64_t run_id, const std::string& task) override {
    flush();
    std::lock_guard lk(read_mu_);
    Stmt st(rdb_,
            "SELECT s.run_id, s.task, s.problem_id, s.sample_index, s.prompt_tokens, s.completion_tokens,"
            " s.finish_reason, s.latency_s, s.error,"
            " g.run_id, g.task, g.problem_id, g.sample_index, g.grader, g.grader_version, g.verdict, g.score,"
            " g.extracted, g.details, g.created_at"
            " FROM samples s LEFT JOIN grades g ON g.id = ("
            "  SELECT MAX(id) FROM grades h WHERE h.run_id = s.run_id AND h.task = s.task"
            "  AND h.problem_id = s.problem_id AND h.sample_index = s.sample_index)"
            " WHERE s.run_id = ?1 AND (?2 = '' OR s.task = ?2) ORDER BY s.task, s.problem_id, s.sample_index",
            false, path_);
    st.bind(1, run_id);
    st.bind(2, std::string_view(task));
    std::vector<SampleSummary> out;
    while (step_row(rdb_, st)) {
      SampleSummary r;
      r.run_id = st.i64(0);
      r.key = SampleKey{st.text(1), st.text(2), static_cast<int>(st.i64(3))};
      r.prompt_tokens = st.i64(4);
      r.completion_tokens = st.i64(5);
      r.finish_reason = st.text(6);
      r.latency_s = st.f64(7);
      r.error = st.text(8);
      if (!st.is_null(9)) r.grade = read_grade(st, 9);
      out.push_back(std::move(r));
    }
    return out;
  }

  void for_each_sample(std::int64_t run_id, const SampleQuery& q,
                       const std::function<void(const SampleDetail&)>& fn) override {
    for (const auto& v : q.statuses) check_sample_status(v, "verdict");
    flush();
    std::lock_guard lk(read_mu_);
    // One cached statement per shape (which filters are set, with or without the problem join), reused across
    // calls: the HTML report looks up thousands of single samples. Only the filters in use appear in the SQL, so
    // a lookup by task, problem and index is a search of the (run_id, task, problem_id, sample_index) index, not a
    // scan of the run ("?2 = '' OR task = ?2" would keep SQLite to run_id alone).
    const bool by_task = !q.task.empty(), by_problem = !q.problem_id.empty(), by_index = q.sample_index >= 0;
    const bool by_status = !q.statuses.empty();
    const int shape = (q.with_problem ? 1 : 0) | (by_task ? 2 : 0) | (by_problem ? 4 : 0) | (by_index ? 8 : 0) |
                      (q.truncated_only ? 16 : 0) | (by_status ? 32 : 0);
    Stmt& st = sample_stmts_[shape];
    if (!st.get()) {
      std::string sql =
          "SELECT s.run_id, s.task, s.problem_id, s.sample_index, length(s.completion),"
          " CASE WHEN ?7 < 0 OR length(s.completion) <= ?7 + ?8 THEN s.completion ELSE substr(s.completion, 1, ?7) END,"
          " CASE WHEN ?7 < 0 OR ?8 <= 0 OR length(s.completion) <= ?7 + ?8 THEN '' ELSE substr(s.completion, -?8) END,"
          " s.prompt_tokens, s.completion_tokens, s.finish_reason, s.latency_s, s.seed, s.error, s.created_at,"
          " g.run_id, g.task, g.problem_id, g.sample_index, g.grader, g.grader_version, g.verdict, g.score,"
          " g.extracted, g.details, g.created_at";
      sql += q.with_problem ? ", p.prompt, p.gold, p.metadata" : ", NULL, NULL, NULL";
      sql += " FROM samples s LEFT JOIN grades g ON g.id = ("
             "  SELECT MAX(id) FROM grades h WHERE h.run_id = s.run_id AND h.task = s.task"
             "  AND h.problem_id = s.problem_id AND h.sample_index = s.sample_index)";
      if (q.with_problem)
        sql += " LEFT JOIN problems p ON p.run_id = s.run_id AND p.task = s.task AND p.problem_id = s.problem_id";
      sql += " WHERE s.run_id = ?1";
      if (by_task) sql += " AND s.task = ?2";
      if (by_problem) sql += " AND s.problem_id = ?3";
      if (by_index) sql += " AND s.sample_index = ?4";
      if (q.truncated_only) sql += " AND s.finish_reason = 'length'";
      if (by_status)
        sql += " AND instr(?6, ',' || (CASE WHEN s.error <> '' THEN 'infra_error'"
               "   WHEN g.id IS NULL THEN 'ungraded' ELSE g.verdict END) || ',') > 0";
      sql += " ORDER BY s.task, s.problem_id, s.sample_index";
      st = Stmt(rdb_, sql.c_str(), true, path_);
    }
    std::string statuses;
    if (!q.statuses.empty()) {
      statuses = ",";
      for (const auto& v : q.statuses) statuses += v + ",";
    }
    Use u(st);
    st.bind(1, run_id);
    st.bind(2, std::string_view(q.task));
    st.bind(3, std::string_view(q.problem_id));
    st.bind(4, q.sample_index);
    st.bind(6, std::string_view(statuses));
    st.bind(7, q.head_chars);
    st.bind(8, q.tail_chars);
    SampleDetail d;
    while (step_row(rdb_, st)) {
      d.sample.run_id = st.i64(0);
      d.sample.key = SampleKey{st.text(1), st.text(2), static_cast<int>(st.i64(3))};
      d.completion_chars = st.i64(4);
      d.sample.completion = st.text(5);
      d.completion_tail = st.text(6);
      d.completion_cut = q.head_chars >= 0 && d.completion_chars > q.head_chars + q.tail_chars;
      d.sample.prompt_tokens = st.i64(7);
      d.sample.completion_tokens = st.i64(8);
      d.sample.finish_reason = st.text(9);
      d.sample.latency_s = st.f64(10);
      d.sample.seed = static_cast<std::uint64_t>(st.i64(11));
      d.sample.error = st.text(12);
      d.sample.created_at = st.text(13);
      d.grade.reset();
      d.grade_details_json = "{}";
      if (!st.is_null(14)) {
        GradeRecord g;
        g.run_id = st.i64(14);
        g.key = SampleKey{st.text(15), st.text(16), static_cast<int>(st.i64(17))};
        g.grader = st.text(18);
        g.grader_version = st.text(19);
        std::string verdict = st.text(20);
        auto v = verdict_from_string(verdict);
        if (!v) throw Error(fmt::format("{}: field 'grades.verdict': unknown verdict '{}'", path_, verdict));
        g.result.verdict = *v;
        g.result.score = st.f64(21);
        if (!st.is_null(22)) g.result.extracted = st.text(22);
        d.grade_details_json = st.text(23);
        g.created_at = st.text(24);
        d.grade = std::move(g);
      }
      d.has_problem = !st.is_null(25);
      d.prompt = d.has_problem ? st.text(25) : std::string();
      d.gold_json = d.has_problem ? st.text(26) : std::string("[]");
      d.metadata_json = d.has_problem ? st.text(27) : std::string("{}");
      fn(d);
    }
  }

  std::vector<ProblemRecord> problem_texts(std::int64_t run_id, const std::string& task) override {
    return read_problems(run_id, task, /*with_grading=*/false);  // tests can be megabytes: not read
  }

  // The problems of a run (of one task, or all with task ""), in (task, problem_id) order; the grading column only
  // when asked for.
  std::vector<ProblemRecord> read_problems(std::int64_t run_id, const std::string& task, bool with_grading) {
    std::lock_guard lk(read_mu_);
    const std::string sql = std::string("SELECT run_id, task, problem_id, prompt, gold, metadata") +
                            (with_grading ? ", grading" : "") +
                            " FROM problems WHERE run_id = ?1 AND (?2 = '' OR task = ?2) ORDER BY task, problem_id";
    Stmt st(rdb_, sql.c_str(), false, path_);
    st.bind(1, run_id);
    st.bind(2, std::string_view(task));
    std::vector<ProblemRecord> out;
    while (step_row(rdb_, st)) {
      ProblemRecord p;
      p.run_id = st.i64(0);
      p.task = st.text(1);
      p.problem_id = st.text(2);
      p.prompt = st.text(3);
      p.gold = parse_json_column(st.text(4), path_, "problems.gold");
      p.metadata = parse_json_column(st.text(5), path_, "problems.metadata");
      if (with_grading) p.grading = parse_json_column(st.text(6), path_, "problems.grading");
      out.push_back(std::move(p));
    }
    return out;
  }

  void put_rating(const RatingRecord& r) override {
    writable("store a rating");
    throw_pending_error();
    if (r.method.empty()) throw Error(path_ + ": field 'ratings.method': empty");
    std::string params = dump_json(r.params), details = dump_json(r.details), at = now_utc();
    std::lock_guard lk(write_mu_);
    Stmt st(wdb_,
            "INSERT OR REPLACE INTO ratings (run_id, task, method, params, rating, se, ci_lo, ci_hi, percentile,"
            " population, used, skipped, details, computed_at, reval_version)"
            " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
            false, path_);
    auto real = [&](int i, double v) {  // NaN -> NULL; infinities are stored as such
      if (std::isnan(v)) st.bind_null(i);
      else st.bind(i, v);
    };
    st.bind(1, r.run_id);
    st.bind(2, std::string_view(r.task));
    st.bind(3, std::string_view(r.method));
    st.bind(4, std::string_view(params));
    real(5, r.rating);
    real(6, r.se);
    real(7, r.ci_lo);
    real(8, r.ci_hi);
    real(9, r.percentile);
    st.bind(10, std::string_view(r.population));
    st.bind(11, r.used);
    st.bind(12, r.skipped);
    st.bind(13, std::string_view(details));
    st.bind(14, std::string_view(at));
    st.bind(15, std::string_view(kVersion));
    step_done(wdb_, st, "ratings", fmt::format("{}/{}", r.task, r.method));
  }

  std::vector<RatingRecord> ratings(std::int64_t run_id, const std::string& task) override {
    if (read_schema_version_ < 3) return {};  // a file read as it is, from before ratings existed
    std::lock_guard lk(read_mu_);
    Stmt st(rdb_,
            "SELECT run_id, task, method, params, rating, se, ci_lo, ci_hi, percentile, population, used, skipped,"
            " details, computed_at FROM ratings WHERE run_id = ?1 AND (?2 = '' OR task = ?2)"
            " ORDER BY task, method, params",
            false, path_);
    st.bind(1, run_id);
    st.bind(2, std::string_view(task));
    std::vector<RatingRecord> out;
    auto real = [&](int col) { return st.is_null(col) ? std::nan("") : st.f64(col); };
    while (step_row(rdb_, st)) {
      RatingRecord r;
      r.run_id = st.i64(0);
      r.task = st.text(1);
      r.method = st.text(2);
      r.params = parse_json_column(st.text(3), path_, "ratings.params");
      r.rating = real(4);
      r.se = real(5);
      r.ci_lo = real(6);
      r.ci_hi = real(7);
      r.percentile = real(8);
      r.population = st.text(9);
      r.used = static_cast<int>(st.i64(10));
      r.skipped = static_cast<int>(st.i64(11));
      r.details = parse_json_column(st.text(12), path_, "ratings.details");
      r.computed_at = st.text(13);
      out.push_back(std::move(r));
    }
    return out;
  }

  std::map<std::string, std::int64_t> sample_counts(std::int64_t run_id) override {
    flush();
    std::lock_guard lk(read_mu_);
    Stmt st(rdb_, "SELECT task, COUNT(*) FROM samples WHERE run_id = ?1 GROUP BY task", false, path_);
    st.bind(1, run_id);
    std::map<std::string, std::int64_t> out;
    while (step_row(rdb_, st)) out[st.text(0)] = st.i64(1);
    return out;
  }

  std::unique_ptr<RunLease> lease_run(std::int64_t run_id, const LeaseOptions& options) override;

  StoreCheck check() override {
    flush();
    StoreCheck out;
    std::lock_guard lk(read_mu_);
    auto query = [&](const char* sql) -> std::int64_t {
      try {
        Stmt st(rdb_, sql, false, path_);
        return step_row(rdb_, st) ? st.i64(0) : 0;
      } catch (const Error& e) {
        out.integrity.push_back(e.what());
        return -1;
      }
    };
    try {
      Stmt st(rdb_, "PRAGMA integrity_check", false, path_);
      while (step_row(rdb_, st)) out.integrity.push_back(st.text(0));
    } catch (const Error& e) {
      out.integrity.push_back(e.what());
    }
    out.schema_version = query("PRAGMA user_version");
    for (const char* table : {"runs", "problems", "samples", "grades"})
      out.rows[table] = query(fmt::format("SELECT COUNT(*) FROM {}", table).c_str());
    if (out.schema_version >= 3) out.rows["ratings"] = query("SELECT COUNT(*) FROM ratings");
    if (out.schema_version >= 4) out.rows["run_leases"] = query("SELECT COUNT(*) FROM run_leases");
    out.orphans["problems without a run"] =
        query("SELECT COUNT(*) FROM problems WHERE run_id NOT IN (SELECT id FROM runs)");
    out.orphans["samples without a run"] =
        query("SELECT COUNT(*) FROM samples WHERE run_id NOT IN (SELECT id FROM runs)");
    out.orphans["samples without a problem"] = query(
        "SELECT COUNT(*) FROM samples s WHERE NOT EXISTS (SELECT 1 FROM problems p WHERE p.run_id = s.run_id"
        " AND p.task = s.task AND p.problem_id = s.problem_id)");
    out.orphans["grades without a sample"] = query(
        "SELECT COUNT(*) FROM grades g WHERE NOT EXISTS (SELECT 1 FROM samples s WHERE s.run_id = g.run_id"
        " AND s.task = g.task AND s.problem_id = g.problem_id AND s.sample_index = g.sample_index)");
    return out;
  }

  // For the lease (same translation unit).
  friend class SqliteLease;

 private:
  void writable(const char* what) const {
    if (opt_.read_only) throw Error(fmt::format("{}: opened read-only; cannot {}", path_, what));
  }

  // Why the last call on `db` failed, naming corruption as such.
  std::string db_error(sqlite3* db) const {
    std::string msg = sqlite3_errmsg(db);
    int code = sqlite3_extended_errcode(db) & 0xff;
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
      msg += fmt::format(" (the database file is corrupt: `reval check --db {}` shows the damage; restore a copy or "
                         "start a new --db)", path_);
    return msg;
  }

  void quick_check(sqlite3* db) {
    std::vector<std::string> lines;
    try {
      Stmt st(db, "PRAGMA quick_check(20)", false, path_);
      while (step_row(db, st)) lines.push_back(st.text(0));
    } catch (const Error& e) {
      lines.push_back(e.what());
    }
    if (lines.size() == 1 && lines.front() == "ok") return;
    std::string first = lines.empty() ? "no answer" : lines.front();
    throw Error(fmt::format("{}: the database file is corrupt ({}{}); `reval check --db {}` shows the damage; "
                            "restore a copy or start a new --db",
                            path_, first, lines.size() > 1 ? fmt::format(", and {} more problems", lines.size() - 1) : "",
                            path_));
  }

  // Reads user_version/application_id and refuses what is not a usable reval database, changing nothing.
  // Returns the schema version (0 for a new, empty file).
  std::int64_t check_identity(sqlite3* db) {
    std::int64_t version = 0, app_id = 0, tables = 0;
    try {
      version = pragma_int(db, "PRAGMA user_version");
      app_id = pragma_int(db, "PRAGMA application_id");
      Stmt st(db, "SELECT COUNT(*) FROM sqlite_master", false, path_);
      if (step_row(db, st)) tables = st.i64(0);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: not a reval results database ({})", path_, db_error(db)));
    }
    if (app_id != 0 && app_id != kApplicationId)
      throw Error(fmt::format("{}: not a reval results database (SQLite application_id {:#x})", path_, app_id));
    if (app_id == 0 && version == 0 && tables > 0) {
      std::string names;
      Stmt st(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name LIMIT 5", false, path_);
      while (step_row(db, st)) names += (names.empty() ? "" : ", ") + st.text(0);
      throw Error(fmt::format("{}: not a reval results database (an SQLite file of another application, with "
                              "tables {}); it was left unchanged",
                              path_, names.empty() ? "?" : names));
    }
    if (version > kSqliteSchemaVersion)
      throw Error(fmt::format(
          "{}: field 'schema_version': the database has schema version {}, newer than this build of reval ({}) "
          "understands (version {}); upgrade reval to read it",
          path_, version, kVersion, kSqliteSchemaVersion));
    return version;
  }

  void open_read_only() {
    auto attempt = [&](bool immutable) {
      rdb_ = open_connection(SQLITE_OPEN_READONLY, immutable);
      std::int64_t version = check_identity(rdb_);
      if (version == 0)
        throw Error(fmt::format("{}: not a reval results database (an empty SQLite file)", path_));
      // Versions 2 and up hold every column the readers use (later versions add tables only writers need).
      if (version < 2)
        throw Error(fmt::format("{}: field 'schema_version': written by an older reval (schema version {}); open it "
                                "once with a writing command (reval eval or regrade) to migrate it to version {}",
                                path_, version, kSqliteSchemaVersion));
      read_schema_version_ = version;
      if (opt_.quick_check) quick_check(rdb_);
    };
    try {
      attempt(false);
    } catch (const Error&) {
      // WAL readers need the -shm file; on a read-only file system it cannot be created. An immutable open reads
      // the main file without locks (a WAL left by a crashed writer is then not seen).
      int code = rdb_ ? sqlite3_extended_errcode(rdb_) & 0xff : 0;
      if (rdb_) sqlite3_close_v2(rdb_);
      rdb_ = nullptr;
      if (code != SQLITE_CANTOPEN && code != SQLITE_READONLY && code != SQLITE_BUSY) throw;
      attempt(true);
    }
  }

  // ---- connection setup ----

  sqlite3* open_connection(int flags, bool immutable = false) {
    sqlite3* db = nullptr;
    std::string name = path_;
    if (immutable) {  // a URI; '?' and '#' in the path must be escaped
      name = "file:";
      for (char ch : path_) name += ch == '?' ? std::string("%3f") : ch == '#' ? std::string("%23") : ch == '%' ? std::string("%25") : std::string(1, ch);
      name += "?immutable=1";
      flags |= SQLITE_OPEN_URI;
    }
    int rc = sqlite3_open_v2(name.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, opt_.vfs.empty() ? nullptr : opt_.vfs.c_str());
    if (rc != SQLITE_OK) {
      std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
      sqlite3_close_v2(db);
      throw Error(fmt::format("{}: cannot open database: {}", path_, msg));
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, opt_.busy_timeout_ms);
    return db;
  }

  void exec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB ? db_error(db)
                        : err                                                        ? std::string(err)
                                                                                     : sqlite3_errstr(rc);
      sqlite3_free(err);
      throw Error(fmt::format("{}: {} (while running: {})", path_, msg, sql.substr(0, 80)));
    }
  }

  std::int64_t pragma_int(sqlite3* db, const char* pragma) {
    Stmt st(db, pragma, false, path_);
    if (sqlite3_step(st.get()) != SQLITE_ROW) throw Error(path_ + ": " + pragma + " returned nothing");
    return st.i64(0);
  }

  void configure_and_migrate() {
    // Identify the file before changing anything in it (a foreign SQLite file must be left as it was).
    std::int64_t version = check_identity(wdb_);
    if (version == 0) {
      // A new file: page size must be set before the first table exists and before switching to WAL.
      exec(wdb_, fmt::format("PRAGMA page_size={};", opt_.page_size));
    }
    std::string mode;
    {
      Stmt st(wdb_, "PRAGMA journal_mode=WAL", false, path_);
      if (sqlite3_step(st.get()) == SQLITE_ROW) mode = st.text(0);
    }
    if (mode != "wal") throw Error(fmt::format("{}: cannot switch to WAL journal mode (got '{}')", path_, mode));
    exec(wdb_, opt_.synchronous_full ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;");
    exec(wdb_, "PRAGMA foreign_keys=ON;");
    if (version == kSqliteSchemaVersion) return;

    exec(wdb_, "BEGIN IMMEDIATE;");
    try {
      // Re-read inside the write lock: another process may have migrated meanwhile.
      version = pragma_int(wdb_, "PRAGMA user_version");
      std::vector<int> applied;
      for (const auto& m : kMigrations) {
        if (m.version <= version) continue;
        exec(wdb_, m.sql);
        applied.push_back(m.version);
      }
      for (int v : applied) {
        Stmt log(wdb_,
                 "INSERT OR REPLACE INTO schema_migrations (version, description, applied_at, reval_version)"
                 " VALUES (?1, ?2, ?3, ?4)",
                 false, path_);
        std::string at = now_utc();
        log.bind(1, v);
        log.bind(2, std::string_view(kMigrations[v - 1].description));
        log.bind(3, std::string_view(at));
        log.bind(4, std::string_view(kVersion));
        step_done(wdb_, log, "schema_migrations");
      }
      exec(wdb_, fmt::format("PRAGMA application_id={}; PRAGMA user_version={};", kApplicationId,
                             kSqliteSchemaVersion));
      exec(wdb_, "COMMIT;");
    } catch (const Error& e) {
      sqlite3_exec(wdb_, "ROLLBACK;", nullptr, nullptr, nullptr);
      throw Error(fmt::format("migrating schema from version {} to {} failed: {}", version, kSqliteSchemaVersion,
                              e.what()));
    }
  }

  void prepare_write_statements() {
    insert_sample_ = Stmt(wdb_,
                          "INSERT INTO samples (run_id, task, problem_id, sample_index, completion, prompt_tokens,"
                          " completion_tokens, finish_reason, latency_s, seed, error, created_at)"
                          " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)"
                          " ON CONFLICT (run_id, task, problem_id, sample_index) DO UPDATE SET"
                          " completion=excluded.completion, prompt_tokens=excluded.prompt_tokens,"
                          " completion_tokens=excluded.completion_tokens, finish_reason=excluded.finish_reason,"
                          " latency_s=excluded.latency_s, seed=excluded.seed, error=excluded.error,"
                          " created_at=excluded.created_at",
                          true, path_);
    delete_grades_ = Stmt(wdb_,
                          "DELETE FROM grades WHERE run_id=?1 AND task=?2 AND problem_id=?3 AND sample_index=?4",
                          true, path_);
    insert_grade_ = Stmt(wdb_,
                         "INSERT INTO grades (run_id, task, problem_id, sample_index, grader, grader_version,"
                         " verdict, score, extracted, details, created_at)"
                         " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"
                         " ON CONFLICT (run_id, task, problem_id, sample_index) DO UPDATE SET"
                         " grader=excluded.grader, grader_version=excluded.grader_version,"
                         " verdict=excluded.verdict, score=excluded.score, extracted=excluded.extracted,"
                         " details=excluded.details, created_at=excluded.created_at",
                         true, path_);
    begin_ = Stmt(wdb_, "BEGIN IMMEDIATE", true, path_);
    commit_ = Stmt(wdb_, "COMMIT", true, path_);
    put_problem_ = Stmt(wdb_,
                        "INSERT OR REPLACE INTO problems (run_id, task, problem_id, prompt, gold, grading, metadata)"
                        " VALUES (?1,?2,?3,?4,?5,?6,?7)",
                        true, path_);
  }

  void close_all() {
    sample_stmts_.clear();
    insert_sample_ = Stmt();
    delete_grades_ = Stmt();
    insert_grade_ = Stmt();
    put_problem_ = Stmt();
    begin_ = Stmt();
    commit_ = Stmt();
    if (rdb_) sqlite3_close_v2(rdb_);
    if (wdb_) sqlite3_close_v2(wdb_);
    rdb_ = wdb_ = nullptr;
  }

  // ---- statement helpers ----

  void step_done(sqlite3* db, Stmt& st, const char* table, const std::string& what = "") {
    step_done_lazy(db, st, table, [&] { return what; });
  }

  // `describe` names the row in the error message; it is only called on failure.
  template <typename Describe>
  void step_done_lazy(sqlite3* db, Stmt& st, const char* table, Describe&& describe) {
    int rc = sqlite3_step(st.get());
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
      std::string what = describe();
      throw Error(fmt::format("{}: writing {}{}{} failed: {}", path_, table, what.empty() ? "" : " row ", what,
                              db_error(db)));
    }
  }

  bool step_row(sqlite3* db, Stmt& st) {
    int rc = sqlite3_step(st.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw Error(fmt::format("{}: query failed: {}", path_, db_error(db)));
  }

  GradeRecord read_grade(Stmt& st, int c) {
    GradeRecord g;
    g.run_id = st.i64(c + 0);
    g.key = SampleKey{st.text(c + 1), st.text(c + 2), static_cast<int>(st.i64(c + 3))};
    g.grader = st.text(c + 4);
    g.grader_version = st.text(c + 5);
    std::string verdict = st.text(c + 6);
    auto v = verdict_from_string(verdict);
    if (!v) throw Error(fmt::format("{}: field 'grades.verdict': unknown verdict '{}'", path_, verdict));
    g.result.verdict = *v;
    g.result.score = st.f64(c + 7);
    if (!st.is_null(c + 8)) g.result.extracted = st.text(c + 8);
    g.result.details = parse_json_column(st.text(c + 9), path_, "grades.details");
    g.created_at = st.text(c + 10);
    return g;
  }

  std::vector<RunInfo> query_runs(const std::string& where_clause, const std::string& name, std::int64_t id) {
    std::lock_guard lk(read_mu_);
    Stmt st(rdb_,
            ("SELECT id, name, model, model_hash, backend, engine_version, device, host, reval_version, preset,"
             " config, created_at FROM runs " + where_clause + " ORDER BY id")
                .c_str(),
            false, path_);
    if (!where_clause.empty()) {
      if (where_clause.find("name") != std::string::npos) st.bind(1, std::string_view(name));
      else st.bind(1, id);
    }
    std::vector<RunInfo> out;
    while (step_row(rdb_, st)) {
      RunInfo r;
      r.id = st.i64(0);
      r.name = st.text(1);
      r.model = st.text(2);
      r.model_hash = st.text(3);
      r.backend = st.text(4);
      r.engine_version = st.text(5);
      r.device = st.text(6);
      r.host = st.text(7);
      r.reval_version = st.text(8);
      r.preset = st.text(9);
      r.config = parse_json_column(st.text(10), path_, "runs.config");
      r.created_at = st.text(11);
      out.push_back(std::move(r));
    }
    return out;
  }

  // ---- the queue and the writer thread ----

  // Queues the row, then reports an earlier failed write if there is one (the new row stays queued, so a caller
  // that retries after the exception merely rewrites the same key).
  void enqueue(QueueItem&& item) {
    std::unique_lock lk(qmu_);
    if (stop_) throw Error(path_ + ": the store is closing");
    if (queue_.size() >= opt_.max_queued_rows) {
      ++blocked_producers_;
      space_cv_.wait(lk, [&] { return queue_.size() < opt_.max_queued_rows; });
      --blocked_producers_;
    }
    queue_.push_back(std::move(item));
    ++enqueued_;
    bool wake = writer_idle_;  // notify only when the writer sleeps: saves a futex call per row
    if (wake) writer_idle_ = false;
    if (!error_.empty()) {
      lk.unlock();
      if (wake) work_cv_.notify_one();
      throw_pending_error();
    }
    lk.unlock();
    if (wake) work_cv_.notify_one();
  }

  void throw_pending_error() {
    std::lock_guard lk(qmu_);
    throw_pending_error_locked();
  }

  void throw_pending_error_locked() {
    if (error_.empty()) return;
    std::string msg = fmt::format("{}: {} queued rows could not be written: {}", path_, failed_rows_, error_);
    error_.clear();
    failed_rows_ = 0;
    throw Error(msg);
  }

  void writer_loop() {
    std::vector<QueueItem> batch;
    batch.reserve(static_cast<size_t>(opt_.batch_rows));
    for (;;) {
      bool wake_producers;
      {
        std::unique_lock lk(qmu_);
        while (!stop_ && queue_.empty()) {
          writer_idle_ = true;
          work_cv_.wait(lk);
        }
        writer_idle_ = false;
        if (queue_.empty()) return;  // stopping and drained
        size_t n = std::min(queue_.size(), static_cast<size_t>(opt_.batch_rows));
        for (size_t i = 0; i < n; ++i) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        // Hysteresis: blocked producers resume once the queue is half empty, not after every batch (which would
        // cost two context switches per row when batches are single rows).
        wake_producers = blocked_producers_ > 0 && queue_.size() <= opt_.max_queued_rows / 2;
      }
      if (wake_producers) space_cv_.notify_all();
      std::string err;
      size_t failed = 0;
      try {
        write_batch(batch.begin(), batch.end());
      } catch (const std::exception&) {
        // Retry row by row so that one bad row does not take its batch-mates down with it.
        for (auto it = batch.begin(); it != batch.end(); ++it) {
          try {
            write_batch(it, it + 1);
          } catch (const std::exception& e) {
            if (err.empty()) err = e.what();
            ++failed;
          }
        }
      }
      bool wake_flushers;
      {
        std::lock_guard lk(qmu_);
        completed_ += batch.size();
        if (failed) {
          if (error_.empty()) error_ = err;
          failed_rows_ += failed;
        }
        wake_flushers = flush_waiters_ > 0;
      }
      if (wake_flushers) done_cv_.notify_all();
      batch.clear();
    }
  }

  using BatchIt = std::vector<QueueItem>::const_iterator;

  // Writes [first, last) in one transaction; all or nothing.
  void write_batch(BatchIt first, BatchIt last) {
    std::lock_guard lk(write_mu_);
    {
      Use u(begin_);
      step_done(wdb_, begin_, "transaction", "BEGIN IMMEDIATE");
    }
    try {
      for (auto it = first; it != last; ++it) {
        if (const auto* s = std::get_if<SampleRecord>(&*it)) write_sample(*s);
        else write_grade(std::get<GradeRecord>(*it));
      }
      Use u(commit_);
      step_done(wdb_, commit_, "transaction", "COMMIT");
    } catch (...) {
      sqlite3_exec(wdb_, "ROLLBACK;", nullptr, nullptr, nullptr);
      throw;
    }
  }

  void write_sample(const SampleRecord& s) {
    auto what = [&] { return fmt::format("{}/{}#{}", s.key.task, s.key.problem_id, s.key.sample_index); };
    {
      Use u(insert_sample_);
      auto& st = insert_sample_;
      st.bind(1, s.run_id);
      st.bind(2, std::string_view(s.key.task));
      st.bind(3, std::string_view(s.key.problem_id));
      st.bind(4, s.key.sample_index);
      st.bind(5, std::string_view(s.completion));
      st.bind(6, s.prompt_tokens);
      st.bind(7, s.completion_tokens);
      st.bind(8, std::string_view(s.finish_reason));
      st.bind(9, s.latency_s);
      st.bind(10, static_cast<std::int64_t>(s.seed));
      st.bind(11, std::string_view(s.error));
      st.bind(12, std::string_view(s.created_at));
      // The upsert's UPDATE path leaves last_insert_rowid alone: 0 afterwards means the key existed.
      sqlite3_set_last_insert_rowid(wdb_, 0);
      step_done_lazy(wdb_, st, "samples", what);
    }
    if (sqlite3_last_insert_rowid(wdb_) == 0) {
      Use u(delete_grades_);
      auto& st = delete_grades_;
      st.bind(1, s.run_id);
      st.bind(2, std::string_view(s.key.task));
      st.bind(3, std::string_view(s.key.problem_id));
      st.bind(4, s.key.sample_index);
      step_done_lazy(wdb_, st, "grades", what);
    }
  }

  void write_grade(const GradeRecord& g) {
    std::string details = dump_json(g.result.details);
    Use u(insert_grade_);
    auto& st = insert_grade_;
    st.bind(1, g.run_id);
    st.bind(2, std::string_view(g.key.task));
    st.bind(3, std::string_view(g.key.problem_id));
    st.bind(4, g.key.sample_index);
    st.bind(5, std::string_view(g.grader));
    st.bind(6, std::string_view(g.grader_version));
    st.bind(7, to_string(g.result.verdict));
    st.bind(8, g.result.score);
    if (g.result.extracted) st.bind(9, std::string_view(*g.result.extracted));
    else st.bind_null(9);
    st.bind(10, std::string_view(details));
    st.bind(11, std::string_view(g.created_at));
    step_done(wdb_, st, "grades",
              fmt::format("{}/{}#{}", g.key.task, g.key.problem_id, g.key.sample_index));
  }

  std::string path_;
  StoreOptions opt_;
  std::int64_t read_schema_version_ = kSqliteSchemaVersion;  // of a file opened read-only
  sqlite3* wdb_ = nullptr;
  sqlite3* rdb_ = nullptr;
  std::mutex write_mu_;  // guards wdb_ and the cached write statements
  std::mutex read_mu_;   // guards rdb_ and the cached read statements
  std::map<int, Stmt> sample_stmts_;  // for_each_sample, one per query shape (filters set, problem join)
  Stmt insert_sample_, delete_grades_, insert_grade_, put_problem_, begin_, commit_;

  std::mutex qmu_;                    // guards everything below
  std::condition_variable work_cv_;   // rows queued or stopping
  std::condition_variable space_cv_;  // queue has room again
  std::condition_variable done_cv_;   // a batch finished
  std::deque<QueueItem> queue_;
  std::uint64_t enqueued_ = 0;   // rows ever queued
  std::uint64_t completed_ = 0;  // rows the writer finished (written or failed)
  std::string error_;            // first error not yet reported
  size_t failed_rows_ = 0;
  bool stop_ = false;
  bool writer_idle_ = false;     // the writer sleeps on work_cv_
  int flush_waiters_ = 0;        // threads waiting in flush()
  int blocked_producers_ = 0;    // threads waiting for queue space
  std::thread writer_;
};

std::string this_host() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Owner tokens of the leases this process holds now. A lease row naming this process whose token is not here was
// left behind by a lease that could not delete its row (a full disk at release): it is stale.
std::mutex g_live_leases_mu;
std::set<std::string> g_live_leases;

bool lease_is_live_here(const std::string& owner) {
  std::lock_guard lk(g_live_leases_mu);
  return g_live_leases.count(owner) > 0;
}

// A held lease: refreshes the heartbeat on its own thread, deletes the row when destroyed.
class SqliteLease final : public RunLease {
 public:
  SqliteLease(SqliteStore& store, std::int64_t run_id, std::string owner, double heartbeat_s)
      : store_(store), run_id_(run_id), owner_(std::move(owner)), heartbeat_s_(heartbeat_s) {
    {
      std::lock_guard lk(g_live_leases_mu);
      g_live_leases.insert(owner_);
    }
    thread_ = std::thread([this] { loop(); });
  }
  ~SqliteLease() override {
    {
      std::lock_guard lk(g_live_leases_mu);
      g_live_leases.erase(owner_);
    }
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    try {
      std::lock_guard lk(store_.write_mu_);
      Stmt st(store_.wdb_, "DELETE FROM run_leases WHERE run_id = ?1 AND owner = ?2", false, store_.path_);
      st.bind(1, run_id_);
      st.bind(2, std::string_view(owner_));
      sqlite3_step(st.get());  // best effort: a lease left behind goes stale
    } catch (const std::exception&) {
    }
  }

 private:
  void loop() {
    std::unique_lock lk(mu_);
    while (!cv_.wait_for(lk, std::chrono::duration<double>(heartbeat_s_), [this] { return stop_; })) {
      lk.unlock();
      try {
        std::lock_guard wl(store_.write_mu_);
        Stmt st(store_.wdb_, "UPDATE run_leases SET heartbeat_unix = ?1 WHERE run_id = ?2 AND owner = ?3", false,
                store_.path_);
        st.bind(1, unix_now());
        st.bind(2, run_id_);
        st.bind(3, std::string_view(owner_));
        if (sqlite3_step(st.get()) == SQLITE_DONE && sqlite3_changes(store_.wdb_) == 0 && !lost_) {
          lost_ = true;
          std::fprintf(stderr, "reval: warning: %s: the lease on run %lld was taken over by another process\n",
                       store_.path_.c_str(), static_cast<long long>(run_id_));
        }
      } catch (const std::exception&) {
        // A busy or full disk: the next beat tries again; a lease that stays stale is taken over.
      }
      lk.lock();
    }
  }

  SqliteStore& store_;
  std::int64_t run_id_;
  std::string owner_;
  double heartbeat_s_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool lost_ = false;
  std::thread thread_;
};

std::unique_ptr<RunLease> SqliteStore::lease_run(std::int64_t run_id, const LeaseOptions& o) {
  writable("lease a run");
  std::random_device rd;
  const std::string host = this_host();
  const std::string owner = fmt::format("{}:{}:{:016x}", host, getpid(), (std::uint64_t{rd()} << 32) ^ rd());
  std::lock_guard lk(write_mu_);
  exec(wdb_, "BEGIN IMMEDIATE;");
  try {
    Stmt find(wdb_, "SELECT pid, host, purpose, heartbeat_unix, owner FROM run_leases WHERE run_id = ?1", false,
              path_);
    find.bind(1, run_id);
    if (step_row(wdb_, find)) {
      const std::int64_t pid = find.i64(0);
      const std::string holder_host = find.text(1), purpose = find.text(2), holder = find.text(4);
      const double age = unix_now() - find.f64(3);
      const bool dead_here =
          holder_host == host && pid > 0 &&
          (pid == getpid() ? !lease_is_live_here(holder)
                           : ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH);
      if (!dead_here && age <= o.stale_after_s) {
        exec(wdb_, "ROLLBACK;");
        throw Error(fmt::format(
            "{}: run {} is already being used by `reval {}` (process {} on host {}, last heartbeat {:.0f} s ago); "
            "wait for it to finish or stop it. A lease is taken over once its process has died on this host, or "
            "{:.0f} s after its last heartbeat",
            path_, run_id, purpose, pid, holder_host, std::max(0.0, age), o.stale_after_s));
      }
      std::fprintf(stderr, "reval: taking over run %lld from process %lld on %s (%s)\n",
                   static_cast<long long>(run_id), static_cast<long long>(pid), holder_host.c_str(),
                   dead_here ? "that process has exited or let go of it" : "its heartbeat is stale");
    }
    Stmt put(wdb_,
             "INSERT OR REPLACE INTO run_leases (run_id, owner, pid, host, purpose, acquired_at, heartbeat_unix)"
             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
             false, path_);
    std::string at = now_utc();
    put.bind(1, run_id);
    put.bind(2, std::string_view(owner));
    put.bind(3, static_cast<std::int64_t>(getpid()));
    put.bind(4, std::string_view(host));
    put.bind(5, std::string_view(o.purpose));
    put.bind(6, std::string_view(at));
    put.bind(7, unix_now());
    step_done(wdb_, put, "run_leases");
    exec(wdb_, "COMMIT;");
  } catch (...) {
    sqlite3_exec(wdb_, "ROLLBACK;", nullptr, nullptr, nullptr);
    throw;
  }
  return std::make_unique<SqliteLease>(*this, run_id, owner, o.heartbeat_s);
}

}  // namespace

std::unique_ptr<SampleStore> open_sqlite_store(const std::string& path, const StoreOptions& options) {
  return std::make_unique<SqliteStore>(path, options);
}

std::unique_ptr<SampleStore> open_existing_store(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(path + ": field 'db': no such results database (create one with `reval eval --db " + path + "`)");
  StoreOptions o;
  o.read_only = true;    // reading commands never change the file (and work on read-only media)
  o.quick_check = true;  // a corrupt file is named as such instead of giving partial numbers
  return open_sqlite_store(path, o);
}

}  // namespace reval
