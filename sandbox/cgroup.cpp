// Cgroup detection, slot groups and run counters (see cgroup.hpp for the theory of operation).
#include "sandbox/cgroup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

namespace reval::sandbox::detail {

std::string_view to_string(CgroupKind kind) {
  switch (kind) {
    case CgroupKind::v2: return "cgroup-v2";
    case CgroupKind::v1: return "cgroup-v1";
    case CgroupKind::none: return "rlimit";
  }
  return "rlimit";
}

nlohmann::json CgroupSetup::describe() const {
  nlohmann::json j = {{"limits", to_string(kind)}};
  if (kind == CgroupKind::v2) j["groups"] = v2_dir;
  if (kind == CgroupKind::v1) {
    j["groups"] = {{"memory", v1_memory}, {"cpuacct", v1_cpuacct}};
    j["groups"]["pids"] = v1_pids.empty() ? std::string("not mounted (RLIMIT_NPROC only)") : v1_pids;
  }
  if (!why_not.empty()) j[kind == CgroupKind::none ? "why" : "not_used"] = why_not;
  return j;
}

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

bool has_word(const std::string& text, const std::string& word) {
  std::istringstream ss(text);
  std::string w;
  while (ss >> w)
    if (w == word || w == "+" + word) return true;
  return false;
}

std::string errstr(const std::string& what) { return what + ": " + std::strerror(errno); }

// mountinfo escapes spaces and the like as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (size_t k = 1; k <= 3; ++k) {
        char c = s[i + k];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out += static_cast<char>(v);
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

struct Mount {
  std::string root, point, fstype, super_options;
};

std::vector<Mount> read_mounts(const std::string& path) {
  std::vector<Mount> out;
  std::istringstream in(slurp(path));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<std::string> f;
    std::string w;
    while (ls >> w) f.push_back(w);
    size_t dash = 0;
    for (size_t i = 6; i < f.size(); ++i)
      if (f[i] == "-") {
        dash = i;
        break;
      }
    if (dash == 0 || dash + 3 > f.size() || f.size() < 5) continue;
    out.push_back({unescape(f[3]), unescape(f[4]), f[dash + 1], f[dash + 3]});
  }
  return out;
}

// /proc/self/cgroup: hierarchy-id:controllers:path. Returns controller -> path ("" key for v2).
std::map<std::string, std::string> read_self_cgroups(const std::string& path) {
  std::map<std::string, std::string> out;
  std::istringstream in(slurp(path));
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1), p = line.substr(b + 1);
    if (line.substr(0, a) == "0" && ctrls.empty()) {
      out[""] = p;
      continue;
    }
    for (const auto& c : split(ctrls, ',')) out[c] = p;
  }
  return out;
}

// Our group's folder in a mount: the mount shows the hierarchy from `root`.
std::string group_dir(const Mount& m, const std::string& path) {
  std::string rel = path;
  if (m.root != "/" && rel.compare(0, m.root.size(), m.root) == 0) rel = rel.substr(m.root.size());
  if (rel == "/") rel.clear();
  return m.point + rel;
}

bool write_file(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  ::close(fd);
  return ok;
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool on_cgroupfs(const std::string& path) {
  struct statfs fs {};
  return statfs(path.c_str(), &fs) == 0 && (fs.f_type == CGROUP_SUPER_MAGIC || fs.f_type == CGROUP2_SUPER_MAGIC);
}

bool make_dir(const std::string& path, std::string* error) {
  bool made = mkdir(path.c_str(), 0755) == 0;
  if (!made && !(errno == EEXIST && is_dir(path))) {
    if (error) *error = errstr("mkdir " + path);
    return false;
  }
  // A fake cgroup v2 tree (tests: a plain folder with cgroup.controllers) gets the files the kernel would create.
  std::string parent = path.substr(0, path.rfind('/'));
  if (made && !on_cgroupfs(path) && access((parent + "/cgroup.controllers").c_str(), F_OK) == 0) {
    std::string enabled = slurp(parent + "/cgroup.subtree_control"), controllers;
    std::istringstream ss(enabled);
    for (std::string w; ss >> w;) controllers += (controllers.empty() ? "" : " ") + (w[0] == '+' ? w.substr(1) : w);
    std::ofstream(path + "/cgroup.controllers") << controllers << "\n";
    std::ofstream(path + "/cgroup.subtree_control");
    std::ofstream(path + "/cgroup.procs");
  }
  return true;
}

// Removes `dir` and the groups below it (cgroup folders go with rmdir even though they list control files).
void remove_tree(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str())) {
    std::vector<std::string> subs;
    while (dirent* e = readdir(d))
      if (e->d_type == DT_DIR && std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
        subs.push_back(dir + "/" + e->d_name);
    closedir(d);
    for (const auto& s : subs) remove_tree(s);
  }
  rmdir(dir.c_str());
}

