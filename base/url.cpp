// See url.hpp.
#include "base/url.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "base/error.hpp"

namespace reval {

std::string Url::origin() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return explicit_port ? fmt::format("{}://{}:{}", scheme, h, port) : fmt::format("{}://{}", scheme, h);
}

Url parse_url(std::string_view url_in, std::string_view what) {
  const std::string url(url_in);
  auto bad = [&](const std::string& why) { return Error(fmt::format("{} '{}': {}", what, url, why)); };
  Url p;
  auto sep = url.find("://");
  if (sep == std::string::npos) throw bad("expected http://host[:port][/path] or https://...");
  p.scheme = url.substr(0, sep);
  std::transform(p.scheme.begin(), p.scheme.end(), p.scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  if (p.scheme != "http" && p.scheme != "https") throw bad("unsupported scheme '" + p.scheme + "' (use http or https)");
  std::string rest = url.substr(sep + 3);
  auto slash = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash);
  if (auto q = path.find_first_of("?#"); q != std::string::npos) path.resize(q);
  while (!path.empty() && path.back() == '/') path.pop_back();
  p.path = path;
  if (authority.find('@') != std::string::npos) throw bad("credentials in the URL are not supported");
  std::string port_str;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) throw bad("unterminated IPv6 literal");
    p.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw bad("malformed host");
      port_str = after.substr(1);
      if (port_str.empty()) throw bad("empty port");
    }
  } else {
    auto colon = authority.rfind(':');
    if (colon != std::string::npos) {
      p.host = authority.substr(0, colon);
      port_str = authority.substr(colon + 1);
      if (port_str.empty()) throw bad("empty port");
    } else {
      p.host = authority;
    }
  }
  if (p.host.empty()) throw bad("missing host");
  if (!port_str.empty()) {
    if (port_str.size() > 5 || !std::all_of(port_str.begin(), port_str.end(), [](char c) { return c >= '0' && c <= '9'; }))
      throw bad("bad port '" + port_str + "'");
    p.port = std::stoi(port_str);
    if (p.port < 1 || p.port > 65535) throw bad("port out of range");
    p.explicit_port = true;
  } else {
    p.port = p.scheme == "https" ? 443 : 80;
  }
  return p;
}

std::string human_bytes(std::uint64_t n) {
  if (n >= (1u << 20)) return fmt::format("{:.1f} MB", static_cast<double>(n) / (1 << 20));
  if (n >= 1024) return fmt::format("{:.1f} kB", static_cast<double>(n) / 1024);
  return fmt::format("{} B", n);
}

}  // namespace reval
