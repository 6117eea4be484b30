// Jinja subset used by Hugging Face chat templates (internal to model/chat).
//
// Theory of operation
// -------------------
// Source text is lexed (jinja_parse.cpp) into data and tag tokens with Jinja2's whitespace rules as Hugging Face
// configures them in apply_chat_template: trim_blocks=True (the first newline after a block/comment tag is
// dropped), lstrip_blocks=True (spaces/tabs before a block/comment tag at the start of a line are dropped),
// keep_trailing_newline=False (one final newline of the template is dropped), plus explicit `-`/`+` markers.
// A recursive-descent parser builds an immutable AST (Expr/Stmt below) following jinja2/parser.py precedence
// (filters and tests bind tighter than arithmetic; `not x is y` is `not (x is y)`).
// The evaluator (jinja_eval.cpp) walks the AST over `Value`s: Python-like dynamic values (Jinja2 default
// Undefined, None, bool, int64, double, UTF-8 string, list, ordered dict, namespace, callable). Printing uses
// Python str()/repr() rules; string length/indexing/slicing count code points as Python does. Lists and dicts
// are immutable once built (the HF environment is an ImmutableSandboxedEnvironment); only namespaces mutate.
// Scoping follows Jinja2: `for` bodies, macros and block bodies get their own frame, `if` does not; and like
// Jinja2's compiler, a name assigned in a scope before any read there (and unknown to enclosing scopes) starts
// out undefined in that scope even if the caller passed a variable of that name.
//
// Verified against Python jinja2 3.1.6 (HF settings) with the shared goldens, tests/model/chat/jinja_reference_cases.json
// and randomized differential runs of expressions, whitespace control, scoping and the real HF templates.
// Known differences: ints are int64 (overflow turns into float where Python would grow the int); case mapping
// uses utf8proc's simple mappings plus the common multi-character uppercasings (ß -> SS, ligatures);
// not supported: recursive loops (`loop(...)`), loop.changed, include/extends/import/blocks/with, *args/**kwargs
// call syntax, dict methods other than items/keys/values/get, the sandbox's refusal of list.append and friends
// (they are simply absent), jinja2's folding of a negative literal base in `-3 ** x`.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/utf8.hpp"

namespace reval::jinja {

class Value;
class Renderer;
using List = std::vector<Value>;
struct Dict;

struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  const Value* kwarg(const std::string& name) const;
};

struct Function {
  std::string name;
  std::function<Value(Renderer&, const CallArgs&)> fn;
};

enum class Kind : std::uint8_t { Undefined, None, Bool, Int, Float, String, List, Dict, Namespace, Function };

class Value {
 public:
  Value() = default;  // Undefined
  static Value undefined(std::string hint = {}) {
    Value v;
    v.str_ = std::move(hint);
    return v;
  }
  static Value none() { return make(Kind::None); }
  Value(bool b) : kind_(Kind::Bool), int_(b ? 1 : 0) {}                  // NOLINT
  Value(std::int64_t i) : kind_(Kind::Int), int_(i) {}                   // NOLINT
  Value(int i) : kind_(Kind::Int), int_(i) {}                            // NOLINT
  Value(double d) : kind_(Kind::Float), float_(d) {}                     // NOLINT
  Value(std::string s) : kind_(Kind::String), str_(std::move(s)) {}      // NOLINT
  Value(const char* s) : kind_(Kind::String), str_(s) {}                 // NOLINT
  static Value list(List items);
  static Value tuple(List items);  // a list that prints as (a, b) and differs from lists in ==
  static Value dict(Dict d);
  static Value namespace_(Dict d);
  static Value function(std::string name, std::function<Value(Renderer&, const CallArgs&)> fn);
  static Value from_json(const nlohmann::json& j);
  static Value from_json(const nlohmann::ordered_json& j);  // keeps object key order (Python dict order)

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool; }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_tuple() const { return kind_ == Kind::List && tuple_; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_namespace() const { return kind_ == Kind::Namespace; }
  bool is_function() const { return kind_ == Kind::Function; }

  bool as_bool() const { return int_ != 0; }
  std::int64_t as_int() const { return int_; }   // Int and Bool
  double as_double() const { return kind_ == Kind::Float ? float_ : static_cast<double>(int_); }
  const std::string& str() const { return str_; }  // String (or the Undefined's name hint)
  const List& items() const { return *list_; }
  const Dict& dict_ref() const { return *dict_; }
  Dict& namespace_ref() const { return *dict_; }  // namespaces are the one mutable value
  const Function& function_ref() const { return *fn_; }

  bool truthy() const;
  std::string to_str() const;    // Python str()
  std::string repr() const;      // Python repr()
  const char* type_name() const;

 private:
  static Value make(Kind k) {
    Value v;
    v.kind_ = k;
    return v;
  }
  Kind kind_ = Kind::Undefined;
  bool tuple_ = false;
  std::int64_t int_ = 0;
  double float_ = 0;
  std::string str_;
  std::shared_ptr<const List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<const Function> fn_;
};

