// Jinja evaluator: executes a Program over Values, with Jinja2/Python semantics for filters, tests and methods.
//
// Theory of operation
// -------------------
// A Renderer owns a chain of frames (name -> Value). The root frame holds the caller's variables; `for` pushes a
// fresh frame per iteration (so an assignment in the body lasts for the rest of that iteration only, as in
// Jinja2), macros run in a frame whose parent is the scope that defined them (a closure), and set/filter/call
// block bodies get their own frame. Names the parser's scope analysis marks "assigned before read" start a
// scope undefined, as in jinja2's compiled code. `set` writes the innermost frame; `set ns.x` mutates a
// namespace. Name lookup falls back to the globals HF provides (range, namespace, dict, raise_exception,
// strftime_now) and then yields Undefined carrying the message Jinja2 would raise if it is *used*: Undefined
// prints as "", iterates as empty, is falsy, has length 0, compares equal only to Undefined, and raises on
// attribute/item access, arithmetic and calls (jinja2.Undefined).
// Attribute access `x.y` looks up Python methods first (str.split, dict.items, ...) and then items; subscripts
// `x[y]` look up items first — the order of jinja2's Environment.getattr/getitem. Missing attributes/items and
// out-of-range indices give Undefined. Errors become reval::Error "origin:line:col: message" for the innermost
// statement or expression that failed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <unordered_map>

#include <fmt/format.h>

#include <utf8proc.h>

#include "model/chat/jinja.hpp"
#include "base/error.hpp"

namespace reval::jinja {

namespace {

// An error already prefixed with its template location.
class LocatedError : public Error {
 public:
  using Error::Error;
};

[[noreturn]] void raise(const std::string& msg) { throw Error(msg); }

[[noreturn]] void raise_undefined(const Value& v) {
  raise(v.str().empty() ? std::string("value is undefined") : v.str());
}

Value undefined_attr(const Value& obj, const std::string& name) {
  std::string what = obj.is_dict()  ? "dict object"
                     : obj.is_list() ? "list object"
                     : obj.is_string() ? "str object"
                                       : std::string(obj.type_name()) + " object";
  if (obj.is_none()) what = "None";
  return Value::undefined(fmt::format("'{}' has no attribute '{}'", what, name));
}

bool is_py_space(char32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f) || c == 0x85 || c == 0xa0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000;
}

// Unicode case mapping (utf8proc's simple mappings; Python uses full mappings, which differ for a few
// characters such as 'ß'.upper() == 'SS').
char32_t cp_lower(char32_t c) { return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))); }
char32_t cp_upper(char32_t c) { return static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(c))); }
char32_t cp_title(char32_t c) { return static_cast<char32_t>(utf8proc_totitle(static_cast<utf8proc_int32_t>(c))); }
utf8proc_category_t cp_cat(char32_t c) { return utf8proc_category(static_cast<utf8proc_int32_t>(c)); }
bool cp_is_upper(char32_t c) { return cp_cat(c) == UTF8PROC_CATEGORY_LU || cp_cat(c) == UTF8PROC_CATEGORY_LT; }
bool cp_is_lower(char32_t c) { return cp_cat(c) == UTF8PROC_CATEGORY_LL; }
bool cp_is_cased(char32_t c) { return cp_is_upper(c) || cp_is_lower(c); }
bool is_alpha_cp(char32_t c) {
  auto k = cp_cat(c);
  return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
         k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_LO;
}
bool is_digit_cp(char32_t c) { return cp_cat(c) == UTF8PROC_CATEGORY_ND; }

template <class F>
std::string map_cps(const std::string& s, F f) {
  std::u32string u = utf8_decode(s);
  for (char32_t& c : u) c = f(c);
  return utf8_encode(u);
}
std::string str_lower(const std::string& s) { return map_cps(s, cp_lower); }
std::string str_upper(const std::string& s) {
  std::string out;
  for (char32_t c : utf8_decode(s)) {
    // The commonest multi-character uppercase mappings Python applies (SpecialCasing.txt).
    static const std::pair<char32_t, const char*> special[] = {
        {0xDF, "SS"}, {0xFB00, "FF"}, {0xFB01, "FI"}, {0xFB02, "FL"}, {0xFB03, "FFI"}, {0xFB04, "FFL"}, {0xFB05, "ST"}, {0xFB06, "ST"}};
    const char* sp = nullptr;
    for (const auto& [k, v] : special)
      if (k == c) sp = v;
    if (sp)
      out += sp;
    else
      utf8_append(out, cp_upper(c));
  }
  return out;
}

// str.islower()/isupper(): at least one cased character and none of the other case.
bool py_islower(const std::string& s) {
  bool cased = false;
  for (char32_t c : utf8_decode(s)) {
    if (cp_is_upper(c)) return false;
    if (cp_is_lower(c)) cased = true;
  }
  return cased;
}
bool py_isupper(const std::string& s) {
  bool cased = false;
  for (char32_t c : utf8_decode(s)) {
    if (cp_is_lower(c) || cp_cat(c) == UTF8PROC_CATEGORY_LT) return false;
    if (cp_is_upper(c)) cased = true;
  }
  return cased;
}

std::string py_strip(const std::string& s, const Value* chars, bool left, bool right) {
  std::u32string u = utf8_decode(s);
  std::u32string set;
  bool use_set = chars && !chars->is_none() && !chars->is_undefined();
  if (use_set) set = utf8_decode(chars->to_str());
  auto strip_it = [&](char32_t c) { return use_set ? set.find(c) != std::u32string::npos : is_py_space(c); };
  std::size_t b = 0, e = u.size();
  if (left)
    while (b < e && strip_it(u[b])) ++b;
  if (right)
    while (e > b && strip_it(u[e - 1])) --e;
  return utf8_encode(u.substr(b, e - b));
}

std::vector<std::string> py_split(const std::string& s, const Value* sep, std::int64_t maxsplit) {
  std::vector<std::string> out;
  if (!sep || sep->is_none()) {
    std::u32string u = utf8_decode(s);
    std::size_t i = 0, n = u.size();
    while (true) {
      while (i < n && is_py_space(u[i])) ++i;
      if (i >= n) break;
      if (maxsplit >= 0 && static_cast<std::int64_t>(out.size()) == maxsplit) {
        std::size_t e = n;
        while (e > i && is_py_space(u[e - 1])) --e;
        out.push_back(utf8_encode(u.substr(i, e - i)));
        break;
      }
      std::size_t j = i;
      while (j < n && !is_py_space(u[j])) ++j;
      out.push_back(utf8_encode(u.substr(i, j - i)));
      i = j;
    }
    return out;
  }
  if (!sep->is_string()) raise("split(): separator must be a string");
  const std::string& d = sep->str();
  if (d.empty()) raise("ValueError: empty separator");
  std::size_t start = 0;
  while (true) {
    if (maxsplit >= 0 && static_cast<std::int64_t>(out.size()) == maxsplit) break;
    std::size_t p = s.find(d, start);
    if (p == std::string::npos) break;
    out.push_back(s.substr(start, p - start));
    start = p + d.size();
  }
  out.push_back(s.substr(start));
  return out;
}

std::string py_replace(const std::string& s, const std::string& old, const std::string& nw, std::int64_t count) {
  std::string out;
  if (old.empty()) {
    std::u32string u = utf8_decode(s);
    std::int64_t done = 0;
    for (char32_t c : u) {
      if (count < 0 || done < count) {
        out += nw;
        ++done;
      }
      utf8_append(out, c);
    }
    if (count < 0 || done < count) out += nw;
    return out;
  }
  std::size_t start = 0;
  std::int64_t done = 0;
  while (count < 0 || done < count) {
    std::size_t p = s.find(old, start);
    if (p == std::string::npos) break;
    out.append(s, start, p - start);
    out += nw;
    start = p + old.size();
    ++done;
  }
  out.append(s, start, std::string::npos);
  return out;
}

// str.title(): title-case a character after an uncased one, lower-case it after a cased one.
std::string py_title(const std::string& s) {
  std::u32string u = utf8_decode(s);
  bool prev_cased = false;
  for (char32_t& c : u) {
    bool cased = cp_is_cased(c);
    c = prev_cased ? cp_lower(c) : cp_title(c);
    prev_cased = cased;
  }
  return utf8_encode(u);
}

