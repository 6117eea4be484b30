// SHA-256 (FIPS 180-4): model content hashes, chat-template ids, downloaded-file checksums.
//
// Theory of operation: the textbook Merkle-Damgard construction over 64-byte blocks; update() buffers partial
// blocks, hex() pads with 0x80, zeros and the 64-bit big-endian bit length, then prints the state.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace reval {

class Sha256 {
 public:
  Sha256();
  void update(std::string_view data);
  std::string hex();  // finalises; call once

 private:
  void block(const unsigned char* p);
  std::array<std::uint32_t, 8> h_;
  unsigned char buf_[64];
  std::size_t buf_len_ = 0;
  std::uint64_t total_ = 0;
};

std::string sha256_hex(std::string_view data);
// SHA-256 of a file's contents, lowercase hex. Throws reval::Error when the file cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace reval