// Removes reval-<pid> and reval-<pid>-main folders of processes that are gone.
void sweep_stale(const std::string& parent) {
  DIR* d = opendir(parent.c_str());
  if (!d) return;
  std::vector<std::string> stale;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.rfind("reval-", 0) != 0) continue;
    std::string num = name.substr(6);
    if (num.size() > 5 && num.compare(num.size() - 5, 5, "-main") == 0) num.resize(num.size() - 5);
    if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos || num.size() > 9) continue;
    pid_t pid = static_cast<pid_t>(std::stol(num));
    if (pid == getpid()) continue;
    if (kill(pid, 0) != 0 && errno == ESRCH) stale.push_back(parent + "/" + name);
  }
  closedir(d);
  for (const auto& s : stale) remove_tree(s);
}

bool only_us_in(const std::string& dir) {
  std::istringstream in(slurp(dir + "/cgroup.procs"));
  std::string pid;
  bool any = false;
  while (in >> pid) {
    any = true;
    if (pid != std::to_string(getpid())) return false;
  }
  return any;
}

// Turns the wanted controllers on for a v2 group's children: "+memory +pids" in one write, else one by one (so a
// missing pids controller does not keep memory off). Memory is required.
bool enable_controllers(const std::string& dir, std::string* error) {
  const std::string file = dir + "/cgroup.subtree_control";
  const std::string have = slurp(file), available = slurp(dir + "/cgroup.controllers");
  std::vector<std::string> want;
  for (const char* c : {"memory", "pids"})
    if (!has_word(have, c) && has_word(available, c)) want.push_back(std::string("+") + c);
  if (!want.empty()) {
    std::string all;
    for (const auto& w : want) all += (all.empty() ? "" : " ") + w;
    if (!write_file(file, all))
      for (const auto& w : want) write_file(file, w);
  }
  if (!has_word(slurp(file), "memory")) {
    if (error) *error = "cannot enable the memory controller in " + file;
    return false;
  }
  return true;
}

std::string base_name() { return "reval-" + std::to_string(getpid()); }

// ---- v2 ----------------------------------------------------------------------------------------------------------

