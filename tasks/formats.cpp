// Theory of operation: each codec here is a direct, bounded implementation of its spec.
//  * CSV: a character state machine (field start / unquoted / quoted / after closing quote) over the whole text,
//    so quoted newlines, CRLF and "" escapes are handled without line splitting.
//  * Pickle: the LiveCodeBench private tests are `pickle.dumps(json_string)`; a str pickle is a flat opcode stream
//    (PROTO, optional FRAME headers, one *BINUNICODE*, MEMOIZE, STOP), so a tiny interpreter that knows exactly those
//    opcodes suffices, and anything else is rejected with its name instead of guessed at.
#include "tasks/formats.hpp"

#include <zip.h>

#include <cstring>
#include <optional>

#include <fmt/format.h>
#include <zlib.h>

#include "base/error.hpp"
#include "base/jsonl.hpp"

namespace reval::formats {

std::vector<CsvRecord> parse_csv(std::string_view text, std::string_view source) {
  std::vector<CsvRecord> out;
  enum class State { field_start, unquoted, quoted, after_quote };
  State state = State::field_start;
  CsvRecord rec;
  std::string field;
  std::int64_t line = 1;
  std::int64_t quote_line = 0;
  bool record_has_content = false;  // false until the record has any character (so blank lines are skipped)
  auto end_field = [&] {
    rec.fields.push_back(std::move(field));
    field.clear();
  };
  auto end_record = [&] {
    if (record_has_content) {
      end_field();
      out.push_back(std::move(rec));
    }
    rec = CsvRecord{};
    field.clear();
    record_has_content = false;
    state = State::field_start;
  };
  size_t i = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") i = 3;  // a UTF-8 BOM is not part of the first field
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (!record_has_content && state == State::field_start) rec.line = line;
    switch (state) {
      case State::field_start:
      case State::unquoted:
        if (c == ',') {
          record_has_content = true;
          end_field();
          state = State::field_start;
        } else if (c == '\n' || c == '\r') {
          if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
          end_record();
          ++line;
        } else if (c == '"' && state == State::field_start) {
          record_has_content = true;
          quote_line = line;
          state = State::quoted;
        } else {
          record_has_content = true;
          field += c;
          state = State::unquoted;
        }
        break;
      case State::quoted:
        if (c == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field += '"';
            ++i;
          } else {
            state = State::after_quote;
          }
        } else {
          if (c == '\n') ++line;
          field += c;
        }
        break;
      case State::after_quote:
        if (c == ',') {
          end_field();
          state = State::field_start;
        } else if (c == '\n' || c == '\r') {
          if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
          end_record();
          ++line;
        } else {
          fail_at(source, line, "", fmt::format("CSV: unexpected character '{}' after a closing quote", c));
        }
        break;
    }
  }
  if (state == State::quoted)
    fail_at(source, quote_line, "", "CSV: quoted field is never closed (unterminated quote)");
  end_record();
  return out;
}

std::string base64_decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    int v = value(c);
    if (v < 0 || padding)
      throw Error(fmt::format("base64: invalid character at offset {}", i));
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (bits >= 6) throw Error("base64: truncated input");
  return out;
}

std::string zlib_inflate(std::string_view data) {
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) throw Error("zlib: inflateInit failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[1 << 16];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      std::string msg = zs.msg ? zs.msg : "corrupt stream";
      inflateEnd(&zs);
      throw Error("zlib: " + msg);
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      throw Error("zlib: truncated stream");
    }
  } while (rc != Z_STREAM_END);
  inflateEnd(&zs);
  return out;
}

