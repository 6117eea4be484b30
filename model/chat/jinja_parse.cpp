// Jinja lexer and parser: template text -> Program (AST in jinja.hpp).
//
// Theory of operation
// -------------------
// 1. Newlines are normalized the way jinja2's lexer does: "\r\n" and "\r" become "\n", and one trailing newline
//    disappears (keep_trailing_newline=False).
// 2. The lexer alternates between data and tags. Before a tag it applies `{%-` (strip all whitespace before) or,
//    for block/comment tags without `+`, lstrip_blocks (drop spaces/tabs between the line start and the tag when
//    nothing else is on that line before it). After a tag it applies `-%}` (skip all following whitespace) or,
//    for block/comment tags without `+`, trim_blocks (skip one "\n"). `{% raw %}` bodies are copied verbatim.
//    Inside tags it produces name/string/number/operator tokens; an end marker only counts outside brackets.
// 3. The parser is recursive descent mirroring jinja2/parser.py: condexpr > or > and > not > compare > +,- > ~ >
//    *,/,//,% > ** > unary > primary+postfix (attribute, subscript/slice, call) > filters/tests.
// 4. A scope analysis pass mirrors jinja2's compile-time symbol tracking (idtracking.py) to find, per scope, the
//    names that start out undefined there (assigned before being read, unknown to enclosing scopes).
// Errors carry "origin:line:col".
#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include <fmt/format.h>

#include "model/chat/jinja.hpp"
#include "base/error.hpp"

