// Helper for regex_split_diff.py: reads a hex-encoded pattern on the first line, then hex-encoded texts, one per
// line, and prints for each text its RegexSplitter pieces (hex, comma-separated). Lets a backtracking engine
// (Python's re, which has real look-ahead) check our RE2-based splitting with the emulated `\s+(?!\S)`.
#include <iostream>
#include <string>

#include "model/tokenizer/internal.hpp"

namespace {
std::string unhex(const std::string& h) {
  std::string o;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) o += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return o;
}
std::string hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string o;
  for (unsigned char c : s) {
    o += d[c >> 4];
    o += d[c & 15];
  }
  return o;
}
}  // namespace

int main() {
  std::string pat;
  std::getline(std::cin, pat);
  reval::tok::RegexSplitter re(unhex(pat));
  std::string line;
  std::vector<reval::tok::RegexSplitter::Piece> pieces;
  while (std::getline(std::cin, line)) {
    pieces.clear();
    std::string text = unhex(line);
    re.find_all(text, pieces);
    std::string out;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      if (i) out += ',';
      out += hex(pieces[i].text);
    }
    std::cout << out << "\n";
  }
}
