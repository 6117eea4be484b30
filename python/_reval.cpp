// reval._reval: the pybind11 binding of the reward core (graders/rewards.hpp). Python objects become
// nlohmann::json (and back) here; grading runs with the GIL released, batches on the scorer's C++ job pool, so
// Python threads calling in at once grade in parallel. The Python-facing API (verl, TRL) is reval/rewards.py.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "base/error.hpp"
#include "graders/rewards.hpp"
#include "reval/version.hpp"

namespace py = pybind11;
using nlohmann::json;
namespace rw = reval::rewards;

namespace {

json to_json(py::handle h, int depth = 0) {
  if (depth > 64) throw reval::Error("value nested more than 64 levels deep");
  if (h.is_none()) return nullptr;
  if (py::isinstance<py::bool_>(h)) return h.cast<bool>();
  if (py::isinstance<py::int_>(h)) {
    try {
      return h.cast<std::int64_t>();
    } catch (const py::cast_error&) {
      return py::str(h).cast<std::string>();  // beyond 64 bits: its decimal text (a gold answer, say)
    }
  }
  if (py::isinstance<py::float_>(h)) return h.cast<double>();
  if (py::isinstance<py::str>(h)) return h.cast<std::string>();
  if (py::isinstance<py::bytes>(h)) return h.cast<std::string>();
  if (py::isinstance<py::dict>(h)) {
    json o = json::object();
    for (auto [k, v] : h.cast<py::dict>()) o[py::str(k).cast<std::string>()] = to_json(v, depth + 1);
    return o;
  }
  if (py::isinstance<py::list>(h) || py::isinstance<py::tuple>(h)) {
    json a = json::array();
    for (auto v : h) a.push_back(to_json(v, depth + 1));
    return a;
  }
  // numpy scalars and arrays, pandas values: through their own conversions.
  if (py::hasattr(h, "tolist")) return to_json(h.attr("tolist")(), depth + 1);
  if (py::hasattr(h, "item")) return to_json(h.attr("item")(), depth + 1);
  throw reval::Error(std::string("cannot use a value of type ") + py::str(h.get_type().attr("__name__")).cast<std::string>());
}

py::object from_json(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return py::none();
    case json::value_t::boolean: return py::bool_(j.get<bool>());
    case json::value_t::number_integer: return py::int_(j.get<std::int64_t>());
    case json::value_t::number_unsigned: return py::int_(j.get<std::uint64_t>());
    case json::value_t::number_float: return py::float_(j.get<double>());
    case json::value_t::string: return py::str(j.get_ref<const std::string&>());
    case json::value_t::array: {
      py::list l;
      for (const auto& v : j) l.append(from_json(v));
      return l;
    }
    case json::value_t::object: {
      py::dict d;
      for (const auto& [k, v] : j.items()) d[py::str(k)] = from_json(v);
      return d;
    }
    default: return py::none();
  }
}

py::object opt_float(const std::optional<double>& v) { return v ? py::object(py::float_(*v)) : py::object(py::none()); }
py::object opt_str(const std::optional<std::string>& v) { return v ? py::object(py::str(*v)) : py::object(py::none()); }

// A full result as a dict (RewardResult::to_json's keys).
py::dict result_dict(const rw::RewardResult& r) {
  py::dict d;
  d["reward"] = opt_float(r.reward);
  d["verdict"] = py::str(std::string(reval::to_string(r.verdict)));
  d["accuracy"] = r.accuracy;
  py::dict c;
  c["accuracy"] = r.accuracy;
  if (r.format) c["format"] = *r.format;
  if (r.language) c["language"] = *r.language;
  if (r.length) c["length"] = *r.length;
  d["components"] = c;
  d["extracted"] = opt_str(r.extracted);
  d["source"] = r.source;
  d["grader"] = r.grader;
  d["grader_version"] = r.grader_version;
  d["missing"] = r.missing.empty() ? py::object(py::none()) : py::object(py::str(r.missing));
  d["details"] = from_json(r.details);
  return d;
}

rw::RewardOptions options_of(py::handle options) {
  return options.is_none() ? rw::RewardOptions{} : rw::RewardOptions::from_json(to_json(options));
}