namespace reval::jinja {
namespace {

enum class Tok { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };

struct Token {
  Tok type;
  std::string text;  // Data text, name, decoded string, operator
  std::int64_t ival = 0;
  double fval = 0;
  std::size_t pos = 0;
};

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// jinja2: "\n".join(newline_re.split(source)[::2]) with newline_re = \r\n|\r|\n, dropping one trailing newline.
std::string normalize_newlines(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
      out += '\n';
    } else {
      out += s[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  Lexer(const std::string& src, const std::string& origin) : src_(src), origin_(origin) {
    line_starts_.push_back(0);
    for (std::size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::pair<int, int> line_col(std::size_t pos) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), pos);
    std::size_t idx = static_cast<std::size_t>(it - line_starts_.begin()) - 1;
    return {static_cast<int>(idx + 1), static_cast<int>(pos - line_starts_[idx] + 1)};
  }

  [[noreturn]] void fail(std::size_t pos, const std::string& msg) const {
    auto [l, c] = line_col(pos);
    throw Error(fmt::format("{}:{}:{}: template syntax error: {}", origin_, l, c, msg));
  }

  std::vector<Token> run() {
    std::size_t pos = 0;
    bool line_starting = true;
    const std::size_t n = src_.size();
    while (pos < n) {
      std::size_t tag = find_tag(pos);
      std::string text = src_.substr(pos, (tag == std::string::npos ? n : tag) - pos);
      if (tag == std::string::npos) {
        emit_data(text, pos);
        break;
      }
      char type = src_[tag + 1];  // '{', '%', '#'
      char mod = tag + 2 < n ? src_[tag + 2] : '\0';
      if (mod == '-') {
        std::size_t e = text.size();
        while (e > 0 && is_ws(text[e - 1])) --e;
        text.resize(e);
      } else if (type != '{' && mod != '+') {
        std::size_t l = text.rfind('\n');
        l = (l == std::string::npos) ? 0 : l + 1;
        if (l > 0 || line_starting) {
          bool all_ws = l < text.size();
          for (std::size_t i = l; i < text.size(); ++i)
            if (!is_ws(text[i])) all_ws = false;
          if (all_ws) text.resize(l);
        }
      }
      emit_data(text, pos);
      std::size_t p = tag + 2 + ((mod == '-' || mod == '+') ? 1 : 0);
      if (type == '#') {
        pos = lex_comment(tag, p, line_starting);
      } else if (type == '%' && is_raw_start(p)) {
        pos = lex_raw(tag, p, line_starting);
      } else {
        pos = lex_tag(tag, p, type == '{', line_starting);
      }
    }
    tokens_.push_back(Token{Tok::Eof, "", 0, 0, n});
    return std::move(tokens_);
  }

 private:
  std::size_t find_tag(std::size_t from) const {
    std::size_t p = from;
    while ((p = src_.find('{', p)) != std::string::npos) {
      if (p + 1 < src_.size() && (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#')) return p;
      ++p;
    }
    return std::string::npos;
  }

  void emit_data(const std::string& text, std::size_t pos) {
    if (!text.empty()) tokens_.push_back(Token{Tok::Data, text, 0, 0, pos});
  }

  // After a block/comment end marker at `p` (just past "%}"/"#}"): apply trim_blocks unless `plus`.
  std::size_t after_block_end(std::size_t p, bool minus, bool plus, bool block_like, bool& line_starting) {
    if (minus) {
      std::size_t q = p;
      while (q < src_.size() && is_ws(src_[q])) ++q;
      line_starting = q > p ? src_[q - 1] == '\n' : false;
      return q;
    }
    if (block_like && !plus && p < src_.size() && src_[p] == '\n') {
      line_starting = true;
      return p + 1;
    }
    line_starting = false;
    return p;
  }

  std::size_t lex_comment(std::size_t tag, std::size_t p, bool& line_starting) {
    std::size_t e = src_.find("#}", p);
    if (e == std::string::npos) fail(tag, "missing end of comment tag");
    bool minus = e > p && src_[e - 1] == '-';
    bool plus = e > p && src_[e - 1] == '+';
    return after_block_end(e + 2, minus, plus, true, line_starting);
  }

  bool word_at(std::size_t& p, const char* word) const {
    std::size_t q = p;
    while (q < src_.size() && is_ws(src_[q])) ++q;
    std::size_t len = std::strlen(word);
    if (src_.compare(q, len, word) != 0) return false;
    if (q + len < src_.size() && (is_name_start(src_[q + len]) || is_digit(src_[q + len]))) return false;
    p = q + len;
    return true;
  }

  bool is_raw_start(std::size_t p) const {
    std::size_t q = p;
    if (!word_at(q, "raw")) return false;
    while (q < src_.size() && is_ws(src_[q])) ++q;
    return src_.compare(q, 2, "%}") == 0 || src_.compare(q, 3, "-%}") == 0;
  }

  std::size_t lex_raw(std::size_t tag, std::size_t p, bool& line_starting) {
    std::size_t q = p;
    word_at(q, "raw");
    while (is_ws(src_[q])) ++q;
    bool minus_open = src_[q] == '-';
    q += minus_open ? 3 : 2;
    if (minus_open)
      while (q < src_.size() && is_ws(src_[q])) ++q;
    std::size_t body_start = q;
    // find {% endraw %}
    std::size_t s = body_start;
    while (true) {
      s = src_.find("{%", s);
      if (s == std::string::npos) fail(tag, "missing {% endraw %}");
      std::size_t r = s + 2;
      bool minus_close = r < src_.size() && src_[r] == '-';
      if (r < src_.size() && (src_[r] == '-' || src_[r] == '+')) ++r;
      if (word_at(r, "endraw")) {
        while (r < src_.size() && is_ws(src_[r])) ++r;
        bool minus = src_.compare(r, 3, "-%}") == 0;
        bool plus = src_.compare(r, 3, "+%}") == 0;
        if (minus || plus || src_.compare(r, 2, "%}") == 0) {
          std::string body = src_.substr(body_start, s - body_start);
          if (minus_close) {
            std::size_t e = body.size();
            while (e > 0 && is_ws(body[e - 1])) --e;
            body.resize(e);
          }
          emit_data(body, body_start);
          return after_block_end(r + ((minus || plus) ? 3 : 2), minus, plus, true, line_starting);
        }
      }
      s += 2;
    }
  }

  std::size_t lex_tag(std::size_t tag, std::size_t p, bool is_var, bool& line_starting) {
    tokens_.push_back(Token{is_var ? Tok::VarBegin : Tok::BlockBegin, "", 0, 0, tag});
    std::vector<char> stack;
    const std::size_t n = src_.size();
    while (true) {
      while (p < n && is_ws(src_[p])) ++p;
      if (p >= n) fail(tag, is_var ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'");
      if (stack.empty()) {
        const char* close = is_var ? "}}" : "%}";
        if (src_.compare(p, 2, close) == 0) {
          tokens_.push_back(Token{is_var ? Tok::VarEnd : Tok::BlockEnd, "", 0, 0, p});
          return after_block_end(p + 2, false, false, !is_var, line_starting);
        }
        if ((src_[p] == '-' || (!is_var && src_[p] == '+')) && src_.compare(p + 1, 2, close) == 0) {
          tokens_.push_back(Token{is_var ? Tok::VarEnd : Tok::BlockEnd, "", 0, 0, p});
          return after_block_end(p + 3, src_[p] == '-', src_[p] == '+', !is_var, line_starting);
        }
      }
      char c = src_[p];
      if (is_name_start(c)) {
        std::size_t s = p;
        while (p < n && (is_name_start(src_[p]) || is_digit(src_[p]))) ++p;
        tokens_.push_back(Token{Tok::Name, src_.substr(s, p - s), 0, 0, s});
      } else if (is_digit(c)) {
        p = lex_number(p);
      } else if (c == '\'' || c == '"') {
        p = lex_string(p);
      } else {
        static const char* const two[] = {"//", "**", "==", "!=", "<=", ">="};
        std::string op;
        for (const char* t : two)
          if (src_.compare(p, 2, t) == 0) op = t;
        if (op.empty()) {
          if (std::strchr("+-*/%~<>()[]{},.:|=;", c) == nullptr)
            fail(p, fmt::format("unexpected char '{}'", c));
          op = std::string(1, c);
        }
        if (op == "(" || op == "[" || op == "{") {
          stack.push_back(op[0]);
        } else if (op == ")" || op == "]" || op == "}") {
          char want = op == ")" ? '(' : op == "]" ? '[' : '{';
          if (stack.empty() || stack.back() != want) fail(p, fmt::format("unexpected '{}'", op));
          stack.pop_back();
        }
        tokens_.push_back(Token{Tok::Op, op, 0, 0, p});
        p += op.size();
      }
    }
  }

  std::size_t lex_number(std::size_t p) {
    const std::size_t n = src_.size();
    std::size_t s = p;
    auto digits = [&] {
      while (p < n && (is_digit(src_[p]) || (src_[p] == '_' && p + 1 < n && is_digit(src_[p + 1])))) ++p;
    };
    digits();
    bool is_float = false;
    if (p + 1 < n && src_[p] == '.' && is_digit(src_[p + 1]) && !(s > 0 && src_[s - 1] == '.')) {
      ++p;
      digits();
      is_float = true;
    }
    if (p < n && (src_[p] == 'e' || src_[p] == 'E') && !(s > 0 && src_[s - 1] == '.')) {
      std::size_t q = p + 1;
      if (q < n && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < n && is_digit(src_[q])) {
        p = q;
        digits();
        is_float = true;
      }
    }
    std::string text;
    for (std::size_t i = s; i < p; ++i)
      if (src_[i] != '_') text += src_[i];
    Token t{is_float ? Tok::Float : Tok::Int, text, 0, 0, s};
    try {
      if (is_float)
        t.fval = std::stod(text);
      else
        t.ival = std::stoll(text);
    } catch (const std::exception&) {
      fail(s, "number out of range: " + text);
    }
    tokens_.push_back(t);
    return p;
  }

  static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // Python unicode-escape decoding of a Jinja string literal.
  std::size_t lex_string(std::size_t p) {
    const std::size_t n = src_.size();
    char q = src_[p];
    std::size_t s = p++;
    std::string out;
    while (true) {
      if (p >= n) fail(s, "unterminated string");
      char c = src_[p];
      if (c == q) {
        ++p;
        break;
      }
      if (c != '\\') {
        out += c;
        ++p;
        continue;
      }
      if (p + 1 >= n) fail(s, "unterminated string");
      char e = src_[p + 1];
      p += 2;
      switch (e) {
        case '\n': break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x':
        case 'u':
        case 'U': {
          int len = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          char32_t cp = 0;
          for (int i = 0; i < len; ++i) {
            int h = p < n ? hexval(src_[p]) : -1;
            if (h < 0) fail(s, fmt::format("truncated \\{} escape", e));
            cp = cp * 16 + static_cast<char32_t>(h);
            ++p;
          }
          utf8_append(out, cp);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            char32_t cp = static_cast<char32_t>(e - '0');
            for (int i = 0; i < 2 && p < n && src_[p] >= '0' && src_[p] <= '7'; ++i, ++p) cp = cp * 8 + (src_[p] - '0');
            utf8_append(out, cp);
          } else {
            out += '\\';
            out += e;
          }
      }
    }
    tokens_.push_back(Token{Tok::String, out, 0, 0, s});
    return p;
  }

  const std::string& src_;
  const std::string& origin_;
  std::vector<std::size_t> line_starts_;
  std::vector<Token> tokens_;
};

class Parser {
 public:
  Parser(std::vector<Token> toks, const Lexer& lx) : toks_(std::move(toks)), lx_(lx) {}

  Body parse_all() {
    std::string end;
    Body b = parse_body({}, end);
    return b;
  }

 private:
  const Token& cur() const { return toks_[i_]; }
  const Token& peek(std::size_t k = 1) const { return toks_[std::min(i_ + k, toks_.size() - 1)]; }
  void next() {
    if (i_ + 1 < toks_.size()) ++i_;
  }
  bool is_op(const char* op) const { return cur().type == Tok::Op && cur().text == op; }
  bool is_name(const char* nm) const { return cur().type == Tok::Name && cur().text == nm; }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::Data: return "template data";
      case Tok::VarBegin: return "'{{'";
      case Tok::VarEnd: return "end of print statement";
      case Tok::BlockBegin: return "'{%'";
      case Tok::BlockEnd: return "end of statement block";
      case Tok::Name: return "'" + t.text + "'";
      case Tok::String: return "string";
      case Tok::Int:
      case Tok::Float: return "number " + t.text;
      case Tok::Op: return "'" + t.text + "'";
      case Tok::Eof: return "end of template";
    }
    return "token";
  }
  [[noreturn]] void fail(const std::string& msg) const { lx_.fail(cur().pos, msg); }
  [[noreturn]] void unexpected(const std::string& expected) const {
    fail(fmt::format("expected {}, got {}", expected, describe(cur())));
  }
  void expect_op(const char* op) {
    if (!is_op(op)) unexpected(fmt::format("'{}'", op));
    next();
  }
  void expect_block_end() {
    if (cur().type != Tok::BlockEnd) unexpected("end of statement block");
    next();
  }
  std::string expect_name() {
    if (cur().type != Tok::Name) unexpected("a name");
    std::string s = cur().text;
    next();
    return s;
  }
  template <class T>
  std::unique_ptr<T> node_at(const Token& t) {
    auto n = std::make_unique<T>();
    auto [l, c] = lx_.line_col(t.pos);
    n->line = l;
    n->col = c;
    return n;
  }
  ExprPtr expr(ExprKind k, const Token& t) {
    auto e = node_at<Expr>(t);
    e->kind = k;
    return e;
  }
  StmtPtr stmt(StmtKind k, const Token& t) {
    auto s = node_at<Stmt>(t);
    s->kind = k;
    return s;
  }

  // Parses statements until `{% <one of ends> ...`; consumes "{%" and the end name, leaves the rest of the tag.
  Body parse_body(const std::set<std::string>& ends, std::string& which) {
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.type == Tok::Eof) {
        if (!ends.empty()) {
          std::string list;
          for (const auto& e : ends) list += (list.empty() ? "'" : ", '") + e + "'";
          fail("unexpected end of template; Jinja was looking for the following tags: " + list);
        }
        return body;
      }
      if (t.type == Tok::Data) {
        auto s = stmt(StmtKind::Text, t);
        s->text = t.text;
        body.push_back(std::move(s));
        next();
      } else if (t.type == Tok::VarBegin) {
        auto s = stmt(StmtKind::Output, t);
        next();
        s->expr = parse_expression();
        if (cur().type != Tok::VarEnd) unexpected("end of print statement");
        next();
        body.push_back(std::move(s));
      } else if (t.type == Tok::BlockBegin) {
        const Token& nt = peek();
        if (nt.type == Tok::Name && ends.count(nt.text)) {
          which = nt.text;
          next();
          next();
          return body;
        }
        body.push_back(parse_statement());
      } else {
        fail("unexpected " + describe(t));
      }
    }
  }