// Fills setup.v2_dir (and prepares it unless probing), or returns why not.
std::string detect_v2(const CgroupSources& src, bool prepare, CgroupSetup& setup) {
  std::string parent;  // the group that will hold reval-<pid>
  bool move_self = false;
  if (!src.cgroup_root.empty()) {
    if (!is_dir(src.cgroup_root)) return "cgroup_root " + src.cgroup_root + " is not a folder";
    struct stat st {};
    if (stat((src.cgroup_root + "/cgroup.controllers").c_str(), &st) != 0)
      return "cgroup_root " + src.cgroup_root + " is not a cgroup v2 group (no cgroup.controllers)";
    if (!has_word(slurp(src.cgroup_root + "/cgroup.controllers"), "memory"))
      return "cgroup_root " + src.cgroup_root + ": the memory controller is not available there";
    parent = src.cgroup_root;
  } else {
    const Mount* v2 = nullptr;
    auto mounts = read_mounts(src.mountinfo);
    for (const auto& m : mounts)
      if (m.fstype == "cgroup2") {
        v2 = &m;
        break;
      }
    if (!v2) return "cgroup v2: not mounted";
    auto self = read_self_cgroups(src.proc_self_cgroup);
    auto it = self.find("");
    if (it == self.end()) return "cgroup v2: this process has no v2 group";
    std::string own = group_dir(*v2, it->second);
    if (!has_word(slurp(own + "/cgroup.controllers"), "memory"))
      return "cgroup v2: the memory controller is not available in " + own + " (bound to v1, or not delegated)";
    const bool is_root = own == v2->point;
    if (is_root || has_word(slurp(own + "/cgroup.subtree_control"), "memory")) {
      // The hierarchy's root may hold processes and still give controllers to children.
      if (access(own.c_str(), W_OK) != 0) return "cgroup v2: " + own + " is not writable";
      parent = own;
    } else if (access(own.c_str(), W_OK) == 0 && access((own + "/cgroup.procs").c_str(), W_OK) == 0 &&
               access((own + "/cgroup.subtree_control").c_str(), W_OK) == 0 && only_us_in(own)) {
      parent = own;
      move_self = true;
    } else if (geteuid() == 0 && access(v2->point.c_str(), W_OK) == 0 &&
               has_word(slurp(v2->point + "/cgroup.controllers"), "memory")) {
      parent = v2->point;
    } else {
      return "cgroup v2: " + own +
             " is not delegated to this process (not writable, or other processes share it); run reval in a group "
             "of its own (e.g. systemd-run --user --scope -p Delegate=yes reval ...) or set the policy's cgroup_root";
    }
  }
  setup.v2_dir = parent + "/" + base_name();
  if (!prepare) return {};
  sweep_stale(parent);
  std::string error;
  if (move_self) {
    // A group that gives controllers to children may hold no processes: move this process into a leaf.
    std::string leaf = parent + "/" + base_name() + "-main";
    if (!make_dir(leaf, &error)) return "cgroup v2: " + error;
    if (!write_file(leaf + "/cgroup.procs", std::to_string(getpid()))) {
      std::string e = errstr("cgroup v2: move reval into " + leaf);
      rmdir(leaf.c_str());
      return e;
    }
    if (!enable_controllers(parent, &error)) {
      write_file(parent + "/cgroup.procs", std::to_string(getpid()));  // back where we were
      rmdir(leaf.c_str());
      return "cgroup v2: " + error;
    }
  } else if (!enable_controllers(parent, &error)) {
    return "cgroup v2: " + error;
  }
  if (!make_dir(setup.v2_dir, &error)) return "cgroup v2: " + error;
  if (!enable_controllers(setup.v2_dir, &error)) return "cgroup v2: " + error;
  return {};
}

// ---- v1 ----------------------------------------------------------------------------------------------------------

std::string detect_v1(const CgroupSources& src, bool prepare, CgroupSetup& setup) {
  auto mounts = read_mounts(src.mountinfo);
  auto self = read_self_cgroups(src.proc_self_cgroup);
  auto find = [&](const char* controller) -> std::string {
    for (const auto& m : mounts) {
      if (m.fstype != "cgroup") continue;
      bool has = false;
      for (const auto& o : split(m.super_options, ','))
        if (o == controller) has = true;
      if (!has) continue;
      auto it = self.find(controller);
      if (it == self.end()) return {};
      return group_dir(m, it->second);
    }
    return {};
  };
  std::string mem = find("memory"), cpu = find("cpuacct"), pids = find("pids");
  if (mem.empty()) return "cgroup v1: no memory controller mounted";
  if (cpu.empty()) return "cgroup v1: no cpuacct controller mounted";
  for (const auto& d : {mem, cpu, pids}) {
    if (d.empty()) continue;
    if (!is_dir(d)) return "cgroup v1: " + d + " does not exist";
    if (access(d.c_str(), W_OK) != 0) return "cgroup v1: " + d + " is not writable";
  }
  setup.v1_memory = mem + "/" + base_name();
  setup.v1_cpuacct = cpu + "/" + base_name();
  if (!pids.empty()) setup.v1_pids = pids + "/" + base_name();
  if (!prepare) return {};
  std::string error;
  for (const auto& [parent, dir] : {std::pair{mem, setup.v1_memory}, std::pair{cpu, setup.v1_cpuacct},
                                    std::pair{pids, setup.v1_pids}}) {
    if (dir.empty()) continue;
    sweep_stale(parent);
    if (!make_dir(dir, &error)) return "cgroup v1: " + error;
  }
  return {};
}