// The item columns of a batch: each is a list (one per response) or a single value used for all, or None.
struct Column {
  py::handle h;
  bool per_item = false;
  Column(py::handle v, std::size_t n, const char* name) : h(v) {
    if (v.is_none()) return;
    if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) {
      if (py::len(v) != n)
        throw reval::Error(std::string(name) + ": expected " + std::to_string(n) + " values (one per response), got " +
                           std::to_string(py::len(v)));
      per_item = true;
    }
  }
  py::handle at(std::size_t i) const { return per_item ? py::handle(h[py::int_(i)]) : h; }
};

class PyScorer {
 public:
  PyScorer(py::object grader_options, int workers)
      : scorer_(grader_options.is_none() ? json::object() : to_json(grader_options), workers) {}

  // One item on the calling thread (GIL released while grading).
  py::dict score(const std::string& source, std::string response, py::object gold, py::object fields,
                 const std::string& finish_reason, const std::string& prompt, py::object length, py::object options) {
    rw::RewardItem item;
    item.source = source;
    item.response = std::move(response);
    item.gold = to_json(gold);
    if (!fields.is_none()) item.fields = to_json(fields);
    item.finish = reval::finish_reason_from_string(finish_reason);
    item.prompt = prompt;
    if (!length.is_none()) item.length = length.cast<std::int64_t>();
    rw::RewardOptions o = options_of(options);
    rw::RewardResult r;
    {
      py::gil_scoped_release release;
      r = scorer_.score(item, o);
    }
    return result_dict(r);
  }

  // verl: data source + ground truth (+ extra_info) -> one result. Bad ground truth raises ValueError.
  py::dict score_ground_truth(const std::string& source, std::string response, py::object ground_truth,
                              py::object extra_info, py::object options) {
    rw::RewardItem item = rw::item_from_ground_truth(source, std::move(response), to_json(ground_truth),
                                                     to_json(extra_info));
    rw::RewardOptions o = options_of(options);
    rw::RewardResult r;
    {
      py::gil_scoped_release release;
      r = scorer_.score(item, o);
    }
    return result_dict(r);
  }

  // A batch on the pool. Columns: sources (str or list), responses (list), golds, fields, finish_reasons, prompts,
  // lengths (list or one value or None); ground_truth=True reads golds as verl ground truth (+ fields as
  // extra_info). Returns columns: rewards, accuracy, verdicts, extracted, format, language, length, missing,
  // stats, and with details=True also "results" (one dict per item). A bad item is a missing reward (stage input).
  py::dict score_batch(py::object sources, py::list responses, py::object golds, py::object fields,
                       py::object finish_reasons, py::object prompts, py::object lengths, py::object options,
                       bool ground_truth, bool details) {
    const std::size_t n = py::len(responses);
    Column src(sources, n, "sources"), gold(golds, n, "golds"), fld(fields, n, "fields"),
        fin(finish_reasons, n, "finish_reasons"), pr(prompts, n, "prompts"), len(lengths, n, "lengths");
    rw::RewardOptions o = options_of(options);
    std::vector<rw::RewardItem> items(n);
    std::vector<std::string> input_errors(n);
    for (std::size_t i = 0; i < n; ++i) {
      rw::RewardItem& it = items[i];
      it.source = src.h.is_none() ? std::string("math") : src.at(i).cast<std::string>();
      std::string response = responses[i].cast<std::string>();
      try {
        if (ground_truth) {
          it = rw::item_from_ground_truth(it.source, std::move(response), to_json(gold.at(i)),
                                          fld.h.is_none() ? json() : to_json(fld.at(i)));
        } else {
          it.response = std::move(response);
          it.gold = gold.h.is_none() ? json() : to_json(gold.at(i));
          if (!fld.h.is_none() && !fld.at(i).is_none()) it.fields = to_json(fld.at(i));
          if (!fin.h.is_none() && !fin.at(i).is_none())
            it.finish = reval::finish_reason_from_string(fin.at(i).cast<std::string>());
        }
        if (!pr.h.is_none() && !pr.at(i).is_none()) it.prompt = pr.at(i).cast<std::string>();
        if (!len.h.is_none() && !len.at(i).is_none()) it.length = len.at(i).cast<std::int64_t>();
      } catch (const std::exception& e) {
        input_errors[i] = e.what();
        it.source = "\x01invalid";  // graded as an unknown source: a missing reward, replaced below
      }
    }
    std::vector<rw::RewardResult> results;
    rw::BatchStats stats;
    {
      py::gil_scoped_release release;
      results = scorer_.score_batch(std::move(items), o, nullptr);
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (!input_errors[i].empty()) {
        results[i] = rw::RewardResult{};
        results[i].missing = "infra_error";
        results[i].details = {{"stage", "input"}, {"error", input_errors[i]}};
      }
      stats.add(results[i]);
    }
    py::list rewards(n), accuracy(n), verdicts(n), extracted(n), format(n), language(n), length(n), missing(n);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (std::size_t i = 0; i < n; ++i) {
      const auto& r = results[i];
      rewards[i] = opt_float(r.reward);
      accuracy[i] = r.reward ? py::object(py::float_(r.accuracy)) : py::object(py::none());
      verdicts[i] = py::str(std::string(reval::to_string(r.verdict)));
      extracted[i] = opt_str(r.extracted);
      format[i] = py::float_(r.format.value_or(nan));
      language[i] = py::float_(r.language.value_or(nan));
      length[i] = py::float_(r.length.value_or(nan));
      missing[i] = r.missing.empty() ? py::object(py::none()) : py::object(py::str(r.missing));
    }
    py::dict out;
    out["rewards"] = rewards;
    out["accuracy"] = accuracy;
    out["verdicts"] = verdicts;
    out["extracted"] = extracted;
    out["format"] = format;
    if (!o.language.empty()) out["language"] = language;
    if (o.length.max_length > 0) out["length"] = length;
    out["missing"] = missing;
    out["stats"] = from_json(stats.to_json());
    if (details) {
      py::list all(n);
      for (std::size_t i = 0; i < n; ++i) all[i] = result_dict(results[i]);
      out["results"] = all;
    }
    return out;
  }