  StmtPtr parse_statement() {
    Nest guard(*this);
    next();  // {%
    const Token& t = cur();
    if (t.type != Tok::Name) unexpected("a statement name");
    const std::string name = t.text;
    if (name == "if") return parse_if();
    if (name == "for") return parse_for();
    if (name == "set") return parse_set();
    if (name == "macro") return parse_macro();
    if (name == "call") return parse_call_block();
    if (name == "filter") return parse_filter_block();
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) fail(fmt::format("'{}' outside of a loop", name));
      auto s = stmt(name == "break" ? StmtKind::Break : StmtKind::Continue, t);
      next();
      expect_block_end();
      return s;
    }
    if (name == "generation") {  // HF's AssistantTracker extension: renders its body
      auto s = stmt(StmtKind::Block, t);
      next();
      expect_block_end();
      std::string which;
      s->body = parse_body({"endgeneration"}, which);
      expect_block_end();
      return s;
    }
    fail(fmt::format("encountered unknown tag '{}'", name));
  }

  StmtPtr parse_if() {
    auto s = stmt(StmtKind::If, cur());
    next();
    ExprPtr cond = parse_expression();
    expect_block_end();
    while (true) {
      std::string which;
      Body b = parse_body({"elif", "else", "endif"}, which);
      s->branches.emplace_back(std::move(cond), std::move(b));
      if (which == "elif") {
        cond = parse_expression();
        expect_block_end();
        continue;
      }
      if (which == "else") {
        expect_block_end();
        s->else_body = parse_body({"endif"}, which);
      }
      expect_block_end();
      return s;
    }
  }

  StmtPtr parse_for() {
    auto s = stmt(StmtKind::For, cur());
    next();
    bool paren = false;
    if (is_op("(")) {
      paren = true;
      next();
    }
    s->targets.push_back(expect_name());
    while (is_op(",")) {
      next();
      if (cur().type != Tok::Name || cur().text == "in") break;
      s->targets.push_back(expect_name());
    }
    if (paren) expect_op(")");
    if (!is_name("in")) unexpected("'in'");
    next();
    s->expr = parse_expression(false);
    if (is_name("recursive")) {
      s->recursive = true;
      next();
    }
    if (is_name("if")) {
      next();
      s->filter = parse_expression();
    }
    expect_block_end();
    ++loop_depth_;
    std::string which;
    s->body = parse_body({"endfor", "else"}, which);
    --loop_depth_;
    if (which == "else") {
      expect_block_end();
      s->else_body = parse_body({"endfor"}, which);
    }
    expect_block_end();
    return s;
  }

  StmtPtr parse_set() {
    const Token& t = cur();
    next();
    std::vector<std::string> targets{expect_name()};
    std::string attr;
    if (is_op(".")) {
      next();
      attr = expect_name();
    } else {
      while (is_op(",")) {
        next();
        targets.push_back(expect_name());
      }
    }
    if (is_op("=")) {
      next();
      auto s = stmt(StmtKind::Set, t);
      s->targets = std::move(targets);
      s->text = attr;
      s->expr = parse_expression();
      if (is_op(",")) {  // `set a, b = 1, 2`: a tuple on the right
        auto tup = expr(ExprKind::TupleLit, cur());
        tup->args.push_back(std::move(s->expr));
        while (is_op(",")) {
          next();
          if (cur().type == Tok::BlockEnd) break;
          tup->args.push_back(parse_expression());
        }
        s->expr = std::move(tup);
      }
      expect_block_end();
      return s;
    }
    if (!attr.empty() || targets.size() != 1) unexpected("'='");
    auto s = stmt(StmtKind::SetBlock, t);
    s->targets = std::move(targets);
    if (is_op("|")) s->filter = parse_filter_chain();
    expect_block_end();
    std::string which;
    s->body = parse_body({"endset"}, which);
    expect_block_end();
    return s;
  }

  void parse_params(Stmt& s) {
    expect_op("(");
    while (!is_op(")")) {
      if (!s.targets.empty()) expect_op(",");
      if (is_op(")")) break;
      s.targets.push_back(expect_name());
      if (is_op("=")) {
        next();
        s.defaults.push_back(parse_expression());
      } else {
        s.defaults.push_back(nullptr);
      }
    }
    next();
  }

  StmtPtr parse_macro() {
    auto s = stmt(StmtKind::Macro, cur());
    next();
    s->text = expect_name();
    parse_params(*s);
    expect_block_end();
    int saved = loop_depth_;
    loop_depth_ = 0;
    std::string which;
    s->body = parse_body({"endmacro"}, which);
    loop_depth_ = saved;
    if (cur().type == Tok::Name) next();
    expect_block_end();
    return s;
  }

  StmtPtr parse_call_block() {
    auto s = stmt(StmtKind::CallBlock, cur());
    next();
    if (is_op("(")) parse_params(*s);
    s->expr = parse_expression();
    if (s->expr->kind != ExprKind::Call) fail("expected a call in {% call %}");
    expect_block_end();
    std::string which;
    s->body = parse_body({"endcall"}, which);
    expect_block_end();
    return s;
  }

  // `| f(args) | g` applied to a placeholder Name "" operand.
  ExprPtr parse_filter_chain() {
    auto node = expr(ExprKind::Name, cur());
    node->name = "";
    bool first = true;
    while (first || is_op("|")) {
      if (is_op("|")) next();
      first = false;
      node = parse_filter(std::move(node));
    }
    return node;
  }

  StmtPtr parse_filter_block() {
    auto s = stmt(StmtKind::FilterBlock, cur());
    next();
    s->filter = parse_filter_chain();
    expect_block_end();
    std::string which;
    s->body = parse_body({"endfilter"}, which);
    expect_block_end();
    return s;
  }

  // ---- expressions ----
  // Bounds recursion (expression and statement nesting) so hostile input can't overflow the stack.
  struct Nest {
    Parser& p;
    explicit Nest(Parser& pp) : p(pp) {
      if (++p.depth_ > 400) p.fail("template nested too deeply");
    }
    ~Nest() { --p.depth_; }
  };

  ExprPtr parse_expression(bool with_condexpr = true) {
    Nest n(*this);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    ExprPtr e = parse_or();
    while (is_name("if")) {
      auto c = expr(ExprKind::Cond, cur());
      next();
      ExprPtr cond = parse_or();
      ExprPtr other;
      if (is_name("else")) {
        next();
        other = parse_condexpr();
      }
      c->args.push_back(std::move(e));
      c->args.push_back(std::move(cond));
      c->args.push_back(std::move(other));
      e = std::move(c);
    }
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      auto n = expr(ExprKind::Or, cur());
      next();
      n->args.push_back(std::move(left));
      n->args.push_back(parse_and());
      left = std::move(n);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      auto n = expr(ExprKind::And, cur());
      next();
      n->args.push_back(std::move(left));
      n->args.push_back(parse_not());
      left = std::move(n);
    }
    return left;
  }

  ExprPtr parse_not() {
    Nest guard(*this);
    if (is_name("not")) {
      auto n = expr(ExprKind::Not, cur());
      next();
      n->args.push_back(parse_not());
      return n;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const Token& start = cur();
    ExprPtr first = parse_math1();
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (cur().type == Tok::Op &&
          (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == ">" ||
           cur().text == "<=" || cur().text == ">=")) {
        op = cur().text;
        next();
      } else if (is_name("in")) {
        op = "in";
        next();
      } else if (is_name("not") && peek().type == Tok::Name && peek().text == "in") {
        op = "notin";
        next();
        next();
      } else {
        break;
      }
      if (!cmp) {
        cmp = expr(ExprKind::Compare, start);
        cmp->args.push_back(std::move(first));
      }
      cmp->ops.push_back(op);
      cmp->args.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(first);
  }

  ExprPtr binary(const std::string& op, ExprPtr l, ExprPtr r, const Token& t) {
    auto n = expr(ExprKind::Binary, t);
    n->name = op;
    n->args.push_back(std::move(l));
    n->args.push_back(std::move(r));
    return n;
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      Token t = cur();
      next();
      left = binary(t.text, std::move(left), parse_concat(), t);
    }
    return left;
  }

  ExprPtr parse_concat() {
    const Token& start = cur();
    ExprPtr first = parse_math2();
    if (!is_op("~")) return first;
    auto n = expr(ExprKind::Concat, start);
    n->args.push_back(std::move(first));
    while (is_op("~")) {
      next();
      n->args.push_back(parse_math2());
    }
    return n;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      Token t = cur();
      next();
      left = binary(t.text, std::move(left), parse_pow(), t);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary();
    while (is_op("**")) {
      Token t = cur();
      next();
      left = binary("**", std::move(left), parse_unary(), t);
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter = true) {
    Nest guard(*this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      node = expr(is_op("-") ? ExprKind::Neg : ExprKind::Pos, cur());
      next();
      node->args.push_back(parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    switch (t.type) {
      case Tok::Name: {
        auto n = expr(ExprKind::Literal, t);
        if (t.text == "true" || t.text == "True") {
          n->literal = Value(true);
        } else if (t.text == "false" || t.text == "False") {
          n->literal = Value(false);
        } else if (t.text == "none" || t.text == "None") {
          n->literal = Value::none();
        } else {
          n->kind = ExprKind::Name;
          n->name = t.text;
        }
        next();
        return n;
      }
      case Tok::String: {
        auto n = expr(ExprKind::Literal, t);
        std::string s;
        while (cur().type == Tok::String) {
          s += cur().text;
          next();
        }
        n->literal = Value(std::move(s));
        return n;
      }
      case Tok::Int: {
        auto n = expr(ExprKind::Literal, t);
        n->literal = Value(t.ival);
        next();
        return n;
      }
      case Tok::Float: {
        auto n = expr(ExprKind::Literal, t);
        n->literal = Value(t.fval);
        next();
        return n;
      }
      case Tok::Op:
        if (t.text == "(") {
          auto tup = expr(ExprKind::TupleLit, t);
          next();
          bool comma = false;
          while (!is_op(")")) {
            if (!tup->args.empty()) {
              expect_op(",");
              comma = true;
              if (is_op(")")) break;
            }
            tup->args.push_back(parse_expression());
          }
          next();
          if (tup->args.size() == 1 && !comma) return std::move(tup->args[0]);
          return tup;
        }
        if (t.text == "[") {
          auto l = expr(ExprKind::ListLit, t);
          next();
          while (!is_op("]")) {
            if (!l->args.empty()) {
              expect_op(",");
              if (is_op("]")) break;
            }
            l->args.push_back(parse_expression());
          }
          next();
          return l;
        }
        if (t.text == "{") {
          auto d = expr(ExprKind::DictLit, t);
          next();
          while (!is_op("}")) {
            if (!d->args.empty()) {
              expect_op(",");
              if (is_op("}")) break;
            }
            d->args.push_back(parse_expression());
            expect_op(":");
            d->args.push_back(parse_expression());
          }
          next();
          return d;
        }
        break;
      default: break;
    }
    fail("unexpected " + describe(t));
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".")) {
        Token t = cur();
        next();
        if (cur().type == Tok::Name) {
          auto a = expr(ExprKind::Attr, t);
          a->name = cur().text;
          a->args.push_back(std::move(node));
          next();
          node = std::move(a);
        } else if (cur().type == Tok::Int) {
          auto a = expr(ExprKind::Index, t);
          a->args.push_back(std::move(node));
          auto lit = expr(ExprKind::Literal, cur());
          lit->literal = Value(cur().ival);
          a->args.push_back(std::move(lit));
          next();
          node = std::move(a);
        } else {
          unexpected("an attribute name");
        }
      } else if (is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr node) {
    Token t = cur();
    next();  // [
    ExprPtr start;
    if (!is_op(":")) start = parse_expression();
    if (is_op(":")) {
      auto s = expr(ExprKind::Slice, t);
      next();
      ExprPtr stop, step;
      if (!is_op("]") && !is_op(":")) stop = parse_expression();
      if (is_op(":")) {
        next();
        if (!is_op("]")) step = parse_expression();
      }
      expect_op("]");
      s->args.push_back(std::move(node));
      s->args.push_back(std::move(start));
      s->args.push_back(std::move(stop));
      s->args.push_back(std::move(step));
      return s;
    }
    if (is_op(",")) {  // x[a, b]: tuple key
      auto tup = expr(ExprKind::TupleLit, t);
      tup->args.push_back(std::move(start));
      while (is_op(",")) {
        next();
        if (is_op("]")) break;
        tup->args.push_back(parse_expression());
      }
      start = std::move(tup);
    }
    expect_op("]");
    auto i = expr(ExprKind::Index, t);
    i->args.push_back(std::move(node));
    i->args.push_back(std::move(start));
    return i;
  }

  void parse_call_args(Expr& call) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) {
        expect_op(",");
        if (is_op(")")) break;
      }
      first = false;
      if (is_op("*") || is_op("**")) fail("*args/**kwargs in calls are not supported");
      if (cur().type == Tok::Name && peek().type == Tok::Op && peek().text == "=") {
        std::string key = cur().text;
        next();
        next();
        call.kwargs.emplace_back(key, parse_expression());
      } else {
        if (!call.kwargs.empty()) fail("positional argument after keyword argument");
        call.args.push_back(parse_expression());
      }
    }
    next();
  }

  ExprPtr parse_call(ExprPtr node) {
    auto c = expr(ExprKind::Call, cur());
    c->args.push_back(std::move(node));
    parse_call_args(*c);
    return c;
  }

  std::string dotted_name() {
    std::string name = expect_name();
    while (is_op(".") && peek().type == Tok::Name) {
      next();
      name += "." + cur().text;
      next();
    }
    return name;
  }

  ExprPtr parse_filter(ExprPtr node) {
    auto f = expr(ExprKind::Filter, cur());
    f->name = dotted_name();
    f->args.push_back(std::move(node));
    if (is_op("(")) parse_call_args(*f);
    return f;
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        next();
        node = parse_filter(std::move(node));
      } else if (is_name("is")) {
        auto t = expr(ExprKind::Test, cur());
        next();
        if (is_name("not")) {
          t->negated = true;
          next();
        }
        t->name = dotted_name();
        t->args.push_back(std::move(node));
        if (is_op("(")) {
          parse_call_args(*t);
        } else if ((cur().type == Tok::Name || cur().type == Tok::String || cur().type == Tok::Int ||
                    cur().type == Tok::Float || is_op("(") || is_op("[") || is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and")) {
          if (is_name("is")) fail("you cannot chain multiple tests with is");
          t->args.push_back(parse_postfix(parse_primary()));
        }
        node = std::move(t);
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  std::vector<Token> toks_;
  const Lexer& lx_;
  std::size_t i_ = 0;
  int loop_depth_ = 0;
  int depth_ = 0;
};


// ---- compile-time scope analysis (mirrors jinja2/idtracking.py) ----
// Each scope keeps refs: how a name is initialised on entry. RESOLVE: from enclosing frames/context;
// UNDEF: undefined until assigned; ALIAS/PARAM: bound from the parent or by the scope itself. Only UNDEF changes
// behaviour versus plain dynamic lookup, so that is what the AST records.
enum class Ref { Resolve, Undef, Alias, Param };

struct Symbols {
  const Symbols* parent = nullptr;
  std::map<std::string, Ref> refs;
  std::set<std::string> stores;

  bool find_ref(const std::string& n) const {
    for (const Symbols* s = this; s; s = s->parent)
      if (s->refs.count(n)) return true;
    return false;
  }
  void load(const std::string& n) {
    if (!find_ref(n)) refs[n] = Ref::Resolve;
  }
  void store(const std::string& n) {
    stores.insert(n);
    if (refs.count(n)) return;
    refs[n] = (parent && parent->find_ref(n)) ? Ref::Alias : Ref::Undef;
  }
  void param(const std::string& n) {
    stores.insert(n);
    refs[n] = Ref::Param;
  }
  void branch_update(const std::vector<Symbols>& branches) {
    std::set<std::string> st;
    for (const auto& b : branches) st.insert(b.stores.begin(), b.stores.end());
    for (const auto& n : stores) st.erase(n);
    for (const auto& b : branches) {
      for (const auto& [k, v] : b.refs) refs[k] = v;
      stores.insert(b.stores.begin(), b.stores.end());
    }
    for (const auto& n : st) refs[n] = (parent && parent->find_ref(n)) ? Ref::Alias : Ref::Resolve;
  }
  std::vector<std::string> undefined_names() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : refs)
      if (v == Ref::Undef) out.push_back(k);
    return out;
  }
};