// Jinja's `title` filter: words start after whitespace or one of "-({[<"; first letter upper, rest lower.
std::string jinja_title(const std::string& s) {
  std::u32string u = utf8_decode(s);
  bool word_start = true;
  for (char32_t& c : u) {
    bool sep = is_py_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    if (sep) {
      word_start = true;
      continue;
    }
    c = word_start ? cp_upper(c) : cp_lower(c);
    word_start = false;
  }
  return utf8_encode(u);
}

std::string py_capitalize(const std::string& s) {
  std::u32string u = utf8_decode(s);
  for (std::size_t i = 0; i < u.size(); ++i) u[i] = i == 0 ? cp_title(u[i]) : cp_lower(u[i]);
  return utf8_encode(u);
}

std::int64_t py_len(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return 0;
    case Kind::String: return static_cast<std::int64_t>(utf8_decode(v.str()).size());
    case Kind::List: return static_cast<std::int64_t>(v.items().size());
    case Kind::Dict: return static_cast<std::int64_t>(v.dict_ref().entries.size());
    default: raise(fmt::format("object of type '{}' has no len()", v.type_name()));
  }
}

// Iteration: list items, dict keys, string characters; Undefined is empty.
List iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return {};
    case Kind::List: return v.items();
    case Kind::Dict: {
      List l;
      for (const auto& e : v.dict_ref().entries) l.push_back(e.first);
      return l;
    }
    case Kind::String: {
      List l;
      for (char32_t c : utf8_decode(v.str())) {
        std::string s;
        utf8_append(s, c);
        l.emplace_back(std::move(s));
      }
      return l;
    }
    default: raise(fmt::format("'{}' object is not iterable", v.type_name()));
  }
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::Undefined: return false;
    case Kind::String:
      if (!item.is_string())
        raise(fmt::format("'in <string>' requires string as left operand, not {}", item.type_name()));
      return container.str().find(item.str()) != std::string::npos;
    case Kind::List:
      for (const auto& e : container.items())
        if (values_equal(e, item)) return true;
      return false;
    case Kind::Dict:
      if (item.is_list() && !item.is_tuple()) raise("unhashable type: 'list'");
      if (item.is_dict()) raise("unhashable type: 'dict'");
      return container.dict_ref().find(item) != nullptr;
    default: raise(fmt::format("argument of type '{}' is not iterable", container.type_name()));
  }
}

// Python slice(start, stop, step).indices(n) -> selected indices.
std::vector<std::int64_t> slice_indices(std::int64_t n, const Value& start, const Value& stop, const Value& step) {
  auto opt = [](const Value& v) { return !(v.is_none() || v.is_undefined()); };
  std::int64_t st = opt(step) ? step.as_int() : 1;
  if (opt(step) && !step.is_int() && !step.is_bool()) raise("slice indices must be integers or None");
  if (st == 0) raise("slice step cannot be zero");
  auto norm = [&](const Value& v, std::int64_t dflt, bool is_start) {
    if (!opt(v)) return dflt;
    if (!v.is_int() && !v.is_bool()) raise("slice indices must be integers or None");
    std::int64_t x = v.as_int();
    if (x < 0) {
      x += n;
      if (x < 0) x = st < 0 ? -1 : 0;
    } else if (x >= n) {
      x = st < 0 ? n - 1 : n;
    }
    (void)is_start;
    return x;
  };
  std::int64_t b = norm(start, st < 0 ? n - 1 : 0, true);
  std::int64_t e = norm(stop, st < 0 ? -1 : n, false);
  std::vector<std::int64_t> idx;
  if (st > 0)
    for (std::int64_t i = b; i < e; i += st) idx.push_back(i);
  else
    for (std::int64_t i = b; i > e; i += st) idx.push_back(i);
  return idx;
}

Value make_list_of_strings(const std::vector<std::string>& v) {
  List l;
  l.reserve(v.size());
  for (const auto& s : v) l.emplace_back(s);
  return Value::list(std::move(l));
}

std::int64_t to_int_arg(const Value& v, const char* what) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  raise(fmt::format("{}: expected an integer, got {}", what, v.type_name()));
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&#34;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

// Python str.format for "{}", "{0}", "{name}" (no format specs beyond none).
std::string py_format(const std::string& fmtstr, const CallArgs& a) {
  std::string out;
  std::size_t auto_idx = 0;
  for (std::size_t i = 0; i < fmtstr.size(); ++i) {
    char c = fmtstr[i];
    if (c == '{') {
      if (i + 1 < fmtstr.size() && fmtstr[i + 1] == '{') {
        out += '{';
        ++i;
        continue;
      }
      std::size_t e = fmtstr.find('}', i);
      if (e == std::string::npos) raise("Single '{' encountered in format string");
      std::string field = fmtstr.substr(i + 1, e - i - 1);
      auto colon = field.find(':');
      if (colon != std::string::npos) field = field.substr(0, colon);
      const Value* v = nullptr;
      if (field.empty()) {
        if (auto_idx >= a.pos.size()) raise("Replacement index out of range for positional args tuple");
        v = &a.pos[auto_idx++];
      } else if (std::all_of(field.begin(), field.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
        std::size_t k = std::stoul(field);
        if (k >= a.pos.size()) raise("Replacement index out of range for positional args tuple");
        v = &a.pos[k];
      } else {
        v = a.kwarg(field);
        if (!v) raise(fmt::format("KeyError: '{}'", field));
      }
      out += v->to_str();
      i = e;
    } else if (c == '}') {
      if (i + 1 < fmtstr.size() && fmtstr[i + 1] == '}') ++i;
      out += '}';
    } else {
      out += c;
    }
  }
  return out;
}

// Python printf-style formatting ("%s" % x, "%d" % n, "%.2f" % x, "%r", "%x", "%%") with optional flags/width.
std::string py_percent_format(const std::string& f, const Value& args) {
  List items = args.is_tuple() ? args.items() : List{args};
  std::size_t next_arg = 0;
  std::string out;
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') {
      out += f[i];
      continue;
    }
    std::size_t j = i + 1;
    std::string spec = "%";
    while (j < f.size() && std::strchr("-+ 0#", f[j])) spec += f[j++];
    while (j < f.size() && f[j] >= '0' && f[j] <= '9') spec += f[j++];
    if (j < f.size() && f[j] == '.') {
      spec += f[j++];
      while (j < f.size() && f[j] >= '0' && f[j] <= '9') spec += f[j++];
    }
    if (j >= f.size()) raise("incomplete format");
    char conv = f[j];
    i = j;
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (next_arg >= items.size()) raise("not enough arguments for format string");
    const Value& v = items[next_arg++];
    char buf[512];
    switch (conv) {
      case 's':
      case 'r': {
        std::string text = conv == 's' ? v.to_str() : v.repr();
        std::snprintf(buf, sizeof buf, (spec + "s").c_str(), "");  // validates flags; width handled below
        std::size_t width = 0;
        bool left = spec.find('-') != std::string::npos;
        std::size_t k = 1;
        while (k < spec.size() && std::strchr("-+ 0#", spec[k])) ++k;
        while (k < spec.size() && spec[k] >= '0' && spec[k] <= '9') width = width * 10 + static_cast<std::size_t>(spec[k++] - '0');
        if (width > (1u << 20)) raise("format width too large");
        auto len = utf8_decode(text).size();
        std::string pad = len < width ? std::string(width - len, ' ') : "";
        out += left ? text + pad : pad + text;
        break;
      }
      case 'd':
      case 'i':
      case 'x':
      case 'X':
      case 'o': {
        if (!v.is_number()) raise(fmt::format("%{} format: a real number is required, not {}", conv, v.type_name()));
        long long x = v.kind() == Kind::Float ? static_cast<long long>(v.as_double()) : static_cast<long long>(v.as_int());
        std::snprintf(buf, sizeof buf, (spec + "ll" + (conv == 'i' ? 'd' : conv)).c_str(), x);
        out += buf;
        break;
      }
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G': {
        if (!v.is_number()) raise(fmt::format("%{} format: a real number is required, not {}", conv, v.type_name()));
        std::snprintf(buf, sizeof buf, (spec + conv).c_str(), v.as_double());
        out += buf;
        break;
      }
      default: raise(fmt::format("unsupported format character '{}'", conv));
    }
  }
  // Python only complains about unused arguments for a tuple or a plain scalar (mappings/sequences are exempt).
  bool exempt = !args.is_tuple() && (args.is_dict() || args.is_list());
  if (next_arg < items.size() && !exempt) raise("not all arguments converted during string formatting");
  return out;
}

}  // namespace