// Insertion-ordered mapping (Python dict); small, so lookups are linear.
struct Dict {
  std::vector<std::pair<Value, Value>> entries;
  const Value* find(const Value& key) const;
  const Value* find(const std::string& key) const;
  void set(const Value& key, Value value);
};

bool values_equal(const Value& a, const Value& b);
// Python-style ordering; throws reval::Error for unorderable types.
int compare_values(const Value& a, const Value& b);

struct JsonOptions {
  int indent = -1;             // < 0: compact; otherwise json.dumps(indent=N)
  std::string indent_str;      // json.dumps(indent="...") when set
  bool indent_is_string = false;
  bool sort_keys = false;
  bool ensure_ascii = false;   // HF's tojson defaults to ensure_ascii=False
  std::string item_sep;        // empty: Python default (", " or "," with indent)
  std::string key_sep;         // empty: ": "
  bool custom_separators = false;
};
// json.dumps; throws reval::Error for values JSON can't hold (Undefined, functions).
std::string to_json(const Value& v, const JsonOptions& opt = {});
std::string python_float_repr(double d);

// UTF-8 <-> code points (invalid bytes decode as U+FFFD).
std::u32string utf8_decode(const std::string& s);
std::string utf8_encode(const std::u32string& s);

// ---- AST ----------------------------------------------------------------------------------------------------

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind {
  Literal, Name, ListLit, TupleLit, DictLit, Attr, Index, Slice, Call, Filter, Test,
  Not, Neg, Pos, Binary, And, Or, Compare, Cond, Concat
};

struct Expr {
  ExprKind kind;
  int line = 0, col = 0;
  Value literal;                    // Literal
  std::string name;                 // Name, Attr, Filter, Test, Binary operator
  std::vector<ExprPtr> args;        // operands / positional arguments (nullptr allowed for Slice/Cond parts)
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;     // Compare operators
  bool negated = false;             // Test: `is not`
};

enum class StmtKind { Text, Output, If, For, Set, SetBlock, Macro, Break, Continue, Block, CallBlock, FilterBlock };

struct Stmt {
  StmtKind kind;
  int line = 0, col = 0;
  std::string text;                                     // Text; Macro name; Set attribute name (ns.attr)
  ExprPtr expr;                                         // Output, For iterable, Set value, CallBlock call
  ExprPtr filter;                                       // For `if` filter; FilterBlock filter chain (operand = Name "")
  std::vector<std::string> targets;                     // For/Set target names; Macro/caller parameter names
  std::vector<ExprPtr> defaults;                        // Macro parameter defaults (nullptr when none)
  std::vector<std::pair<ExprPtr, Body>> branches;       // If: (condition, body) pairs
  Body body;                                            // For/SetBlock/Macro/Block/CallBlock body
  Body else_body;                                       // For else / If else
  bool recursive = false;
  // Names Jinja2's compile-time scoping makes undefined on entry to this statement's body scope (For body,
  // Macro/CallBlock/SetBlock/FilterBlock/Block body) and For else scope: stored there before any load and
  // unknown to enclosing scopes (see analyze_scopes in jinja_parse.cpp).
  std::vector<std::string> body_decls, else_decls;
};

struct Program {
  std::string origin;
  Body body;
  std::vector<std::string> decls;  // as Stmt::body_decls, for the template's top level
};

// Parses with HF whitespace settings; throws reval::Error "origin:line:col: message" on syntax errors.
std::shared_ptr<const Program> parse_template(const std::string& source, const std::string& origin);

// Renders `program` with the given top-level variables (a Dict). Throws reval::Error on runtime errors.
std::string render_program(const Program& program, const Dict& globals);

}  // namespace reval::jinja