void visit_expr(const Expr* e, Symbols& sym) {
  if (!e) return;
  if (e->kind == ExprKind::Name) {
    if (!e->name.empty()) sym.load(e->name);
    return;
  }
  for (const auto& a : e->args) visit_expr(a.get(), sym);
  for (const auto& kv : e->kwargs) visit_expr(kv.second.get(), sym);
}

// jinja2 analyses a scope completely (statements, if-branches, the iterables of loops) before the scopes nested in
// it, which are analysed at code generation against the finished parent table. So the shallow pass collects the
// nested scopes and analyse_scope handles them afterwards.
void shallow_body(Body& body, Symbols& sym, std::vector<Stmt*>& nested);

std::vector<std::string> analyze_scope(Body& body, const Symbols* parent, const std::vector<std::string>& params,
                                       const std::vector<ExprPtr>* defaults = nullptr);

void analyze_nested(Stmt& st, const Symbols& parent) {
  switch (st.kind) {
    case StmtKind::For: {
      std::vector<std::string> params = st.targets;
      params.push_back("loop");
      st.body_decls = analyze_scope(st.body, &parent, params);
      st.else_decls = analyze_scope(st.else_body, &parent, {});
      break;
    }
    case StmtKind::Macro:
    case StmtKind::CallBlock: {
      std::vector<std::string> params = st.targets;
      for (const char* implicit : {"caller", "varargs", "kwargs"}) params.push_back(implicit);
      st.body_decls = analyze_scope(st.body, &parent, params, &st.defaults);
      break;
    }
    case StmtKind::SetBlock:
    case StmtKind::FilterBlock:
    case StmtKind::Block: st.body_decls = analyze_scope(st.body, &parent, {}); break;
    default: break;
  }
}

