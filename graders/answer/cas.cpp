// The symbolic step on GiNaC, run on ONE worker thread.
//
// Theory of operation
// -------------------
// GiNaC and CLN are not thread-safe: reference counts of shared flyweights (small numerics, constants), the symbol
// serial counter, function remember tables and the global `Digits` are all unsynchronised. So GiNaC is touched only
// by a single process-wide worker thread that owns a job queue. A caller (any thread) copies its two Node trees into
// a Job, enqueues it, and waits on the job's condition variable until its deadline. If the deadline passes first,
// the caller marks the job abandoned and returns CasVerdict::timeout; the worker finishes the job (it cannot be
// interrupted) and throws the result away, and it skips any queued job that was abandoned or whose deadline passed
// before it started. There are no signals and no thread cancellation, so no GiNaC state can be left half-updated.
// Because an abandoned job still occupies the worker, inputs are bounded before they are queued (cas_refusal():
// literal magnitudes <= 10^100000 digits, factorial/binomial arguments <= 20000, symbolic integer powers <= 64,
// <= 2000 nodes), which keeps every job finite and short.
// The executor object is leaked on purpose (the detached worker may outlive main); an atexit hook waits (bounded,
// 10 s) for a running job to finish so that GiNaC's static destructors never run under it.
//
// Decision inside a job (mode value): d = a - b. If GiNaC evaluates d to an exact number, that decides (exact
// rationals decide 1/2004! vs 1/2006! correctly). Otherwise normal(d) == 0 means equal ("symbolic"). Otherwise the
// randomized numeric second opinion: free symbols become positive random rationals (seeded, so runs are
// reproducible), both sides are evaluated with 40 digits at several points and compared with relative tolerance
// 1e-25 (or options.rel_tol when a side has a decimal literal). All points agree -> equal ("numeric"); one point
// differs -> different; nothing evaluable -> inconclusive (treated as not equal by the caller).
#include "graders/answer/cas.hpp"

#include <algorithm>
#include <atomic>
#include <sstream>
#include <vector>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include <ginac/ginac.h>