  int workers() const { return scorer_.workers(); }
  int max_concurrent_batches() const { return scorer_.max_concurrent_batches(); }

 private:
  rw::RewardScorer scorer_;
};

}  // namespace

PYBIND11_MODULE(_reval, m) {
  m.doc() = "reval's reward core (C++); use reval.rewards";
  m.attr("__version__") = reval::kVersion;
  // reval::Error (bad input, unknown data source, bad options) -> ValueError with the same message.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const reval::Error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
  py::class_<PyScorer>(m, "Scorer")
      .def(py::init<py::object, int>(), py::arg("grader_options") = py::none(), py::arg("workers") = 0)
      .def("score", &PyScorer::score, py::arg("source"), py::arg("response"), py::arg("gold"),
           py::arg("fields") = py::none(), py::arg("finish_reason") = "stop", py::arg("prompt") = "",
           py::arg("length") = py::none(), py::arg("options") = py::none())
      .def("score_ground_truth", &PyScorer::score_ground_truth, py::arg("source"), py::arg("response"),
           py::arg("ground_truth"), py::arg("extra_info") = py::none(), py::arg("options") = py::none())
      .def("score_batch", &PyScorer::score_batch, py::arg("sources"), py::arg("responses"),
           py::arg("golds") = py::none(), py::arg("fields") = py::none(), py::arg("finish_reasons") = py::none(),
           py::arg("prompts") = py::none(), py::arg("lengths") = py::none(), py::arg("options") = py::none(),
           py::arg("ground_truth") = false, py::arg("details") = false)
      .def_property_readonly("workers", &PyScorer::workers)
      .def_property_readonly("max_concurrent_batches", &PyScorer::max_concurrent_batches);
  m.def(
      "route",
      [](const std::string& source) {
        rw::Route r = rw::route(source);
        py::dict d;
        d["grader"] = r.grader;
        d["fields"] = from_json(r.fields);
        d["matched"] = r.matched;
        return d;
      },
      py::arg("source"), "The grader and default fields a task kind or data source is scored with");
  m.def("sources", [] { return rw::source_table(); }, "The data-source table: (pattern, grader) pairs");
  m.def(
      "check_format",
      [](const std::string& response, const std::string& grader, const std::string& prompt) {
        rw::FormatCheck f = rw::check_format(response, grader, prompt);
        py::dict d;
        d["think_closed"] = f.think_closed;
        d["answer_marked"] = f.answer_marked;
        d["reason"] = f.reason;
        d["score"] = f.score(rw::FormatOptions{});
        return d;
      },
      py::arg("response"), py::arg("grader") = "math", py::arg("prompt") = "");
  m.def(
      "check_language",
      [](const std::string& response, const std::string& target) {
        rw::LanguageCheck l = rw::check_language(response, target);
        py::dict d;
        d["share"] = l.share;
        d["words"] = l.words;
        d["target_words"] = l.target_words;
        d["top_script"] = l.top_script;
        return d;
      },
      py::arg("response"), py::arg("language"));
}