std::vector<std::string> analyze_scope(Body& body, const Symbols* parent, const std::vector<std::string>& params,
                                       const std::vector<ExprPtr>* defaults) {
  Symbols s;
  s.parent = parent;
  for (const auto& p : params) s.param(p);
  if (defaults)
    for (const auto& d : *defaults) visit_expr(d.get(), s);
  std::vector<Stmt*> nested;
  shallow_body(body, s, nested);
  for (Stmt* st : nested) analyze_nested(*st, s);
  return s.undefined_names();
}

// visit_If (jinja keeps elif as a flat list of If nodes under the first one, visited in one branch copy).
void shallow_if(Stmt& st, Symbols& sym, std::vector<Stmt*>& nested) {
  visit_expr(st.branches[0].first.get(), sym);
  std::vector<Symbols> parts;
  Symbols body = sym;
  shallow_body(st.branches[0].second, body, nested);
  parts.push_back(std::move(body));
  Symbols elifs = sym;
  for (std::size_t i = 1; i < st.branches.size(); ++i) {
    visit_expr(st.branches[i].first.get(), elifs);
    Symbols b = elifs;
    shallow_body(st.branches[i].second, b, nested);
    elifs.branch_update({b});
  }
  parts.push_back(std::move(elifs));
  Symbols els = sym;
  shallow_body(st.else_body, els, nested);
  parts.push_back(std::move(els));
  sym.branch_update(parts);
}