namespace reval::answer {

// ---------------------------------------------------------------------------------------------------------------
// Bounds.
namespace {

struct Approx {
  bool constant = true;
  double v = 0;      // value when finite
  double lg = 0;     // upper bound of log10 |value|
  double terms = 1;  // rough number of monomials after expansion (normal() expands polynomials)
};

thread_local double t_max_terms = 20000;  // set per call by cas_refusal()

struct Refuse {
  std::string why;
};

Approx approx(const Node& n, int depth) {
  if (depth > 400) throw Refuse{"expression too deep"};
  Approx r;
  switch (n.kind) {
    case NodeKind::num: {
      r.v = std::strtod(n.text.c_str(), nullptr);
      auto dot = n.text.find('.');
      r.lg = static_cast<double>(dot == std::string::npos ? n.text.size() : dot);
      return r;
    }
    case NodeKind::sym: r.constant = false; r.v = 1.5; r.lg = 1; return r;
    case NodeKind::pi: r.v = M_PI; r.lg = 1; return r;
    case NodeKind::e: r.v = M_E; r.lg = 1; return r;
    case NodeKind::imag: r.v = 1; r.lg = 0; return r;
    case NodeKind::inf: r.v = INFINITY; r.lg = 1; return r;
    case NodeKind::neg: { r = approx(n.kids[0], depth + 1); r.v = -r.v; return r; }
    case NodeKind::add: {
      r.v = 0;
      r.lg = 0;
      for (const auto& k : n.kids) {
        Approx a = approx(k, depth + 1);
        r.constant &= a.constant;
        r.v += a.v;
        r.lg = std::max(r.lg, a.lg);
        r.terms += a.terms;
      }
      r.terms -= 1;
      r.lg += 1;
      if (r.terms > t_max_terms) throw Refuse{"expansion too large"};
      return r;
    }
    case NodeKind::mul: {
      r.v = 1;
      r.lg = 0;
      for (const auto& k : n.kids) {
        Approx a = approx(k, depth + 1);
        r.constant &= a.constant;
        r.v *= a.v;
        r.lg += std::max(a.lg, 0.0);
        r.terms *= a.terms;
      }
      if (r.terms > t_max_terms) throw Refuse{"expansion too large"};
      return r;
    }
    case NodeKind::div: {
      Approx a = approx(n.kids[0], depth + 1), b = approx(n.kids[1], depth + 1);
      r.constant = a.constant && b.constant;
      r.v = a.v / b.v;
      r.lg = std::max(a.lg, 0.0) + std::max(b.lg, 0.0);
      r.terms = a.terms * b.terms;
      if (r.terms > t_max_terms) throw Refuse{"expansion too large"};
      return r;
    }
    case NodeKind::pow: {
      Approx b = approx(n.kids[0], depth + 1), e = approx(n.kids[1], depth + 1);
      r.constant = b.constant && e.constant;
      if (e.constant) {
        if (!std::isfinite(e.v) || std::fabs(e.v) > 1e6 || e.lg > 7) throw Refuse{"exponent too large"};
        if (!b.constant && std::fabs(e.v) > 64 && std::fabs(e.v - std::round(e.v)) < 1e-12)
          throw Refuse{"symbolic power too large"};
        double digits = std::fabs(e.v) * std::max(b.lg, 1.0);
        if (b.constant && digits > 1e5) throw Refuse{"power too large"};
        if (!b.constant && b.terms > 1 && std::fabs(e.v - std::round(e.v)) < 1e-12) {
          // multinomial expansion: C(n + t - 1, t - 1) monomials
          double n = std::fabs(std::round(e.v)), t = b.terms;
          r.terms = std::exp(std::lgamma(n + t) - std::lgamma(n + 1) - std::lgamma(t));
          if (r.terms > t_max_terms) throw Refuse{"expansion too large"};
        } else {
          r.terms = b.terms;
        }
        r.lg = digits;
        r.v = std::pow(b.v, e.v);
      } else {
        // symbolic exponent: the base must stay modest
        r.lg = 1e3;
        r.v = 1.5;
        if (b.lg > 1e4) throw Refuse{"power base too large"};
      }
      return r;
    }
    case NodeKind::fact: {
      Approx a = approx(n.kids[0], depth + 1);
      r.constant = a.constant;
      if (a.constant) {
        if (!std::isfinite(a.v) || a.v > 20000 || a.lg > 6) throw Refuse{"factorial argument too large"};
        r.lg = std::lgamma(std::max(a.v, 0.0) + 1) / std::log(10.0) + 1;
        r.v = std::tgamma(a.v + 1);
      } else {
        r.lg = 1e3;
      }
      return r;
    }
    case NodeKind::binom: {
      Approx a = approx(n.kids[0], depth + 1), b = approx(n.kids[1], depth + 1);
      r.constant = a.constant && b.constant;
      if ((a.constant && (std::fabs(a.v) > 20000 || a.lg > 6)) || (b.constant && (std::fabs(b.v) > 20000 || b.lg > 6)))
        throw Refuse{"binomial argument too large"};
      r.lg = 7000;
      r.v = 1;
      return r;
    }
    case NodeKind::func: {
      r.lg = 0;
      r.v = 1;
      for (const auto& k : n.kids) {
        Approx a = approx(k, depth + 1);
        r.constant &= a.constant;
        if (n.text == "exp" && a.constant && a.v > 1e6) throw Refuse{"exp argument too large"};
        if (n.text == "exp") r.lg = std::max(r.lg, a.lg > 6 ? 1e7 : a.v / std::log(10.0));
        if (n.text == "abs") r.lg = std::max(r.lg, a.lg);
      }
      return r;
    }
    case NodeKind::pm: {
      Approx a = approx(n.kids[0], depth + 1), b = approx(n.kids[1], depth + 1);
      r.constant = a.constant && b.constant;
      r.lg = std::max(a.lg, b.lg) + 1;
      return r;
    }
  }
  return r;
}

}  // namespace

std::string cas_refusal(const Node& n, double max_terms) {
  if (node_count(n) > 2000) return "expression too large";
  t_max_terms = max_terms;
  try {
    Approx a = approx(n, 0);
    if (a.lg > 1e5) return "value too large";
  } catch (const Refuse& r) {
    return r.why;
  }
  return {};
}

// ---------------------------------------------------------------------------------------------------------------
// Conversion and comparison (worker thread only).
namespace {

struct Unsupported {
  std::string why;
};

class Converter {
 public:
  GiNaC::ex conv(const Node& n) {
    using namespace GiNaC;
    switch (n.kind) {
      case NodeKind::num: {
        auto dot = n.text.find('.');
        if (dot == std::string::npos) return numeric(n.text.c_str());
        std::string digits = n.text.substr(0, dot) + n.text.substr(dot + 1);
        std::size_t k = 0;
        while (k + 1 < digits.size() && digits[k] == '0') ++k;
        digits.erase(0, k);
        return numeric(digits.c_str()) / pow(numeric(10), numeric(static_cast<long>(n.text.size() - dot - 1)));
      }
      case NodeKind::sym: {
        auto it = syms_.find(n.text);
        if (it == syms_.end()) it = syms_.emplace(n.text, GiNaC::possymbol(n.text)).first;
        return it->second;
      }
      case NodeKind::pi: return Pi;
      case NodeKind::e: return exp(ex(1));
      case NodeKind::imag: return I;
      case NodeKind::inf: throw Unsupported{"infinity in an expression"};
      case NodeKind::add: {
        ex s = 0;
        for (const auto& k : n.kids) s += conv(k);
        return s;
      }
      case NodeKind::mul: {
        ex s = 1;
        for (const auto& k : n.kids) s *= conv(k);
        return s;
      }
      case NodeKind::div: return conv(n.kids[0]) / conv(n.kids[1]);
      case NodeKind::pow: return pow(conv(n.kids[0]), conv(n.kids[1]));
      case NodeKind::neg: return -conv(n.kids[0]);
      case NodeKind::fact: return factorial(conv(n.kids[0]));
      case NodeKind::binom: return binomial(conv(n.kids[0]), conv(n.kids[1]));
      case NodeKind::pm: throw Unsupported{"unexpanded +-"};
      case NodeKind::func: {
        ex a = conv(n.kids[0]);
        const std::string& f = n.text;
        if (f == "sin") return sin(a);
        if (f == "cos") return cos(a);
        if (f == "tan") return tan(a);
        if (f == "sec") return 1 / cos(a);
        if (f == "csc") return 1 / sin(a);
        if (f == "cot") return cos(a) / sin(a);
        if (f == "asin") return asin(a);
        if (f == "acos") return acos(a);
        if (f == "atan") return atan(a);
        if (f == "arccot") return Pi / 2 - atan(a);
        if (f == "sinh") return sinh(a);
        if (f == "cosh") return cosh(a);
        if (f == "tanh") return tanh(a);
        if (f == "ln" || (f == "log" && n.kids.size() == 1)) return log(a);
        if (f == "log") return log(a) / log(conv(n.kids[1]));
        if (f == "log10") return log(a) / log(ex(10));
        if (f == "exp") return exp(a);
        if (f == "abs") return abs(a);
        throw Unsupported{"function " + f};
      }
    }
    throw Unsupported{"node"};
  }
  const std::map<std::string, GiNaC::possymbol>& symbols() const { return syms_; }

