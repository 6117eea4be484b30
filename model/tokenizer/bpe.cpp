// The BPE model, following HF `tokenizers` BPE::merge_word / Word::merge_all step for step:
//  1. The word is cut into initial symbols: single bytes (byte-level) or single characters (with the optional
//     continuing_subword_prefix / end_of_word_suffix). A character missing from the vocab becomes its <0xXX>
//     byte tokens when byte_fallback is on and all of them exist, else the unk token (runs fused with fuse_unk).
//  2. All adjacent pairs that have a merge go into a min-heap ordered by (rank, position). The top entry is
//     applied if it is still current (the pair at that position still merges into the same id); the merged
//     symbol's new pairs with its neighbours are pushed. Removed symbols are marked with length 0.
//  3. ignore_merges (Llama 3): a word that is itself in the vocab is one token, before any merging.
// Results per word are cached in a sharded, mutex-protected map so that encode() is thread-safe and repeated
// words (the common case) cost one hash lookup.
#include <algorithm>
#include <functional>
#include <queue>

#include "model/tokenizer/internal.hpp"
#include "base/error.hpp"

namespace reval::tok {

namespace {
inline std::uint64_t pair_key(TokenId a, TokenId b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}
}  // namespace

BpeModel::BpeModel(StrIdMap vocab, const std::vector<MergeRule>& merges, BpeOptions options)
    : vocab_(std::move(vocab)), opt_(std::move(options)), cache_(new Shard[kShards]) {
  merges_.reserve(merges.size() * 2);
  for (std::size_t r = 0; r < merges.size(); ++r) {
    // First occurrence wins, as in HF (later duplicates would have a worse rank anyway).
    merges_.try_emplace(pair_key(merges[r].left, merges[r].right),
                        MergeInfo{static_cast<std::int32_t>(r), merges[r].result});
  }
  byte_ids_.fill(-1);
  fallback_ids_.fill(-1);
  for (int b = 0; b < 256; ++b) {
    std::string one(1, static_cast<char>(b));
    if (auto it = vocab_.find(one); it != vocab_.end()) byte_ids_[b] = it->second;
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    if (auto it = vocab_.find(std::string_view(buf)); it != vocab_.end()) fallback_ids_[b] = it->second;
  }
}

std::optional<TokenId> BpeModel::lookup(std::string_view s) const {
  auto it = vocab_.find(s);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

void BpeModel::initial_symbols(std::string_view word, std::vector<Symbol>& syms) const {
  bool have_unk = false;  // a pending unk (unk_id, unk_len) not yet added
  TokenId unk_id = 0;
  std::uint32_t unk_len = 0;
  auto add = [&](TokenId id, std::uint32_t len) {
    syms.push_back({id, static_cast<std::int32_t>(syms.size()) - 1, -1, len});
  };
  std::string scratch;
  std::size_t i = 0;
  while (i < word.size()) {
    std::size_t clen;
    if (opt_.byte_level) {
      clen = 1;
    } else {
      std::int32_t cp;
      clen = utf8_decode(word, i, cp);
    }
    const bool is_first = i == 0, is_last = i + clen >= word.size();
    std::string_view piece = word.substr(i, clen);
    std::optional<TokenId> id;
    if (opt_.byte_level && opt_.continuing_subword_prefix.empty() && opt_.end_of_word_suffix.empty()) {
      TokenId b = byte_ids_[static_cast<unsigned char>(word[i])];
      if (b >= 0) id = b;
    } else {
      std::string_view key = piece;
      if ((!is_first && !opt_.continuing_subword_prefix.empty()) || (is_last && !opt_.end_of_word_suffix.empty())) {
        scratch.clear();
        if (!is_first) scratch += opt_.continuing_subword_prefix;
        scratch += piece;
        if (is_last) scratch += opt_.end_of_word_suffix;
        key = scratch;
      }
      id = lookup(key);
    }
    if (id) {
      if (have_unk) {
        add(unk_id, unk_len);
        have_unk = false;
      }
      add(*id, static_cast<std::uint32_t>(clen));
    } else {
      bool done = false;
      if (opt_.byte_fallback) {
        bool all = true;
        for (char c : piece) all = all && fallback_ids_[static_cast<unsigned char>(c)] >= 0;
        if (all) {
          // HF pushes the byte tokens without flushing a pending unk first; keep that order.
          for (char c : piece) add(fallback_ids_[static_cast<unsigned char>(c)], 1);
          done = true;
        }
      }
      if (!done && opt_.unk_id) {
        if (have_unk && opt_.fuse_unk) {
          unk_len += static_cast<std::uint32_t>(clen);
        } else {
          if (have_unk) add(unk_id, unk_len);
          have_unk = true;
          unk_id = *opt_.unk_id;
          unk_len = static_cast<std::uint32_t>(clen);
        }
      }
      // Without an unk token HF fails the whole encode; we drop the character instead.
    }
    i += clen;
  }
  if (have_unk) add(unk_id, unk_len);
  if (!syms.empty()) {
    for (std::size_t k = 0; k + 1 < syms.size(); ++k) syms[k].next = static_cast<std::int32_t>(k + 1);
  }
}

void BpeModel::merge_all(std::vector<Symbol>& syms) const {
  struct Entry {
    std::int32_t rank;
    std::int32_t pos;
    TokenId new_id;
    bool operator>(const Entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue;
  auto find = [&](TokenId a, TokenId b) -> const MergeInfo* {
    auto it = merges_.find(pair_key(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  };
  for (std::size_t k = 0; k + 1 < syms.size(); ++k) {
    if (const MergeInfo* m = find(syms[k].id, syms[k + 1].id))
      queue.push({m->rank, static_cast<std::int32_t>(k), m->result});
  }
  while (!queue.empty()) {
    Entry top = queue.top();
    queue.pop();
    Symbol& cur = syms[top.pos];
    if (cur.len == 0 || cur.next == -1) continue;
    const std::int32_t next_pos = cur.next;
    const Symbol right = syms[next_pos];
    const MergeInfo* m = find(cur.id, right.id);
    if (!m || m->result != top.new_id) continue;  // stale entry
    cur.id = top.new_id;
    cur.len += right.len;
    cur.next = right.next;
    syms[next_pos].len = 0;
    if (right.next >= 0) syms[right.next].prev = top.pos;
    if (cur.prev >= 0) {
      if (const MergeInfo* pm = find(syms[cur.prev].id, cur.id)) queue.push({pm->rank, cur.prev, pm->result});
    }
    if (cur.next >= 0) {
      if (const MergeInfo* nm = find(cur.id, syms[cur.next].id)) queue.push({nm->rank, top.pos, nm->result});
    }
  }
}

void BpeModel::encode_word(std::string_view word, std::vector<TokenId>& out) const {
  if (word.empty()) return;
  if (opt_.ignore_merges) {
    if (auto id = lookup(word)) {
      out.push_back(*id);
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  Shard* shard = nullptr;
  if (cacheable) {
    shard = &cache_[StrHash{}(word) % kShards];
    std::lock_guard<std::mutex> lock(shard->mu);
    if (auto it = shard->map.find(word); it != shard->map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  thread_local std::vector<Symbol> syms;
  syms.clear();
  initial_symbols(word, syms);
  if (syms.size() > 1) merge_all(syms);
  const std::size_t start = out.size();
  for (const Symbol& s : syms)
    if (s.len != 0) out.push_back(s.id);
  if (cacheable) {
    std::vector<TokenId> ids(out.begin() + static_cast<std::ptrdiff_t>(start), out.end());
    std::lock_guard<std::mutex> lock(shard->mu);
    if (shard->map.size() >= kShardCapacity) shard->map.clear();
    shard->map.emplace(std::string(word), std::move(ids));
  }
}

}  // namespace reval::tok