void shallow_body(Body& body, Symbols& sym, std::vector<Stmt*>& nested) {
  for (auto& sp : body) {
    Stmt& st = *sp;
    switch (st.kind) {
      case StmtKind::Text:
      case StmtKind::Break:
      case StmtKind::Continue: break;
      case StmtKind::Output: visit_expr(st.expr.get(), sym); break;
      case StmtKind::If: shallow_if(st, sym, nested); break;
      case StmtKind::For:
        visit_expr(st.expr.get(), sym);
        nested.push_back(&st);
        break;
      case StmtKind::Set:
        visit_expr(st.expr.get(), sym);
        if (!st.text.empty()) {
          sym.load(st.targets[0]);  // ns.attr = ...
        } else {
          for (const auto& t : st.targets) sym.store(t);
        }
        break;
      case StmtKind::SetBlock:
        sym.store(st.targets[0]);
        nested.push_back(&st);
        break;
      case StmtKind::Macro:
        sym.store(st.text);
        nested.push_back(&st);
        break;
      case StmtKind::CallBlock:
        visit_expr(st.expr.get(), sym);
        nested.push_back(&st);
        break;
      case StmtKind::FilterBlock:
        visit_expr(st.filter.get(), sym);
        nested.push_back(&st);
        break;
      case StmtKind::Block: nested.push_back(&st); break;
    }
  }
}

}  // namespace

std::shared_ptr<const Program> parse_template(const std::string& source, const std::string& origin) {
  auto prog = std::make_shared<Program>();
  prog->origin = origin;
  std::string src = normalize_newlines(source);
  Lexer lx(src, origin);
  Parser p(lx.run(), lx);
  prog->body = p.parse_all();
  prog->decls = analyze_scope(prog->body, nullptr, {});
  return prog;
}

}  // namespace reval::jinja
