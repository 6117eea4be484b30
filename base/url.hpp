// URLs as reval uses them: "http[s]://host[:port][/path]" for servers (OpenAI-compatible endpoints, the Hugging Face
// Hub, test mocks). One parser, so every command accepts and rejects the same spellings.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace reval {

struct Url {
  std::string scheme;  // "http" | "https" (lower case)
  std::string host;    // without brackets for IPv6 literals
  int port = 0;        // explicit, or the scheme's default (80 / 443)
  bool explicit_port = false;
  std::string path;    // "" or "/v1/x" (no trailing slash; query and fragment dropped)

  // "scheme://host[:port]" as written (IPv6 literals bracketed, default ports left out unless given).
  std::string origin() const;
};

// Parses `url`; throws reval::Error naming `what` (e.g. "base_url", "hub URL") for a missing or unsupported scheme,
// credentials in the URL, a missing host, a malformed IPv6 literal or a bad port.
Url parse_url(std::string_view url, std::string_view what = "URL");

// "12 B", "3.4 kB", "5.6 MB" (1024-based, one decimal): sizes in progress lines and logs.
std::string human_bytes(std::uint64_t n);

}  // namespace reval