namespace {
const char* pickle_opcode_name(unsigned char op) {
  switch (op) {
    case '(': return "MARK";
    case ')': return "EMPTY_TUPLE";
    case ']': return "EMPTY_LIST";
    case '}': return "EMPTY_DICT";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'M': return "BININT2";
    case 'N': return "NONE";
    case 'C': return "SHORT_BINBYTES";
    case 'B': return "BINBYTES";
    case 'U': return "SHORT_BINSTRING";
    case 'T': return "BINSTRING";
    case 'V': return "UNICODE";
    case 'S': return "STRING";
    case 'q': return "BINPUT";
    case 'h': return "BINGET";
    case 'c': return "GLOBAL";
    case 0x93: return "STACK_GLOBAL";
    case 'R': return "REDUCE";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";
    case 'G': return "BINFLOAT";
    case 't': return "TUPLE";
    case 'e': return "APPENDS";
    case 'u': return "SETITEMS";
    default: return "unknown";
  }
}
std::uint64_t read_le(std::string_view d, size_t at, int n) {
  std::uint64_t v = 0;
  for (int k = n - 1; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(d[at + k]);
  return v;
}
}  // namespace

std::string unpickle_str(std::string_view d) {
  std::optional<std::string> value;
  size_t i = 0;
  auto need = [&](std::uint64_t n, const char* what) {
    if (n > d.size() || i > d.size() - n)
      throw Error(fmt::format("pickle: truncated {} at offset {}", what, i));
  };
  auto push_str = [&](std::uint64_t len, const char* what) {
    need(len, what);
    if (value) throw Error(fmt::format("pickle: more than one value (second {} at offset {})", what, i));
    value = std::string(d.substr(i, len));
    if (!is_valid_utf8(*value)) throw Error(fmt::format("pickle: {} at offset {} is not valid UTF-8", what, i));
    i += len;
  };
  while (true) {
    need(1, "opcode");
    auto op = static_cast<unsigned char>(d[i]);
    size_t at = i++;
    switch (op) {
      case 0x80: {  // PROTO <u8>
        need(1, "PROTO");
        int proto = static_cast<unsigned char>(d[i++]);
        if (proto > 5) throw Error(fmt::format("pickle: unsupported protocol {}", proto));
        break;
      }
      case 0x95:  // FRAME <u64 length>: a framing hint only; the opcodes inside are read as usual
        need(8, "FRAME");
        i += 8;
        break;
      case 0x8c: {  // SHORT_BINUNICODE <u8 len> <utf8>
        need(1, "SHORT_BINUNICODE");
        std::uint64_t len = static_cast<unsigned char>(d[i++]);
        push_str(len, "SHORT_BINUNICODE");
        break;
      }
      case 'X': {  // BINUNICODE <u32 len> <utf8>
        need(4, "BINUNICODE");
        std::uint64_t len = read_le(d, i, 4);
        i += 4;
        push_str(len, "BINUNICODE");
        break;
      }
      case 0x8d: {  // BINUNICODE8 <u64 len> <utf8>
        need(8, "BINUNICODE8");
        std::uint64_t len = read_le(d, i, 8);
        i += 8;
        push_str(len, "BINUNICODE8");
        break;
      }
      case 0x94:  // MEMOIZE: stores the top of the stack in the memo; nothing to do for a single value
        if (!value) throw Error(fmt::format("pickle: MEMOIZE with an empty stack at offset {}", at));
        break;
      case 'q':  // BINPUT <u8> (protocols 2-3 memoize this way)
        need(1, "BINPUT");
        ++i;
        if (!value) throw Error(fmt::format("pickle: BINPUT with an empty stack at offset {}", at));
        break;
      case '.':  // STOP
        if (!value) throw Error("pickle: STOP before any value");
        if (i != d.size()) throw Error(fmt::format("pickle: {} trailing bytes after STOP", d.size() - i));
        return std::move(*value);
      default:
        throw Error(fmt::format("pickle: unsupported opcode 0x{:02x} ({}) at offset {}; only a pickled str is "
                                "expected", op, pickle_opcode_name(op), at));
    }
  }
}

std::vector<int> shuffled_indices(int n, SplitMix64& rng) {
  std::vector<int> p(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) p[static_cast<size_t>(k)] = k;
  for (int k = n - 1; k > 0; --k) {
    auto j = static_cast<int>(rng.below(static_cast<std::uint64_t>(k) + 1));
    std::swap(p[static_cast<size_t>(k)], p[static_cast<size_t>(j)]);
  }
  return p;
}

std::string read_zip_member(const std::string& zip_path, const char* member, const std::string& password) {
  int err = 0;
  zip_t* za = zip_open(zip_path.c_str(), ZIP_RDONLY, &err);
  if (!za) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    std::string msg = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    throw Error(fmt::format("{}: cannot open zip archive: {}", zip_path, msg));
  }
  struct Closer { zip_t* z; ~Closer() { zip_discard(z); } } closer{za};
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat(za, member, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
    throw Error(fmt::format("{}: archive has no member '{}'", zip_path, member));
  zip_file_t* zf = zip_fopen_encrypted(za, member, 0, password.c_str());
  if (!zf)
    throw Error(fmt::format("{}: cannot open member '{}': {} (set REVAL_GPQA_PASSWORD if the archive uses another "
                            "password)", zip_path, member, zip_strerror(za)));
  // The size in the archive's directory is only a claim: never allocate by it. Members are read in chunks up to a
  // cap far above any real benchmark file (GPQA's CSV is 1.4 MB), and must end exactly at the claimed size.
  constexpr zip_uint64_t kMaxMember = zip_uint64_t{256} << 20;
  if (st.size > kMaxMember) {
    zip_fclose(zf);
    throw Error(fmt::format("{}: member '{}' claims {} bytes, more than the {}-byte limit for a benchmark file",
                            zip_path, member, st.size, kMaxMember));
  }
  std::string data;
  std::string read_error;
  char buf[1 << 16];
  for (;;) {
    zip_int64_t got = zip_fread(zf, buf, sizeof buf);
    if (got < 0) {
      read_error = zip_file_strerror(zf);
      break;
    }
    if (got == 0) break;
    data.append(buf, static_cast<size_t>(got));
    if (data.size() > st.size) {
      read_error = "member is longer than its directory entry says";
      break;
    }
  }
  zip_fclose(zf);
  if (!read_error.empty() || data.size() != st.size)
    throw Error(fmt::format("{}: reading member '{}' failed: {} (wrong password?)", zip_path, member,
                            read_error.empty() ? "short read" : read_error));
  return data;
}

}  // namespace reval::formats
