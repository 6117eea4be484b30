// Running the `reval` binary from a test: spawn it with stdout+stderr into a file, wait for its exit status, or do
// both at once (run_reval). Shared by the CLI tests that drive the tool as a user would.
#pragma once
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/jsonl.hpp"
#include "tests/test_util.hpp"

namespace reval::test {

struct Proc {
  pid_t pid = -1;
  std::string out_path;  // stdout and stderr of the process
};

// Starts the reval binary with `args`, stdout+stderr to `out_path`. `before_exec` (optional) runs in the child
// first with `arg`; it may _exit(77) to say "unsupported here".
inline Proc spawn(const std::vector<std::string>& args, const std::string& out_path,
                  void (*before_exec)(const std::string&) = nullptr, const std::string& arg = {}) {
  Proc p;
  p.out_path = out_path;
  p.pid = fork();
  if (p.pid == 0) {
    if (before_exec) before_exec(arg);
    int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    std::string bin = reval_binary();
    argv.push_back(bin.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  return p;
}

// The exit status, or 128 + the signal that ended the process.
inline int wait_exit(const Proc& p) {
  int st = 0;
  waitpid(p.pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

struct RunResult {
  int status;
  std::string output;
};

// Runs reval to completion; its output goes to a fresh file in `dir` and is returned.
inline RunResult run_reval(const std::vector<std::string>& args, const TempDir& dir) {
  static int n = 0;
  Proc p = spawn(args, dir.file("out" + std::to_string(n++) + ".txt"));
  int st = wait_exit(p);
  return {st, read_file(p.out_path)};
}

}  // namespace reval::test