 private:
  std::map<std::string, GiNaC::possymbol> syms_;
};

std::optional<GiNaC::numeric> eval_at(const GiNaC::ex& e, const GiNaC::exmap& m) {
  try {
    GiNaC::ex v = e.subs(m).evalf();
    if (!GiNaC::is_a<GiNaC::numeric>(v)) return std::nullopt;
    return GiNaC::ex_to<GiNaC::numeric>(v);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

bool close(const GiNaC::numeric& a, const GiNaC::numeric& b, const GiNaC::numeric& tol) {
  GiNaC::numeric diff = GiNaC::abs(a - b);
  GiNaC::numeric scale = std::max(GiNaC::abs(a), GiNaC::abs(b));
  if (scale.is_zero()) return true;
  return diff <= tol * scale;
}

CasResult compare_job(const Node& na, const Node& nb, CasMode mode, bool inexact, double rel_tol, int points,
                      Clock::time_point deadline) {
  using namespace GiNaC;
  Converter cv;
  ex a, b;
  try {
    a = cv.conv(na);
    b = cv.conv(nb);
  } catch (const Unsupported& u) {
    return {CasVerdict::inconclusive, "unsupported", u.why};
  }
  numeric tol = inexact ? numeric(rel_tol) : numeric(1, 10).power(25);
  exmap base;
  std::mt19937 rng(20240607u);
  auto random_point = [&]() {
    exmap m;
    for (const auto& [name, s] : cv.symbols()) m[s] = numeric(static_cast<long>(300 + rng() % 2700), 997);
    return m;
  };

  if (mode == CasMode::value) {
    ex d = a - b;
    if (is_a<numeric>(d)) {
      const numeric& nd = ex_to<numeric>(d);
      if (nd.is_zero()) return {CasVerdict::equal, "exact", ""};
      if (nd.is_rational() && !inexact) return {CasVerdict::different, "exact", ""};
    }
    if (Clock::now() > deadline) return {CasVerdict::timeout, "timeout", ""};
    ex nd = normal(d);
    if (nd.is_zero()) return {CasVerdict::equal, "symbolic", ""};
    if (Clock::now() > deadline) return {CasVerdict::timeout, "timeout", ""};
    int n_points = cv.symbols().empty() ? 1 : std::max(points, 2);
    int ok = 0;
    for (int p = 0; p < n_points * 3 && ok < n_points; ++p) {
      exmap m = random_point();
      auto va = eval_at(a, m), vb = eval_at(b, m);
      if (!va || !vb) continue;
      if (!close(*va, *vb, tol)) return {CasVerdict::different, "numeric", ""};
      ++ok;
      if (Clock::now() > deadline) return {CasVerdict::timeout, "timeout", ""};
    }
    if (ok >= n_points) return {CasVerdict::equal, "numeric", ""};
    return {CasVerdict::inconclusive, "numeric", "not evaluable"};
  }

  // Proportional: a == c * b with constant nonzero c.
  if (a.is_zero() || b.is_zero()) {
    return a.is_zero() && b.is_zero() ? CasResult{CasVerdict::equal, "symbolic", ""}
                                      : CasResult{CasVerdict::different, "symbolic", ""};
  }
  ex r = normal(a / b);
  if (is_a<numeric>(r) && !ex_to<numeric>(r).is_zero()) return {CasVerdict::equal, "symbolic", ""};
  if (Clock::now() > deadline) return {CasVerdict::timeout, "timeout", ""};
  std::optional<numeric> ratio;
  int ok = 0;
  int n_points = std::max(points, 3);
  for (int p = 0; p < n_points * 3 && ok < n_points; ++p) {
    exmap m = random_point();
    auto va = eval_at(a, m), vb = eval_at(b, m);
    if (!va || !vb || vb->is_zero()) continue;
    numeric q = *va / *vb;
    if (q.is_zero()) return {CasVerdict::different, "numeric", ""};
    if (!ratio) ratio = q;
    else if (!close(q, *ratio, tol)) return {CasVerdict::different, "numeric", ""};
    ++ok;
  }
  if (ok >= n_points) return {CasVerdict::equal, "numeric", ""};
  return {CasVerdict::inconclusive, "numeric", "not evaluable"};
}

CasResult rounds_job(const Node& lit, int places, const Node& other, bool allow_truncate) {
  using namespace GiNaC;
  Converter cv;
  ex a = cv.conv(lit), b = cv.conv(other);
  if (!cv.symbols().empty()) return {CasVerdict::different, "rounded", "not a number"};
  if (!is_a<numeric>(a)) return {CasVerdict::inconclusive, "rounded", "literal is not a number"};
  ex bv = b.evalf();
  if (!is_a<numeric>(bv)) return {CasVerdict::inconclusive, "rounded", "not evaluable"};
  numeric x = ex_to<numeric>(a), v = ex_to<numeric>(bv);
  if (!v.is_real()) return {CasVerdict::different, "rounded", ""};
  numeric unit = numeric(1) / numeric(10).power(places);
  numeric slack = unit / numeric(1000000000);
  numeric d = v - x;
  if (GiNaC::abs(d) <= unit / 2 + slack) return {CasVerdict::equal, "rounded", ""};
  if (allow_truncate) {
    bool ok = v >= 0 ? (d >= -slack && d < unit - slack) : (d <= slack && d > -unit + slack);
    if (ok) return {CasVerdict::equal, "rounded", "truncated"};
  }
  return {CasVerdict::different, "rounded", ""};
}

std::string canon_print(const GiNaC::ex& e, int depth) {
  using namespace GiNaC;
  if (depth > 200) throw Unsupported{"too deep to print"};
  auto sorted_join = [&](const char* sep) {
    std::vector<std::string> parts;
    for (std::size_t i = 0; i < e.nops(); ++i) parts.push_back(canon_print(e.op(i), depth + 1));
    std::sort(parts.begin(), parts.end());
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (i) out += sep;
      out += parts[i];
    }
    return out;
  };
  auto wrap = [](std::string_view pre, const std::string& mid, std::string_view post) {
    std::string out;
    out.reserve(pre.size() + mid.size() + post.size());
    out.append(pre).append(mid).append(post);
    return out;
  };
  if (is_a<add>(e)) return wrap("(", sorted_join("+"), ")");
  if (is_a<mul>(e)) return sorted_join("*");
  if (is_a<power>(e))
    return wrap("(", canon_print(e.op(0), depth + 1), ")^") + wrap("(", canon_print(e.op(1), depth + 1), ")");
  if (is_a<function>(e)) {
    std::string out = ex_to<function>(e).get_name() + "(";
    for (std::size_t i = 0; i < e.nops(); ++i) {
      if (i) out += ",";
      out += canon_print(e.op(i), depth + 1);
    }
    return out + ")";
  }
  std::ostringstream os;
  os << e;
  return os.str();
}

std::string canonical_job(const Node& n) {
  using namespace GiNaC;
  Converter cv;
  ex e = cv.conv(n);
  ex nd = normal(e).numer_denom();
  ex num = expand(nd.op(0)), den = expand(nd.op(1));
  std::string s = canon_print(num, 0);
  if (!(is_a<numeric>(den) && ex_to<numeric>(den).is_equal(numeric(1)))) {
    s += '/';
    s += canon_print(den, 0);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------------------------
// The executor.

struct Job {
  Node a, b;
  CasMode mode = CasMode::value;
  bool inexact = false;
  double rel_tol = 1e-9;
  int points = 4;
  bool canonical = false;  // canonical print job instead of a comparison
  int places = -1;         // >= 0: a rounding job (a is the decimal literal, b the other side)
  bool truncate = false;
  Clock::time_point deadline;
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::atomic<bool> abandoned{false};
  CasResult result;
};

class Executor {
 public:
  static Executor& get() {
    static Executor* e = [] {
      auto* ex = new Executor();  // leaked on purpose, see the file comment
      std::thread(&Executor::run, ex).detach();
      std::atexit([] { Executor::get().drain_at_exit(); });
      return ex;
    }();
    return *e;
  }

  void submit(const std::shared_ptr<Job>& j) {
    {
      std::lock_guard<std::mutex> lk(m_);
      q_.push_back(j);
    }
    cv_.notify_one();
  }

  CasStats stats() {
    CasStats s;
    s.jobs_run = run_.load();
    s.jobs_skipped = skipped_.load();
    s.jobs_timed_out = timed_out_.load();
    return s;
  }
  void count_timeout() { ++timed_out_; }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> q_;
  bool busy_ = false;
  bool exiting_ = false;
  std::condition_variable idle_cv_;
  std::atomic<std::uint64_t> run_{0}, skipped_{0}, timed_out_{0};

  void drain_at_exit() {
    std::unique_lock<std::mutex> lk(m_);
    exiting_ = true;
    q_.clear();
    idle_cv_.wait_for(lk, std::chrono::seconds(10), [&] { return !busy_; });
  }

  void run() {
    GiNaC::Digits = 40;
    for (;;) {
      std::shared_ptr<Job> j;
      {
        std::unique_lock<std::mutex> lk(m_);
        busy_ = false;
        idle_cv_.notify_all();
        cv_.wait(lk, [&] { return !q_.empty() && !exiting_; });
        j = std::move(q_.front());
        q_.pop_front();
        if (j->abandoned.load() || Clock::now() > j->deadline) {
          ++skipped_;
          continue;
        }
        busy_ = true;
      }
      CasResult r;
      try {
        if (j->canonical) {
          r = {CasVerdict::equal, "canonical", canonical_job(j->a)};
        } else if (j->places >= 0) {
          r = rounds_job(j->a, j->places, j->b, j->truncate);
        } else {
          r = compare_job(j->a, j->b, j->mode, j->inexact, j->rel_tol, j->points, j->deadline);
        }
      } catch (const Unsupported& u) {
        r = {CasVerdict::inconclusive, "unsupported", u.why};
      } catch (const std::exception& e) {
        r = {CasVerdict::inconclusive, "error", e.what()};
      } catch (...) {
        r = {CasVerdict::inconclusive, "error", "unknown exception"};
      }
      ++run_;
      {
        std::lock_guard<std::mutex> lk(j->m);
        j->result = std::move(r);
        j->done = true;
      }
      j->cv.notify_all();
    }
  }
};

}  // namespace

CasResult cas_compare(const Node& a, const Node& b, CasMode mode, bool inexact, const MathOptions& options,
                      Clock::time_point deadline) {
  try {
    if (auto why = cas_refusal(a); !why.empty()) return {CasVerdict::refused, "refused", why};
    if (auto why = cas_refusal(b); !why.empty()) return {CasVerdict::refused, "refused", why};
    if (Clock::now() >= deadline) return {CasVerdict::timeout, "timeout", "budget spent before the symbolic step"};
    auto job = std::make_shared<Job>();
    job->a = a;
    job->b = b;
    job->mode = mode;
    job->inexact = inexact;
    job->rel_tol = options.rel_tol;
    job->points = options.numeric_points;
    job->deadline = deadline;
    Executor& ex = Executor::get();
    ex.submit(job);
    std::unique_lock<std::mutex> lk(job->m);
    if (!job->cv.wait_until(lk, deadline, [&] { return job->done; })) {
      job->abandoned = true;
      ex.count_timeout();
      return {CasVerdict::timeout, "timeout", "symbolic step exceeded the budget"};
    }
    return job->result;
  } catch (const std::exception& e) {
    return {CasVerdict::inconclusive, "error", e.what()};
  }
}

CasResult cas_rounds_to(const Node& literal, int places, const Node& other, bool allow_truncate,
                        Clock::time_point deadline) {
  try {
    if (auto why = cas_refusal(other); !why.empty()) return {CasVerdict::refused, "refused", why};
    if (Clock::now() >= deadline) return {CasVerdict::timeout, "timeout", "budget spent before the symbolic step"};
    auto job = std::make_shared<Job>();
    job->a = literal;
    job->b = other;
    job->places = places;
    job->truncate = allow_truncate;
    job->deadline = deadline;
    Executor& ex = Executor::get();
    ex.submit(job);
    std::unique_lock<std::mutex> lk(job->m);
    if (!job->cv.wait_until(lk, deadline, [&] { return job->done; })) {
      job->abandoned = true;
      ex.count_timeout();
      return {CasVerdict::timeout, "timeout", "symbolic step exceeded the budget"};
    }
    return job->result;
  } catch (const std::exception& e) {
    return {CasVerdict::inconclusive, "error", e.what()};
  }
}

std::optional<std::string> cas_canonical(const Node& n, Clock::time_point deadline) {
  try {
    // Canonical strings are optional: only small expansions (they must never hold the worker up).
    if (!cas_refusal(n, 300).empty() || Clock::now() >= deadline) return std::nullopt;
    auto job = std::make_shared<Job>();
    job->a = n;
    job->canonical = true;
    job->deadline = deadline;
    Executor& ex = Executor::get();
    ex.submit(job);
    std::unique_lock<std::mutex> lk(job->m);
    if (!job->cv.wait_until(lk, deadline, [&] { return job->done; })) {
      job->abandoned = true;
      ex.count_timeout();
      return std::nullopt;
    }
    if (job->result.verdict != CasVerdict::equal || job->result.note.empty()) return std::nullopt;
    return job->result.note;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

CasStats cas_stats() { return Executor::get().stats(); }

}  // namespace reval::answer
