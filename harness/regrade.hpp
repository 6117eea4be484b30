// `reval regrade`: grade stored samples again with the current graders (after a grader fix), without generating.
//
// Theory of operation. For each selected run: read the problems and samples of the selected tasks and the current
// grade of every sample, take the run's lease (no eval writes meanwhile), grade every sample on a pool of threads,
// and store the new grade, which replaces the previous one (one grade per sample, schema v5). Each new verdict is
// compared with the one it replaces: the counts of changes (by old -> new verdict) are returned, and every change
// (sample, old -> new verdict, old -> new extracted answer) when `list_changes` is set. The run's Codeforces-style
// ratings are then recomputed from the new grades. A stop request (Ctrl-C) drops the samples not yet graded: each
// keeps its previous grade.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "results/records.hpp"

namespace reval {

struct RegradeOptions {
  std::string db;
  std::vector<std::string> runs;    // names or ids; empty = every run
  std::vector<std::string> tasks;   // empty = every task
  int threads = 0;                  // 0 = hardware concurrency
  bool progress = true;
  bool list_changes = false;        // fill RegradeStats::changes (the CLI's --verbose)
};

// One verdict that changed.
struct VerdictChange {
  std::string run;
  SampleKey key;
  std::string old_verdict;                   // "ungraded" when the sample had no grade
  std::string new_verdict;
  std::optional<std::string> old_extracted, new_extracted;
};

struct RegradeStats {
  std::int64_t graded = 0;                       // samples graded
  std::int64_t changed = 0;                      // of which the verdict changed
  std::int64_t skipped = 0;                      // not graded because of a stop request
  std::map<std::string, std::int64_t> changes_by_kind;  // "wrong -> correct": count
  std::vector<VerdictChange> changes;            // every change (with list_changes), by run, task, problem, index
};

// Throws reval::Error for an unknown run or an unreadable database.
RegradeStats regrade(const RegradeOptions& options, const std::atomic<bool>* stop = nullptr);

}  // namespace reval