class Renderer {
 public:
  Renderer(const Program& prog, const Dict& globals) : prog_(prog) {
    ctx_ = std::make_shared<Frame>();
    for (const auto& [k, v] : globals.entries)
      if (k.is_string()) ctx_->vars[k.str()] = v;
  }

  std::string run() {
    std::string out;
    out_ = &out;
    cur_ = new_frame(ctx_, prog_.decls);
    exec_body(prog_.body);
    return out;
  }

 private:
  // Frames are shared so a macro can keep (weakly) the scope it was defined in.
  struct Frame {
    std::unordered_map<std::string, Value> vars;
    std::shared_ptr<Frame> parent;
  };
  using FramePtr = std::shared_ptr<Frame>;
  struct FrameGuard {
    Renderer& r;
    FramePtr saved;
    FrameGuard(Renderer& rr, FramePtr f) : r(rr), saved(rr.cur_) { r.cur_ = std::move(f); }
    ~FrameGuard() { r.cur_ = std::move(saved); }
  };
  struct OutGuard {
    Renderer& r;
    std::string* saved;
    OutGuard(Renderer& rr, std::string* o) : r(rr), saved(rr.out_) { r.out_ = o; }
    ~OutGuard() { r.out_ = saved; }
  };
  enum class Flow { Normal, Break, Continue };

  // A scope's frame: names the scope analysis found "stored before loaded" start out undefined, shadowing
  // anything of that name outside (jinja2's compiled code initialises them to `missing`).
  static FramePtr new_frame(FramePtr parent, const std::vector<std::string>& decls) {
    auto f = std::make_shared<Frame>();
    f->parent = std::move(parent);
    for (const auto& n : decls) f->vars[n] = Value::undefined(fmt::format("'{}' is undefined", n));
    return f;
  }

  std::string loc(int line, int col) const { return fmt::format("{}:{}:{}: ", prog_.origin, line, col); }