CgroupSetup detect(CgroupWant want, const CgroupSources& src, bool prepare) {
  CgroupSetup setup;
  std::vector<std::string> why;
  if (want == CgroupWant::none) {
    setup.why_not = "the policy asks for rlimits";
    return setup;
  }
  if (want == CgroupWant::any || want == CgroupWant::v2_only) {
    CgroupSetup s;
    std::string w = detect_v2(src, prepare, s);
    if (w.empty()) {
      s.kind = CgroupKind::v2;
      return s;
    }
    why.push_back(w);
  }
  if ((want == CgroupWant::any && src.cgroup_root.empty()) || want == CgroupWant::v1_only) {
    CgroupSetup s;
    std::string w = detect_v1(src, prepare, s);
    if (w.empty()) {
      s.kind = CgroupKind::v1;
      for (const auto& x : why) s.why_not += (s.why_not.empty() ? "" : "; ") + x;
      return s;
    }
    why.push_back(w);
  }
  for (const auto& x : why) setup.why_not += (setup.why_not.empty() ? "" : "; ") + x;
  return setup;
}

// ---- control files -----------------------------------------------------------------------------------------------

std::int64_t parse_int(const std::string& s) {
  try {
    return std::stoll(s);
  } catch (...) {
    return 0;
  }
}

// "key value" lines (memory.events, cpu.stat, memory.oom_control).
std::int64_t keyed(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k, v;
  while (in >> k >> v)
    if (k == key) return parse_int(v);
  return 0;
}

