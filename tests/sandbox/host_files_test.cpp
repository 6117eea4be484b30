// Host files are out of reach because of the sandbox, not because of file permissions: a world-readable secret
// and a world-writable folder on the host are first shown reachable by the same program run outside the sandbox
// (the positive control, as whatever user runs the tests), then unreachable inside it.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "sandbox/sandbox.hpp"
#include "tests/test_util.hpp"

namespace sb = reval::sandbox;

namespace {

// Reads `secret` and writes `dir`/written.txt; prints what worked.
std::string probe_program(const std::string& secret, const std::string& dir) {
  return "import os\n"
         "try:\n"
         "    print('READ', open('" + secret + "').read())\n"
         "except OSError as e:\n"
         "    print('read refused')\n"
         "try:\n"
         "    open('" + dir + "/written.txt', 'w').write('x')\n"
         "    print('WRITTEN')\n"
         "except OSError as e:\n"
         "    print('write refused')\n"
         "print('listing', os.path.isdir('" + dir + "'))\n";
}

// Runs python3 -c CODE directly on the host and returns its stdout.
std::string run_on_host(const std::string& code) {
  int out[2];
  if (pipe(out) != 0) return "";
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    execl("/usr/bin/python3", "python3", "-c", code.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  close(out[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  return text;
}

TEST(HostFiles, ReachableOnTheHostButNotInTheSandbox) {
  reval::test::TempDir tmp;
  // World-readable and world-writable, so that permissions allow both to any user.
  std::string dir = tmp.file("open");
  std::filesystem::create_directory(dir);
  chmod(tmp.path().c_str(), 0755);
  chmod(dir.c_str(), 0777);
  std::string secret = tmp.file("secret.txt");
  std::ofstream(secret) << "hunter2-host-file";
  chmod(secret.c_str(), 0644);
  const std::string code = probe_program(secret, dir);

  // Positive control: the same program, unsandboxed, reads the secret and writes the folder.
  std::string host = run_on_host(code);
  ASSERT_NE(host.find("READ hunter2-host-file"), std::string::npos) << host;
  ASSERT_NE(host.find("WRITTEN"), std::string::npos) << host;
  std::filesystem::remove(dir + "/written.txt");

  sb::Policy p;
  p.workers = 1;
  p.time_limit_s = 5;
  auto box = sb::make_sandbox(p);
  sb::Request r;
  r.argv = {"/usr/bin/python3", "main.py"};
  r.files = {{"main.py", code, false}};
  sb::Result res = box->run(r);
  ASSERT_EQ(res.status, sb::Status::ok) << res.message << res.stderr_data;
  EXPECT_EQ(res.stdout_data.find("hunter2"), std::string::npos) << res.stdout_data;
  EXPECT_NE(res.stdout_data.find("read refused"), std::string::npos) << res.stdout_data;
  EXPECT_NE(res.stdout_data.find("write refused"), std::string::npos) << res.stdout_data;
  EXPECT_NE(res.stdout_data.find("listing False"), std::string::npos) << res.stdout_data;
  EXPECT_FALSE(std::filesystem::exists(dir + "/written.txt"));
}

}  // namespace