  template <class F>
  auto located(int line, int col, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const LocatedError&) {
      throw;
    } catch (const Error& e) {
      throw LocatedError(loc(line, col) + e.what());
    }
  }

  // ---- statements ----
  Flow exec_body(const Body& body) {
    for (const auto& s : body) {
      Flow f = located(s->line, s->col, [&] { return exec(*s); });
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

  // Runs `body` in a child scope of the current one, capturing its output. A break/continue inside leaves the
  // block and acts on the enclosing loop, as in jinja2's generated code.
  std::string render_scoped(const Body& body, const std::vector<std::string>& decls, Flow& flow) {
    std::string buf;
    FrameGuard g(*this, new_frame(cur_, decls));
    OutGuard og(*this, &buf);
    flow = exec_body(body);
    return buf;
  }

  Value lookup(const std::string& name) {
    for (Frame* f = cur_.get(); f; f = f->parent.get()) {
      auto it = f->vars.find(name);
      if (it != f->vars.end()) return it->second;
    }
    Value b = builtin(name);
    if (!b.is_undefined()) return b;
    return Value::undefined(fmt::format("'{}' is undefined", name));
  }

  void assign_targets(Frame& f, const std::vector<std::string>& targets, const Value& v) {
    if (targets.size() == 1) {
      f.vars[targets[0]] = v;
      return;
    }
    List items = iterate(v);
    if (items.size() != targets.size())
      raise(items.size() < targets.size()
                ? fmt::format("not enough values to unpack (expected {}, got {})", targets.size(), items.size())
                : fmt::format("too many values to unpack (expected {})", targets.size()));
    for (std::size_t i = 0; i < targets.size(); ++i) f.vars[targets[i]] = items[i];
  }

  Value make_macro(const Stmt* m) {
    std::weak_ptr<Frame> defining = cur_;
    return Value::function(m->text, [m, defining](Renderer& r, const CallArgs& a) {
      FramePtr scope = defining.lock();
      if (!scope) raise(fmt::format("macro '{}' called outside the scope that defined it", m->text));
      return r.invoke_macro(*m, a, std::move(scope));
    });
  }

  Flow exec(const Stmt& s) {
    switch (s.kind) {
      case StmtKind::Text: *out_ += s.text; return Flow::Normal;
      case StmtKind::Output: *out_ += eval(*s.expr).to_str(); return Flow::Normal;
      case StmtKind::If:
        for (const auto& [cond, body] : s.branches)
          if (eval(*cond).truthy()) return exec_body(body);
        return exec_body(s.else_body);
      case StmtKind::For: return exec_for(s);
      case StmtKind::Set: {
        Value v = eval(*s.expr);
        if (!s.text.empty()) {
          Value ns = lookup(s.targets[0]);
          if (!ns.is_namespace()) raise("cannot assign attribute on non-namespace object");
          ns.namespace_ref().set(Value(s.text), std::move(v));
        } else {
          assign_targets(*cur_, s.targets, v);
        }
        return Flow::Normal;
      }
      case StmtKind::SetBlock: {
        Flow flow = Flow::Normal;
        Value v(render_scoped(s.body, s.body_decls, flow));
        if (flow != Flow::Normal) return flow;
        if (s.filter) v = apply_placeholder_filter(*s.filter, v);
        cur_->vars[s.targets[0]] = std::move(v);
        return Flow::Normal;
      }
      case StmtKind::Macro: cur_->vars[s.text] = make_macro(&s); return Flow::Normal;
      case StmtKind::CallBlock: {
        const Stmt* blk = &s;
        std::weak_ptr<Frame> defining = cur_;
        Value caller = Value::function("caller", [blk, defining](Renderer& r, const CallArgs& a) {
          FramePtr scope = defining.lock();
          if (!scope) raise("caller() used outside its call block");
          return r.invoke_macro(*blk, a, std::move(scope));
        });
        *out_ += eval_call(*s.expr, &caller).to_str();
        return Flow::Normal;
      }
      case StmtKind::FilterBlock:
      case StmtKind::Block: {
        Flow flow = Flow::Normal;
        std::string text = render_scoped(s.body, s.body_decls, flow);
        if (flow != Flow::Normal) return flow;
        *out_ += s.kind == StmtKind::Block ? text : apply_placeholder_filter(*s.filter, Value(std::move(text))).to_str();
        return Flow::Normal;
      }
      case StmtKind::Break: return Flow::Break;
      case StmtKind::Continue: return Flow::Continue;
    }
    return Flow::Normal;
  }

  Value apply_placeholder_filter(const Expr& chain, Value v) {
    auto f = new_frame(cur_, {});
    f->vars[""] = std::move(v);
    FrameGuard g(*this, f);
    return eval(chain);
  }

 public:
  Value invoke_macro(const Stmt& m, const CallArgs& a, FramePtr parent) {
    if (macro_depth_ >= 256) raise("maximum macro recursion depth exceeded");
    struct DepthGuard {
      int& d;
      explicit DepthGuard(int& dd) : d(dd) { ++d; }
      ~DepthGuard() { --d; }
    } depth(macro_depth_);
    FramePtr fp = new_frame(std::move(parent), m.body_decls);
    Frame& f = *fp;
    FrameGuard g(*this, fp);
    std::size_t np = m.targets.size();
    List varargs;
    for (std::size_t i = 0; i < a.pos.size(); ++i) {
      if (i < np)
        f.vars[m.targets[i]] = a.pos[i];
      else
        varargs.push_back(a.pos[i]);
    }
    Dict kwargs;
    std::vector<bool> bound(np, false);
    for (std::size_t i = 0; i < a.pos.size() && i < np; ++i) bound[i] = true;
    for (const auto& [k, v] : a.kw) {
      auto it = std::find(m.targets.begin(), m.targets.end(), k);
      if (it != m.targets.end()) {
        f.vars[k] = v;
        bound[static_cast<std::size_t>(it - m.targets.begin())] = true;
      } else if (k == "caller") {
        f.vars["caller"] = v;
      } else {
        kwargs.set(Value(k), v);
      }
    }
    for (std::size_t i = 0; i < np; ++i) {
      if (bound[i]) continue;
      f.vars[m.targets[i]] = m.defaults[i] ? eval(*m.defaults[i]) : Value::undefined(fmt::format("'{}' is undefined", m.targets[i]));
    }
    f.vars["varargs"] = Value::list(std::move(varargs));
    f.vars["kwargs"] = Value::dict(std::move(kwargs));
    std::string buf;
    {
      OutGuard og(*this, &buf);
      exec_body(m.body);
    }
    return Value(std::move(buf));
  }

 private:
  Flow exec_for(const Stmt& s) {
    Value seq = eval(*s.expr);
    List items = iterate(seq);
    FramePtr outer = cur_;
    if (s.filter) {
      List kept;
      for (const auto& it : items) {
        auto f = new_frame(outer, {});
        FrameGuard g(*this, f);
        assign_targets(*f, s.targets, it);
        if (eval(*s.filter).truthy()) kept.push_back(it);
      }
      items = std::move(kept);
    }
    // jinja2 runs `else` unless some iteration reached the end of the body (so also when every iteration
    // ended in `continue`, or the first one in `break`).
    bool completed_any = false;
    const auto n = static_cast<std::int64_t>(items.size());
    for (std::int64_t i = 0; i < n; ++i) {
      // Each iteration starts from the enclosing scope: a `set` in the body is visible for the rest of this
      // iteration only (Jinja2 semantics; use a namespace to carry state).
      FramePtr fp = new_frame(outer, s.body_decls);
      Frame& f = *fp;
      FrameGuard g(*this, fp);
      assign_targets(f, s.targets, items[static_cast<std::size_t>(i)]);
      Dict loop;
      loop.entries.reserve(12);
      loop.set(Value("index"), Value(i + 1));
      loop.set(Value("index0"), Value(i));
      loop.set(Value("revindex"), Value(n - i));
      loop.set(Value("revindex0"), Value(n - i - 1));
      loop.set(Value("first"), Value(i == 0));
      loop.set(Value("last"), Value(i == n - 1));
      loop.set(Value("length"), Value(n));
      loop.set(Value("depth"), Value(1));
      loop.set(Value("depth0"), Value(0));
      loop.set(Value("previtem"), i > 0 ? items[static_cast<std::size_t>(i - 1)] : Value::undefined("there is no previous item"));
      loop.set(Value("nextitem"), i + 1 < n ? items[static_cast<std::size_t>(i + 1)] : Value::undefined("there is no next item"));
      loop.set(Value("cycle"), Value::function("cycle", [i](Renderer&, const CallArgs& a) {
                 if (a.pos.empty()) raise("no items for cycling given");
                 return a.pos[static_cast<std::size_t>(i) % a.pos.size()];
               }));
      f.vars["loop"] = Value::dict(std::move(loop));
      Flow fl = exec_body(s.body);
      if (fl == Flow::Break) break;
      if (fl == Flow::Normal) completed_any = true;
    }
    if (!completed_any) {
      FrameGuard g(*this, new_frame(outer, s.else_decls));
      exec_body(s.else_body);
    }
    return Flow::Normal;
  }

  // ---- expressions ----
  Value eval(const Expr& e) {
    return located(e.line, e.col, [&] { return eval_inner(e); });
  }

  Value eval_inner(const Expr& e) {
    switch (e.kind) {
      case ExprKind::Literal: return e.literal;
      case ExprKind::Name: return lookup(e.name);
      case ExprKind::ListLit:
      case ExprKind::TupleLit: {
        List l;
        for (const auto& a : e.args) l.push_back(eval(*a));
        return e.kind == ExprKind::TupleLit ? Value::tuple(std::move(l)) : Value::list(std::move(l));
      }
      case ExprKind::DictLit: {
        Dict d;
        for (std::size_t i = 0; i + 1 < e.args.size(); i += 2) d.set(eval(*e.args[i]), eval(*e.args[i + 1]));
        return Value::dict(std::move(d));
      }
      case ExprKind::Attr: return get_attr(eval(*e.args[0]), e.name);
      case ExprKind::Index: return get_item(eval(*e.args[0]), eval(*e.args[1]));
      case ExprKind::Slice: {
        Value obj = eval(*e.args[0]);
        Value a = e.args[1] ? eval(*e.args[1]) : Value::none();
        Value b = e.args[2] ? eval(*e.args[2]) : Value::none();
        Value c = e.args[3] ? eval(*e.args[3]) : Value::none();
        return do_slice(obj, a, b, c);
      }
      case ExprKind::Call: return eval_call(e, nullptr);
      case ExprKind::Filter: {
        Value v = eval(*e.args[0]);
        CallArgs a = eval_args(e, 1);
        return apply_filter(e.name, v, a);
      }
      case ExprKind::Test: {
        Value v = eval(*e.args[0]);
        CallArgs a = eval_args(e, 1);
        bool r = apply_test(e.name, v, a);
        return Value(e.negated ? !r : r);
      }
      case ExprKind::Not: return Value(!eval(*e.args[0]).truthy());
      case ExprKind::Neg: {
        Value v = eval(*e.args[0]);
        if (v.kind() == Kind::Float) return Value(-v.as_double());
        if (v.is_int() || v.is_bool()) return Value(-v.as_int());
        if (v.is_undefined()) raise_undefined(v);
        raise(fmt::format("bad operand type for unary -: '{}'", v.type_name()));
      }
      case ExprKind::Pos: {
        Value v = eval(*e.args[0]);
        if (v.is_bool()) return Value(v.as_int());
        if (v.is_number()) return v;
        if (v.is_undefined()) raise_undefined(v);
        raise(fmt::format("bad operand type for unary +: '{}'", v.type_name()));
      }
      case ExprKind::Binary: return binary(e.name, eval(*e.args[0]), eval(*e.args[1]));
      case ExprKind::And: {
        Value l = eval(*e.args[0]);
        return l.truthy() ? eval(*e.args[1]) : l;
      }
      case ExprKind::Or: {
        Value l = eval(*e.args[0]);
        return l.truthy() ? l : eval(*e.args[1]);
      }
      case ExprKind::Compare: {
        Value left = eval(*e.args[0]);
        for (std::size_t i = 0; i < e.ops.size(); ++i) {
          Value right = eval(*e.args[i + 1]);
          if (!compare_op(e.ops[i], left, right)) return Value(false);
          left = std::move(right);
        }
        return Value(true);
      }
      case ExprKind::Cond:
        if (eval(*e.args[1]).truthy()) return eval(*e.args[0]);
        return e.args[2] ? eval(*e.args[2]) : Value::undefined("the inline if-expression evaluated to false and no else section was defined");
      case ExprKind::Concat: {
        std::string s;
        for (const auto& a : e.args) s += eval(*a).to_str();
        return Value(std::move(s));
      }
    }
    raise("internal error: unknown expression");
  }

  CallArgs eval_args(const Expr& e, std::size_t first) {
    CallArgs a;
    for (std::size_t i = first; i < e.args.size(); ++i) a.pos.push_back(eval(*e.args[i]));
    for (const auto& [k, v] : e.kwargs) a.kw.emplace_back(k, eval(*v));
    return a;
  }

  Value eval_call(const Expr& e, const Value* caller) {
    Value fn = eval(*e.args[0]);
    CallArgs a = eval_args(e, 1);
    if (caller) a.kw.emplace_back("caller", *caller);
    if (fn.is_function()) return fn.function_ref().fn(*this, a);
    if (fn.is_undefined()) raise_undefined(fn);
    raise(fmt::format("'{}' object is not callable", fn.type_name()));
  }

  bool compare_op(const std::string& op, const Value& l, const Value& r) {
    if (op == "==") return values_equal(l, r);
    if (op == "!=") return !values_equal(l, r);
    if (op == "in") return contains(r, l);
    if (op == "notin") return !contains(r, l);
    if (l.is_undefined()) raise_undefined(l);
    if (r.is_undefined()) raise_undefined(r);
    int c = compare_values(l, r);
    if (op == "<") return c < 0;
    if (op == ">") return c > 0;
    if (op == "<=") return c <= 0;
    if (op == ">=") return c >= 0;
    raise("unknown comparison " + op);
  }

  static Value binary(const std::string& op, const Value& l, const Value& r) {
    if (l.is_undefined()) raise_undefined(l);
    if (r.is_undefined()) raise_undefined(r);
    auto type_error = [&]() -> Value {
      raise(fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op, l.type_name(), r.type_name()));
    };
    if (l.is_number() && r.is_number()) {
      bool fl = l.kind() == Kind::Float || r.kind() == Kind::Float;
      // Python ints are unbounded; past int64 we fall back to float rather than wrap.
      std::int64_t ir = 0;
      if (op == "+") {
        if (!fl && !__builtin_add_overflow(l.as_int(), r.as_int(), &ir)) return Value(ir);
        return Value(l.as_double() + r.as_double());
      }
      if (op == "-") {
        if (!fl && !__builtin_sub_overflow(l.as_int(), r.as_int(), &ir)) return Value(ir);
        return Value(l.as_double() - r.as_double());
      }
      if (op == "*") {
        if (!fl && !__builtin_mul_overflow(l.as_int(), r.as_int(), &ir)) return Value(ir);
        return Value(l.as_double() * r.as_double());
      }
      if (op == "/") {
        if (r.as_double() == 0) raise("division by zero");
        return Value(l.as_double() / r.as_double());
      }
      if (op == "//") {
        if (r.as_double() == 0) raise("integer division or modulo by zero");
        if (fl) return Value(std::floor(l.as_double() / r.as_double()));
        std::int64_t a = l.as_int(), b = r.as_int();
        if (a == INT64_MIN && b == -1) return Value(-static_cast<double>(a));
        std::int64_t q = a / b;
        if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
        return Value(q);
      }
      if (op == "%") {
        if (r.as_double() == 0) raise("integer division or modulo by zero");
        if (fl) {
          double a = l.as_double(), b = r.as_double(), m = std::fmod(a, b);
          if (m != 0 && ((m < 0) != (b < 0))) m += b;
          return Value(m);
        }
        std::int64_t a = l.as_int(), b = r.as_int();
        if (b == -1) return Value(static_cast<std::int64_t>(0));
        std::int64_t m = a % b;
        if (m != 0 && ((m < 0) != (b < 0))) m += b;
        return Value(m);
      }
      if (op == "**") {
        if (!fl && r.as_int() >= 0) {
          std::int64_t res = 1, base = l.as_int();
          bool overflow = false;
          for (std::int64_t i = 0; i < r.as_int() && !overflow; ++i) overflow = __builtin_mul_overflow(res, base, &res);
          if (!overflow) return Value(res);
        }
        return Value(std::pow(l.as_double(), r.as_double()));
      }
      return type_error();
    }
    if (op == "+") {
      if (l.is_string() && r.is_string()) return Value(l.str() + r.str());
      if (l.is_list() && r.is_list() && l.is_tuple() == r.is_tuple()) {
        List out = l.items();
        out.insert(out.end(), r.items().begin(), r.items().end());
        return l.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
      }
      if (l.is_string()) raise(fmt::format("can only concatenate str (not \"{}\") to str", r.type_name()));
      return type_error();
    }
    if (op == "%" && l.is_string()) return Value(py_percent_format(l.str(), r));
    if (op == "*") {
      const Value* seq = (l.is_string() || l.is_list()) ? &l : (r.is_string() || r.is_list()) ? &r : nullptr;
      const Value* cnt = seq == &l ? &r : &l;
      if (seq && (cnt->is_int() || cnt->is_bool())) {
        std::int64_t k = cnt->as_int();
        const auto unit = static_cast<double>(seq->is_string() ? seq->str().size() : seq->items().size());
        if (k > 0 && unit * static_cast<double>(k) > 256.0 * 1024 * 1024) raise("repetition result too large");
        if (seq->is_string()) {
          std::string out;
          for (std::int64_t i = 0; i < k; ++i) out += seq->str();
          return Value(std::move(out));
        }
        List out;
        for (std::int64_t i = 0; i < k; ++i) out.insert(out.end(), seq->items().begin(), seq->items().end());
        return seq->is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
      }
    }
    return type_error();
  }

  static Value do_slice(const Value& obj, const Value& a, const Value& b, const Value& c) {
    if (obj.is_undefined()) raise_undefined(obj);
    if (obj.is_list()) {
      const auto& items = obj.items();
      List out;
      for (auto i : slice_indices(static_cast<std::int64_t>(items.size()), a, b, c)) out.push_back(items[static_cast<std::size_t>(i)]);
      return Value::list(std::move(out));
    }
    if (obj.is_string()) {
      std::u32string u = utf8_decode(obj.str()), out;
      for (auto i : slice_indices(static_cast<std::int64_t>(u.size()), a, b, c)) out += u[static_cast<std::size_t>(i)];
      return Value(utf8_encode(out));
    }
    raise(fmt::format("'{}' object is not subscriptable", obj.type_name()));
  }

  Value get_item(const Value& obj, const Value& key) {
    switch (obj.kind()) {
      case Kind::Undefined: raise_undefined(obj);
      case Kind::List:
        if (key.is_int() || key.is_bool()) {
          auto n = static_cast<std::int64_t>(obj.items().size());
          std::int64_t i = key.as_int();
          if (i < 0) i += n;
          if (i < 0 || i >= n) return Value::undefined(fmt::format("list object has no element {}", key.as_int()));
          return obj.items()[static_cast<std::size_t>(i)];
        }
        break;
      case Kind::String:
        if (key.is_int() || key.is_bool()) {
          std::u32string u = utf8_decode(obj.str());
          auto n = static_cast<std::int64_t>(u.size());
          std::int64_t i = key.as_int();
          if (i < 0) i += n;
          if (i < 0 || i >= n) return Value::undefined(fmt::format("str object has no element {}", key.as_int()));
          std::string s;
          utf8_append(s, u[static_cast<std::size_t>(i)]);
          return Value(std::move(s));
        }
        break;
      case Kind::Dict: {
        if (const Value* v = obj.dict_ref().find(key)) return *v;
        break;
      }
      case Kind::Namespace:
        if (key.is_string()) {
          if (const Value* v = obj.namespace_ref().find(key.str())) return *v;
        }
        break;
      default: break;
    }
    if (key.is_string()) {
      Value m = method(obj, key.str());
      if (!m.is_undefined()) return m;
    }
    return Value::undefined(fmt::format("'{}' has no item {}", obj.is_dict() ? "dict object" : obj.type_name(), key.repr()));
  }

  Value get_attr(const Value& obj, const std::string& name) {
    if (obj.is_undefined()) raise_undefined(obj);
    Value m = method(obj, name);
    if (!m.is_undefined()) return m;
    if (obj.is_dict()) {
      if (const Value* v = obj.dict_ref().find(name)) return *v;
    } else if (obj.is_namespace()) {
      if (const Value* v = obj.namespace_ref().find(name)) return *v;
    }
    return undefined_attr(obj, name);
  }

  // ---- methods (bound on attribute access) ----
  static Value bound(const std::string& name, std::function<Value(const CallArgs&)> fn) {
    return Value::function(name, [fn = std::move(fn)](Renderer&, const CallArgs& a) { return fn(a); });
  }

  static const Value* arg(const CallArgs& a, std::size_t i, const char* name) {
    if (i < a.pos.size()) return &a.pos[i];
    return a.kwarg(name);
  }

  static Value method(const Value& obj, const std::string& name) {
    if (obj.is_string()) return string_method(obj.str(), name);
    if (obj.is_dict()) {
      if (name == "items")
        return bound(name, [obj](const CallArgs&) {
          List l;
          for (const auto& [k, v] : obj.dict_ref().entries) l.push_back(Value::tuple({k, v}));
          return Value::list(std::move(l));
        });
      if (name == "keys")
        return bound(name, [obj](const CallArgs&) {
          List l;
          for (const auto& e : obj.dict_ref().entries) l.push_back(e.first);
          return Value::list(std::move(l));
        });
      if (name == "values")
        return bound(name, [obj](const CallArgs&) {
          List l;
          for (const auto& e : obj.dict_ref().entries) l.push_back(e.second);
          return Value::list(std::move(l));
        });
      if (name == "get")
        return bound(name, [obj](const CallArgs& a) {
          const Value* k = arg(a, 0, "key");
          if (!k) raise("get() expected at least 1 argument");
          if (const Value* v = obj.dict_ref().find(*k)) return *v;
          const Value* d = arg(a, 1, "default");
          return d ? *d : Value::none();
        });
    }
    return Value::undefined();
  }

  static Value string_method(const std::string& s, const std::string& name) {
    if (name == "split" || name == "rsplit") {
      bool rev = name == "rsplit";
      return bound(name, [s, rev](const CallArgs& a) {
        const Value* sep = arg(a, 0, "sep");
        const Value* mx = arg(a, 1, "maxsplit");
        std::int64_t maxsplit = mx ? to_int_arg(*mx, "maxsplit") : -1;
        if (!rev || maxsplit < 0) return make_list_of_strings(py_split(s, sep, maxsplit));
        // rsplit with a limit: split fully, then re-join the leading parts.
        auto parts = py_split(s, sep, -1);
        if (static_cast<std::int64_t>(parts.size()) <= maxsplit + 1) return make_list_of_strings(parts);
        std::string joiner = (sep && sep->is_string()) ? sep->str() : " ";
        std::size_t keep = parts.size() - static_cast<std::size_t>(maxsplit);
        std::string head;
        for (std::size_t i = 0; i < keep; ++i) head += (i ? joiner : "") + parts[i];
        std::vector<std::string> out{head};
        out.insert(out.end(), parts.begin() + static_cast<std::ptrdiff_t>(keep), parts.end());
        return make_list_of_strings(out);
      });
    }
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      bool l = name != "rstrip", r = name != "lstrip";
      return bound(name, [s, l, r](const CallArgs& a) { return Value(py_strip(s, arg(a, 0, "chars"), l, r)); });
    }
    if (name == "startswith" || name == "endswith") {
      bool start = name == "startswith";
      return bound(name, [s, start](const CallArgs& a) {
        const Value* p = arg(a, 0, "prefix");
        if (!p) raise("startswith/endswith expected an argument");
        List cands = p->is_list() ? p->items() : List{*p};
        for (const auto& c : cands) {
          if (!c.is_string()) raise("startswith/endswith argument must be str or a tuple of str");
          const std::string& x = c.str();
          if (x.size() > s.size()) continue;
          if (start ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0)
            return Value(true);
        }
        return Value(false);
      });
    }
    if (name == "replace")
      return bound(name, [s](const CallArgs& a) {
        const Value* o = arg(a, 0, "old");
        const Value* n = arg(a, 1, "new");
        const Value* c = arg(a, 2, "count");
        if (!o || !n || !o->is_string() || !n->is_string()) raise("replace() expects two strings");
        return Value(py_replace(s, o->str(), n->str(), c ? to_int_arg(*c, "count") : -1));
      });
    if (name == "upper") return bound(name, [s](const CallArgs&) { return Value(str_upper(s)); });
    if (name == "lower") return bound(name, [s](const CallArgs&) { return Value(str_lower(s)); });
    if (name == "title") return bound(name, [s](const CallArgs&) { return Value(py_title(s)); });
    if (name == "capitalize") return bound(name, [s](const CallArgs&) { return Value(py_capitalize(s)); });
    if (name == "find" || name == "rfind" || name == "count" || name == "index" || name == "rindex") {
      return bound(name, [s, name](const CallArgs& a) {
        const Value* sub = arg(a, 0, "sub");
        if (!sub || !sub->is_string()) raise(name + "() expects a string");
        const std::string& x = sub->str();
        if (name == "count") {
          if (x.empty()) return Value(static_cast<std::int64_t>(utf8_decode(s).size()) + 1);
          std::int64_t c = 0;
          for (std::size_t p = s.find(x); p != std::string::npos; p = s.find(x, p + x.size())) ++c;
          return Value(c);
        }
        std::size_t p = (name == "find" || name == "index") ? s.find(x) : s.rfind(x);
        if (p == std::string::npos) {
          if (name == "index" || name == "rindex") raise("substring not found");
          return Value(static_cast<std::int64_t>(-1));
        }
        return Value(static_cast<std::int64_t>(utf8_decode(s.substr(0, p)).size()));
      });
    }
    if (name == "join")
      return bound(name, [s](const CallArgs& a) {
        const Value* it = arg(a, 0, "iterable");
        if (!it) raise("join() expects an argument");
        std::string out;
        bool first = true;
        for (const auto& v : iterate(*it)) {
          if (!v.is_string()) raise(fmt::format("sequence item: expected str instance, {} found", v.type_name()));
          if (!first) out += s;
          first = false;
          out += v.str();
        }
        return Value(std::move(out));
      });
    if (name == "splitlines")
      return bound(name, [s](const CallArgs&) {
        std::vector<std::string> out;
        std::size_t start = 0;
        for (std::size_t i = 0; i < s.size(); ++i) {
          if (s[i] == '\n' || s[i] == '\r') {
            out.push_back(s.substr(start, i - start));
            if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
            start = i + 1;
          }
        }
        if (start < s.size()) out.push_back(s.substr(start));
        return make_list_of_strings(out);
      });
    if (name == "format") return bound(name, [s](const CallArgs& a) { return Value(py_format(s, a)); });
    if (name == "isdigit" || name == "isalpha" || name == "isspace" || name == "isalnum" || name == "islower" ||
        name == "isupper") {
      return bound(name, [s, name](const CallArgs&) {
        if (name == "islower") return Value(py_islower(s));
        if (name == "isupper") return Value(py_isupper(s));
        std::u32string u = utf8_decode(s);
        if (u.empty()) return Value(false);
        for (char32_t c : u) {
          bool digit = is_digit_cp(c), alpha = is_alpha_cp(c);
          if (name == "isdigit" && !digit) return Value(false);
          if (name == "isalpha" && !alpha) return Value(false);
          if (name == "isspace" && !is_py_space(c)) return Value(false);
          if (name == "isalnum" && !(alpha || digit)) return Value(false);
        }
        return Value(true);
      });
    }
    return Value::undefined();
  }

  // ---- globals ----
  Value builtin(const std::string& name) {
    if (name == "raise_exception")
      return Value::function(name, [](Renderer&, const CallArgs& a) -> Value {
        throw Error("template raised an exception: " + (a.pos.empty() ? std::string() : a.pos[0].to_str()));
      });
    if (name == "range")
      return Value::function(name, [](Renderer&, const CallArgs& a) {
        std::int64_t start = 0, stop = 0, step = 1;
        if (a.pos.size() == 1) {
          stop = to_int_arg(a.pos[0], "range");
        } else if (a.pos.size() >= 2) {
          start = to_int_arg(a.pos[0], "range");
          stop = to_int_arg(a.pos[1], "range");
          if (a.pos.size() >= 3) step = to_int_arg(a.pos[2], "range");
        } else {
          raise("range expected at least 1 argument");
        }
        if (step == 0) raise("range() arg 3 must not be zero");
        List l;
        for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
          l.emplace_back(i);
          if (l.size() > 1'000'000) raise("range too big");
        }
        return Value::list(std::move(l));
      });
    if (name == "namespace" || name == "dict") {
      bool ns = name == "namespace";
      return Value::function(name, [ns](Renderer&, const CallArgs& a) {
        Dict d;
        for (const auto& p : a.pos) {
          if (!p.is_dict()) raise(fmt::format("{}() positional argument must be a dict", ns ? "namespace" : "dict"));
          for (const auto& [k, v] : p.dict_ref().entries) d.set(k, v);
        }
        for (const auto& [k, v] : a.kw) d.set(Value(k), v);
        return ns ? Value::namespace_(std::move(d)) : Value::dict(std::move(d));
      });
    }
    if (name == "strftime_now")
      return Value::function(name, [](Renderer&, const CallArgs& a) {
        if (a.pos.empty() || !a.pos[0].is_string()) raise("strftime_now expects a format string");
        std::time_t t = std::time(nullptr);
        std::tm tm{};
        localtime_r(&t, &tm);
        char buf[256];
        std::size_t n = std::strftime(buf, sizeof buf, a.pos[0].str().c_str(), &tm);
        return Value(std::string(buf, n));
      });
    return Value::undefined();
  }

  // ---- filters ----
  Value attr_path(const Value& v, const std::string& path) {
    Value cur = v;
    std::size_t start = 0;
    while (true) {
      std::size_t dot = path.find('.', start);
      std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
      cur = numeric ? get_item(cur, Value(static_cast<std::int64_t>(std::stoll(part)))) : get_item(cur, Value(part));
      if (dot == std::string::npos) return cur;
      if (cur.is_undefined()) return cur;
      start = dot + 1;
    }
  }

  Value apply_filter(const std::string& name, const Value& v, const CallArgs& a) {
    auto str_of = [](const Value& x) { return x.to_str(); };
    if (name == "trim") return Value(py_strip(str_of(v), arg(a, 0, "chars"), true, true));
    if (name == "tojson") {
      JsonOptions o;
      if (const Value* ind = arg(a, 0, "indent"); ind && !ind->is_none()) {
        if (ind->is_string()) {
          o.indent_is_string = true;
          o.indent_str = ind->str();
        } else {
          o.indent = static_cast<int>(to_int_arg(*ind, "indent"));
          if (o.indent < 0) o.indent = 0;
        }
      }
      if (const Value* ea = a.kwarg("ensure_ascii")) o.ensure_ascii = ea->truthy();
      if (const Value* sk = a.kwarg("sort_keys")) o.sort_keys = sk->truthy();
      if (const Value* sep = a.kwarg("separators"); sep && !sep->is_none()) {
        if (!sep->is_list() || sep->items().size() != 2) raise("tojson: separators must be a pair");
        o.custom_separators = true;
        o.item_sep = sep->items()[0].to_str();
        o.key_sep = sep->items()[1].to_str();
      }
      if (v.is_undefined()) raise_undefined(v);
      return Value(to_json(v, o));
    }
    if (name == "length" || name == "count") return Value(py_len(v));
    if (name == "lower") return Value(str_lower(str_of(v)));
    if (name == "upper") return Value(str_upper(str_of(v)));
    if (name == "capitalize") return Value(py_capitalize(str_of(v)));
    if (name == "title") return Value(jinja_title(str_of(v)));
    if (name == "string") return Value(str_of(v));
    if (name == "safe" || name == "forceescape") return v;
    if (name == "escape" || name == "e") return Value(html_escape(str_of(v)));
    if (name == "first" || name == "last") {
      List items = iterate(v);
      if (items.empty()) return Value::undefined(fmt::format("No {} item, sequence was empty.", name));
      return name == "first" ? items.front() : items.back();
    }
    if (name == "join") {
      const Value* d = arg(a, 0, "d");
      const Value* attr = arg(a, 1, "attribute");
      std::string sep = d ? d->to_str() : "";
      std::string out;
      bool first = true;
      for (const auto& x : iterate(v)) {
        if (!first) out += sep;
        first = false;
        out += (attr && !attr->is_none() ? attr_path(x, attr->to_str()) : x).to_str();
      }
      return Value(std::move(out));
    }
    if (name == "default" || name == "d") {
      const Value* dv = arg(a, 0, "default_value");
      const Value* boolean = arg(a, 1, "boolean");
      bool use = v.is_undefined() || (boolean && boolean->truthy() && !v.truthy());
      return use ? (dv ? *dv : Value("")) : v;
    }
    if (name == "replace") {
      const Value* o = arg(a, 0, "old");
      const Value* n = arg(a, 1, "new");
      const Value* c = arg(a, 2, "count");
      if (!o || !n) raise("replace filter expects two arguments");
      return Value(py_replace(str_of(v), o->to_str(), n->to_str(), c && !c->is_none() ? to_int_arg(*c, "count") : -1));
    }
    if (name == "int") {
      const Value* dv = arg(a, 0, "default");
      Value dflt = dv ? *dv : Value(static_cast<std::int64_t>(0));
      if (v.is_undefined()) raise_undefined(v);
      if (v.is_int() || v.is_bool()) return Value(v.as_int());
      if (v.kind() == Kind::Float) return Value(static_cast<std::int64_t>(v.as_double()));
      if (v.is_string()) {
        std::string s = py_strip(v.str(), nullptr, true, true);
        try {
          std::size_t pos = 0;
          long long x = std::stoll(s, &pos, 10);
          if (pos == s.size()) return Value(static_cast<std::int64_t>(x));
          double d = std::stod(s, &pos);
          if (pos == s.size()) return Value(static_cast<std::int64_t>(d));
        } catch (const std::exception&) {
        }
      }
      return dflt;
    }
    if (name == "float") {
      const Value* dv = arg(a, 0, "default");
      Value dflt = dv ? *dv : Value(0.0);
      if (v.is_undefined()) raise_undefined(v);
      if (v.is_number()) return Value(v.as_double());
      if (v.is_string()) {
        try {
          std::size_t pos = 0;
          std::string s = py_strip(v.str(), nullptr, true, true);
          double d = std::stod(s, &pos);
          if (pos == s.size()) return Value(d);
        } catch (const std::exception&) {
        }
      }
      return dflt;
    }
    if (name == "abs") {
      if (v.kind() == Kind::Float) return Value(std::fabs(v.as_double()));
      if (v.is_number()) return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
      raise(fmt::format("bad operand type for abs(): '{}'", v.type_name()));
    }
    if (name == "round") {
      const Value* p = arg(a, 0, "precision");
      const Value* m = arg(a, 1, "method");
      std::int64_t prec = p ? to_int_arg(*p, "precision") : 0;
      std::string method = m ? m->to_str() : "common";
      if (v.is_undefined()) raise_undefined(v);
      if (!v.is_number()) raise(fmt::format("type {} doesn't define __round__ method", v.type_name()));
      if (method == "common" && v.kind() != Kind::Float) return Value(v.as_int());  // round(int, n) is an int
      double x = v.as_double(), scale = std::pow(10.0, static_cast<double>(prec));
      double r = method == "ceil" ? std::ceil(x * scale) / scale
                 : method == "floor" ? std::floor(x * scale) / scale
                                     : std::nearbyint(x * scale) / scale;
      return Value(r);
    }
    if (name == "list") return Value::list(iterate(v));
    if (name == "items") {
      if (v.is_undefined()) return Value::list({});
      if (!v.is_dict()) raise(fmt::format("items filter: expected a mapping, got {}", v.type_name()));
      List l;
      for (const auto& [k, x] : v.dict_ref().entries) l.push_back(Value::tuple({k, x}));
      return Value::list(std::move(l));
    }
    if (name == "reverse") {
      if (v.is_string()) {
        std::u32string u = utf8_decode(v.str());
        std::reverse(u.begin(), u.end());
        return Value(utf8_encode(u));
      }
      List l = iterate(v);
      std::reverse(l.begin(), l.end());
      return Value::list(std::move(l));
    }
    if (name == "unique") {
      List out;
      for (const auto& x : iterate(v)) {
        bool seen = false;
        for (const auto& y : out) {
          if (x.is_string() && y.is_string() ? str_lower(x.str()) == str_lower(y.str()) : values_equal(x, y)) seen = true;
        }
        if (!seen) out.push_back(x);
      }
      return Value::list(std::move(out));
    }
    if (name == "sort" || name == "min" || name == "max") {
      bool is_sort = name == "sort";
      const Value* rev = is_sort ? arg(a, 0, "reverse") : nullptr;
      const Value* cs = arg(a, is_sort ? 1 : 0, "case_sensitive");
      const Value* at = arg(a, is_sort ? 2 : 1, "attribute");
      bool case_sensitive = cs && cs->truthy();
      auto key = [&](const Value& x) {
        Value k = at && !at->is_none() ? attr_path(x, at->to_str()) : x;
        if (!case_sensitive && k.is_string()) return Value(str_lower(k.str()));
        return k;
      };
      List l = iterate(v);
      if (!is_sort) {
        if (l.empty()) return Value::undefined("No aggregated item, sequence was empty.");
        std::size_t best = 0;
        for (std::size_t i = 1; i < l.size(); ++i) {
          int c = compare_values(key(l[i]), key(l[best]));
          if (name == "min" ? c < 0 : c > 0) best = i;
        }
        return l[best];
      }
      bool reverse = rev && rev->truthy();
      std::stable_sort(l.begin(), l.end(), [&](const Value& x, const Value& y) {
        int c = compare_values(key(x), key(y));
        return reverse ? c > 0 : c < 0;
      });
      return Value::list(std::move(l));
    }
    if (name == "sum") {
      const Value* at = arg(a, 0, "attribute");
      const Value* st = arg(a, 1, "start");
      Value total = st ? *st : Value(static_cast<std::int64_t>(0));
      for (const auto& x : iterate(v)) total = binary("+", total, at && !at->is_none() ? attr_path(x, at->to_str()) : x);
      return total;
    }
    if (name == "attr") {
      const Value* n = arg(a, 0, "name");
      if (!n) raise("attr filter expects a name");
      return get_attr(v, n->to_str());
    }
    if (name == "indent") {
      const Value* w = arg(a, 0, "width");
      const Value* first = arg(a, 1, "first");
      const Value* blank = arg(a, 2, "blank");
      std::int64_t wn = w && !w->is_string() ? to_int_arg(*w, "width") : 4;
      if (wn < 0 || wn > (1 << 20)) raise("indent width out of range");
      std::string pad = w && w->is_string() ? w->str() : std::string(static_cast<std::size_t>(wn), ' ');
      std::string s = str_of(v), out;
      std::vector<std::string> lines;
      std::size_t start = 0;
      for (std::size_t i = 0; i <= s.size(); ++i)
        if (i == s.size() || s[i] == '\n') {
          lines.push_back(s.substr(start, i - start));
          start = i + 1;
        }
      bool trailing_nl = !s.empty() && s.back() == '\n';
      if (trailing_nl) lines.pop_back();
      for (std::size_t i = 0; i < lines.size(); ++i) {
        if (i) out += '\n';
        bool do_pad = (i > 0 || (first && first->truthy())) && (!lines[i].empty() || (blank && blank->truthy()));
        if (do_pad) out += pad;
        out += lines[i];
      }
      if (trailing_nl) out += '\n';
      return Value(std::move(out));
    }
    if (name == "wordcount") {  // len(re.findall(r"\w+", s))
      std::int64_t words = 0;
      bool in_word = false;
      for (char32_t c : utf8_decode(str_of(v))) {
        auto k = cp_cat(c);
        bool w = c == '_' || is_alpha_cp(c) || k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL ||
                 k == UTF8PROC_CATEGORY_NO || k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC;
        if (w && !in_word) ++words;
        in_word = w;
      }
      return Value(words);
    }
    if (name == "format") {
      if (!a.kw.empty()) raise("format filter: keyword arguments are not supported");
      return Value(py_percent_format(str_of(v), Value::tuple(a.pos)));
    }
    if (name == "dictsort") {
      if (!v.is_dict()) raise("dictsort: expected a mapping");
      const Value* cs = arg(a, 0, "case_sensitive");
      const Value* by = arg(a, 1, "by");
      const Value* rev = arg(a, 2, "reverse");
      bool case_sensitive = cs && cs->truthy(), by_value = by && by->to_str() == "value", reverse = rev && rev->truthy();
      List l;
      for (const auto& [k, x] : v.dict_ref().entries) l.push_back(Value::tuple({k, x}));
      auto key = [&](const Value& item) {
        Value k = item.items()[by_value ? 1 : 0];
        return (!case_sensitive && k.is_string()) ? Value(str_lower(k.str())) : k;
      };
      std::stable_sort(l.begin(), l.end(), [&](const Value& x, const Value& y) {
        int c = compare_values(key(x), key(y));
        return reverse ? c > 0 : c < 0;
      });
      return Value::list(std::move(l));
    }
    if (name == "map") {
      List out;
      if (!v.truthy()) return Value::list({});  // jinja2 maps nothing over a falsy value
      const Value* at = a.kwarg("attribute");
      if (at) {
        const Value* dflt = a.kwarg("default");
        for (const auto& x : iterate(v)) {
          Value r = attr_path(x, at->to_str());
          out.push_back(r.is_undefined() && dflt ? *dflt : r);
        }
        return Value::list(std::move(out));
      }
      if (a.pos.empty()) raise("map filter expects a filter name or attribute=");
      std::string fname = a.pos[0].to_str();
      CallArgs rest;
      rest.pos.assign(a.pos.begin() + 1, a.pos.end());
      rest.kw = a.kw;
      for (const auto& x : iterate(v)) out.push_back(apply_filter(fname, x, rest));
      return Value::list(std::move(out));
    }
    if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
      bool by_attr = name == "selectattr" || name == "rejectattr";
      bool keep_if = name == "select" || name == "selectattr";
      std::size_t i = 0;
      std::string attr;
      if (by_attr) {
        if (a.pos.empty()) raise(name + " expects an attribute name");
        attr = a.pos[0].to_str();
        i = 1;
      }
      std::string test = i < a.pos.size() ? a.pos[i].to_str() : "";
      if (!v.truthy()) return Value::list({});  // jinja2 selects nothing from a falsy value
      CallArgs targs;
      if (i + 1 < a.pos.size()) targs.pos.assign(a.pos.begin() + static_cast<std::ptrdiff_t>(i) + 1, a.pos.end());
      List out;
      for (const auto& x : iterate(v)) {
        Value subject = by_attr ? attr_path(x, attr) : x;
        bool r = test.empty() ? subject.truthy() : apply_test(test, subject, targs);
        if (r == keep_if) out.push_back(x);
      }
      return Value::list(std::move(out));
    }
    if (name == "batch") {
      const Value* n = arg(a, 0, "linecount");
      if (!n) raise("batch expects a size");
      std::int64_t k = to_int_arg(*n, "linecount");
      if (k <= 0) raise("batch size must be positive");
      List out, cur;
      for (const auto& x : iterate(v)) {
        cur.push_back(x);
        if (static_cast<std::int64_t>(cur.size()) == k) {
          out.push_back(Value::list(std::move(cur)));
          cur.clear();
        }
      }
      if (!cur.empty()) out.push_back(Value::list(std::move(cur)));
      return Value::list(std::move(out));
    }
    if (name == "center") {
      const Value* w = arg(a, 0, "width");
      std::int64_t width = w ? to_int_arg(*w, "width") : 80;
      if (width > (1 << 20)) raise("center width too large");
      std::string s = str_of(v);
      auto len = static_cast<std::int64_t>(utf8_decode(s).size());
      if (len >= width) return Value(s);
      std::int64_t total = width - len, left = total / 2 + (total & width & 1);
      return Value(std::string(static_cast<std::size_t>(left), ' ') + s + std::string(static_cast<std::size_t>(total - left), ' '));
    }
    raise(fmt::format("no filter named '{}'", name));
  }

  // ---- tests ----
  bool apply_test(const std::string& name, const Value& v, const CallArgs& a) {
    const Value* o = arg(a, 0, "other");
    auto need = [&]() -> const Value& {
      if (!o) raise(fmt::format("test '{}' expects an argument", name));
      return *o;
    };
    if (name == "defined") return !v.is_undefined();
    if (name == "undefined") return v.is_undefined();
    if (name == "none") return v.is_none();
    if (name == "string") return v.is_string();
    if (name == "number") return v.is_number();
    if (name == "integer") return v.is_int();
    if (name == "float") return v.kind() == Kind::Float;
    if (name == "boolean") return v.is_bool();
    if (name == "true") return v.is_bool() && v.as_bool();
    if (name == "false") return v.is_bool() && !v.as_bool();
    if (name == "mapping") return v.is_dict();
    if (name == "iterable") return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
    if (name == "sequence") return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
    if (name == "callable") return v.is_function();
    if (name == "odd" || name == "even" || name == "divisibleby") {
      if (v.is_undefined()) raise_undefined(v);
      Value d = name == "divisibleby" ? need() : Value(static_cast<std::int64_t>(2));
      Value m = binary("%", v, d);
      return name == "odd" ? values_equal(m, Value(1)) : values_equal(m, Value(0));
    }
    if (name == "lower") return py_islower(v.to_str());
    if (name == "upper") return py_isupper(v.to_str());
    if (name == "sameas") {
      const Value& x = need();
      if (v.kind() != x.kind()) return false;
      if (v.is_none() || v.is_undefined()) return true;
      if (v.is_bool()) return v.as_bool() == x.as_bool();
      return values_equal(v, x) && (v.is_int() || v.is_string());
    }
    if (name == "eq" || name == "equalto" || name == "==") return values_equal(v, need());
    if (name == "ne" || name == "!=") return !values_equal(v, need());
    if (name == "lt" || name == "lessthan" || name == "<") return compare_op("<", v, need());
    if (name == "le" || name == "<=") return compare_op("<=", v, need());
    if (name == "gt" || name == "greaterthan" || name == ">") return compare_op(">", v, need());
    if (name == "ge" || name == ">=") return compare_op(">=", v, need());
    if (name == "in") return contains(need(), v);
    if (name == "filter") return false;
    raise(fmt::format("no test named '{}'", name));
  }

  const Program& prog_;
  int macro_depth_ = 0;
  FramePtr ctx_;  // the caller's variables; the template's top level is a child frame of it
  FramePtr cur_;
  std::string* out_ = nullptr;
};

std::string render_program(const Program& program, const Dict& globals) {
  Renderer r(program, globals);
  try {
    return r.run();
  } catch (const LocatedError& e) {
    throw Error(e.what());
  }
}

}  // namespace reval::jinja