std::string read_fd(int fd) {
  if (fd < 0) return {};
  char buf[4096];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

namespace {
std::mutex g_setup_mu;
std::map<std::string, std::unique_ptr<CgroupSetup>> g_setups;

// At exit, the reval-<pid> folders go (empty by then unless a sandbox outlived main; then the next reval sweeps).
void remove_bases() {
  std::lock_guard lock(g_setup_mu);
  for (const auto& [key, s] : g_setups)
    for (const auto& d : {s->v2_dir, s->v1_memory, s->v1_cpuacct, s->v1_pids})
      if (!d.empty()) rmdir(d.c_str());
}
}  // namespace

const CgroupSetup& cgroup_setup(CgroupWant want, const CgroupSources& sources) {
  std::string key = std::to_string(static_cast<int>(want)) + '\n' + sources.proc_self_cgroup + '\n' +
                    sources.mountinfo + '\n' + sources.cgroup_root;
  std::lock_guard lock(g_setup_mu);
  auto& slot = g_setups[key];
  if (!slot) {
    static bool registered = false;
    if (!registered) std::atexit(remove_bases);
    registered = true;
    slot = std::make_unique<CgroupSetup>(detect(want, sources, true));
  }
  return *slot;
}

CgroupSetup probe_cgroups(CgroupWant want, const CgroupSources& sources) { return detect(want, sources, false); }

CgroupSlot create_slot(const CgroupSetup& setup, const std::string& name, std::string* error) {
  CgroupSlot slot;
  std::string err;
  if (setup.kind == CgroupKind::v2) {
    slot.v2 = setup.v2_dir + "/" + name;
    if (!make_dir(slot.v2, &err)) {
      if (error) *error = err;
      return {};
    }
  } else if (setup.kind == CgroupKind::v1) {
    slot.memory = setup.v1_memory + "/" + name;
    slot.cpuacct = setup.v1_cpuacct + "/" + name;
    if (!setup.v1_pids.empty()) slot.pids = setup.v1_pids + "/" + name;
    for (const auto& d : {slot.memory, slot.cpuacct, slot.pids})
      if (!d.empty() && !make_dir(d, &err)) {
        if (error) *error = err;
        remove_slot(slot);
        return {};
      }
  } else {
    return {};
  }
  slot.kind = setup.kind;
  return slot;
}

void remove_slot(const CgroupSlot& slot) {
  for (const auto& d : {slot.v2, slot.memory, slot.cpuacct, slot.pids}) {
    if (d.empty()) continue;
    if (!on_cgroupfs(d)) {  // a fake tree (tests): its control files are plain files
      std::error_code ec;
      for (const auto& e : std::filesystem::directory_iterator(d, ec))
        if (e.is_regular_file()) std::filesystem::remove(e.path(), ec);
    }
    // The runs of a killed worker die asynchronously; a group with processes left refuses rmdir with EBUSY.
    for (int i = 0; i < 100; ++i) {
      if (rmdir(d.c_str()) == 0 || errno != EBUSY) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
}

// ---- CgroupFiles -------------------------------------------------------------------------------------------------

CgroupFiles::~CgroupFiles() {
  for (int* fd : {&procs_[0], &procs_[1], &procs_[2], &mem_max_, &swap_max_, &mem_peak_, &mem_events_, &mem_failcnt_,
                  &pids_max_, &cpu_})
    if (*fd >= 0) ::close(*fd);
}

bool CgroupFiles::open(const CgroupSlot& slot, std::string* error) {
  if (slot.kind == CgroupKind::none) return false;
  const std::string& probe_dir = slot.kind == CgroupKind::v2 ? slot.v2 : slot.memory;
  struct statfs fs {};
  if (statfs(probe_dir.c_str(), &fs) != 0) {
    if (error) *error = errstr("statfs " + probe_dir);
    return false;
  }
  fake_ = fs.f_type != CGROUP_SUPER_MAGIC && fs.f_type != CGROUP2_SUPER_MAGIC;
  const int create = fake_ ? O_CREAT : 0;
  auto open_file = [&](const std::string& dir, const char* name, int mode, bool required) -> int {
    if (dir.empty()) return -1;
    std::string path = dir + "/" + name;
    int fd = ::open(path.c_str(), mode | O_CLOEXEC | create, 0644);
    if (fd < 0 && required && error && error->empty()) *error = errstr("open " + path);
    return fd;
  };
  std::string err;
  if (!error) error = &err;
  error->clear();
  if (slot.kind == CgroupKind::v2) {
    procs_[0] = open_file(slot.v2, "cgroup.procs", O_WRONLY, true);
    mem_max_ = open_file(slot.v2, "memory.max", O_WRONLY, true);
    swap_max_ = open_file(slot.v2, "memory.swap.max", O_WRONLY, false);
    mem_peak_ = open_file(slot.v2, "memory.peak", O_RDWR, false);
    mem_events_ = open_file(slot.v2, "memory.events", O_RDONLY, true);
    pids_max_ = open_file(slot.v2, "pids.max", O_WRONLY, false);
    cpu_ = open_file(slot.v2, "cpu.stat", O_RDONLY, true);
  } else {
    procs_[0] = open_file(slot.memory, "cgroup.procs", O_WRONLY, true);
    procs_[1] = open_file(slot.cpuacct, "cgroup.procs", O_WRONLY, true);
    procs_[2] = open_file(slot.pids, "cgroup.procs", O_WRONLY, !slot.pids.empty());
    mem_max_ = open_file(slot.memory, "memory.limit_in_bytes", O_WRONLY, true);
    swap_max_ = open_file(slot.memory, "memory.memsw.limit_in_bytes", O_WRONLY, false);
    mem_peak_ = open_file(slot.memory, "memory.max_usage_in_bytes", O_RDWR, true);
    mem_events_ = open_file(slot.memory, "memory.oom_control", O_RDONLY, true);
    mem_failcnt_ = open_file(slot.memory, "memory.failcnt", O_RDONLY, true);
    pids_max_ = open_file(slot.pids, "pids.max", O_WRONLY, !slot.pids.empty());
    cpu_ = open_file(slot.cpuacct, "cpuacct.usage", O_RDONLY, true);
  }
  if (!error->empty()) return false;
  kind_ = slot.kind;
  base_ = read_counters();
  return true;
}

namespace {
bool put(int fd, const std::string& value, bool fake) {
  if (fd < 0) return false;
  bool ok = pwrite(fd, value.data(), value.size(), 0) == static_cast<ssize_t>(value.size());
  if (ok && fake && ftruncate(fd, static_cast<off_t>(value.size())) != 0) ok = false;
  return ok;
}
}  // namespace

bool CgroupFiles::prepare(std::int64_t memory_bytes, std::int64_t pids, std::string* error) {
  if (!active()) return false;
  const std::int64_t mem = memory_bytes > 0 ? memory_bytes : -1;
  const bool v2 = kind_ == CgroupKind::v2;
  auto text = [&](std::int64_t v) { return v > 0 ? std::to_string(v) : std::string(v2 ? "max" : "-1"); };
  if (mem != mem_limit_) {
    bool ok;
    if (v2) {
      ok = put(mem_max_, text(mem), fake_);
      if (ok && swap_max_ >= 0 && swap_limit_ != 0) {
        put(swap_max_, "0", fake_);  // no swapping past the limit
        swap_limit_ = 0;
      }
    } else if (swap_max_ < 0) {
      ok = put(mem_max_, text(mem), fake_);
    } else {
      // v1 keeps memory.limit <= memsw.limit at every step: raise memsw first when growing, lower it last (and
      // when the current values are unknown, e.g. a re-spawned worker, the other order is tried too).
      const bool growing = mem < 0 || (swap_limit_ >= 0 && mem > swap_limit_);
      auto swap_first = [&] { return put(swap_max_, text(mem), fake_) && put(mem_max_, text(mem), fake_); };
      auto mem_first = [&] { return put(mem_max_, text(mem), fake_) && put(swap_max_, text(mem), fake_); };
      ok = growing ? swap_first() : mem_first();
      if (!ok && swap_limit_ == -2) ok = growing ? mem_first() : swap_first();
      if (ok) swap_limit_ = mem;
    }
    if (!ok) {
      if (error) *error = errstr("set the run's memory limit");
      mem_limit_ = -2;
      swap_limit_ = -2;
      return false;
    }
    mem_limit_ = mem;
  }
  const std::int64_t p = pids > 0 ? pids : -1;
  if (pids_max_ >= 0 && p != pids_limit_) {
    if (!put(pids_max_, p > 0 ? std::to_string(p) : "max", fake_)) {
      if (error) *error = errstr("set the run's process limit");
      return false;
    }
    pids_limit_ = p;
  }
  if (mem_peak_ >= 0 && peak_resettable_) {
    // v1: writing 0 resets max_usage; v2: any write resets memory.peak for this descriptor (Linux >= 6.12).
    if (!put(mem_peak_, v2 ? "reset" : "0", fake_)) peak_resettable_ = false;
  }
  return true;
}

bool CgroupFiles::join() const {
  for (int fd : procs_)
    if (fd >= 0 && pwrite(fd, "0", 1, 0) != 1) return false;
  return true;
}

CgroupCounters CgroupFiles::read_counters() const {
  CgroupCounters c;
  if (kind_ == CgroupKind::v2) {
    c.cpu_ns = keyed(read_fd(cpu_), "usage_usec") * 1000;
    std::string events = read_fd(mem_events_);
    c.oom_kills = keyed(events, "oom_kill");
    c.limit_hits = keyed(events, "max");
  } else if (kind_ == CgroupKind::v1) {
    c.cpu_ns = parse_int(trim(read_fd(cpu_)));
    c.oom_kills = keyed(read_fd(mem_events_), "oom_kill");
    c.limit_hits = parse_int(trim(read_fd(mem_failcnt_)));
  }
  return c;
}

std::int64_t CgroupFiles::cpu_ns_now() const {
  if (kind_ == CgroupKind::v2) return keyed(read_fd(cpu_), "usage_usec") * 1000 - base_.cpu_ns;
  return parse_int(trim(read_fd(cpu_))) - base_.cpu_ns;
}

CgroupCounters CgroupFiles::finish() {
  CgroupCounters now = read_counters();
  CgroupCounters d{now.cpu_ns - base_.cpu_ns, now.oom_kills - base_.oom_kills, now.limit_hits - base_.limit_hits};
  base_ = now;
  return d;
}

std::int64_t CgroupFiles::peak_bytes() const {
  if (mem_peak_ < 0 || !peak_resettable_) return -1;
  std::string t = trim(read_fd(mem_peak_));
  if (t.empty()) return -1;
  return parse_int(t);
}

}  // namespace reval::sandbox::detail
