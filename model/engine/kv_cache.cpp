// KvLayout, KvCache and BlockPool (see kv_cache.hpp).
#include "model/engine/kv_cache.hpp"

#include <algorithm>

#include "base/error.hpp"
#include "kernels/counter_rng.hpp"

namespace reval::engine {

std::size_t KvLayout::block_bytes() const {
  return static_cast<std::size_t>(layers) * 2 * static_cast<std::size_t>(block_elems()) * kernels::dtype_size(dtype);
}

KvLayout KvLayout::fit(const ModelConfig& c, int block_size, kernels::DType dtype, std::size_t budget_bytes) {
  if (block_size <= 0) throw Error("KV cache: block size must be positive");
  KvLayout l;
  l.layers = c.num_layers;
  l.kv_heads = c.num_kv_heads;
  l.head_dim = c.head_dim;
  l.block_size = block_size;
  l.dtype = dtype;
  const std::size_t per = l.block_bytes();
  const std::size_t n = per ? budget_bytes / per : 0;
  l.num_blocks = static_cast<std::int32_t>(std::min<std::size_t>(n, 0x7fffffff / static_cast<std::size_t>(block_size)));
  return l;
}

KvCache::KvCache(DeviceOps& ops, const KvLayout& layout) : ops_(ops), layout_(layout) {
  if (layout.num_blocks <= 0) throw Error("KV cache: no blocks");
  base_ = ops_.alloc(layout.total_bytes());
}

KvCache::~KvCache() { ops_.free(base_); }

KvLayerView KvCache::layer(std::int64_t l) const {
  const std::size_t esz = kernels::dtype_size(layout_.dtype);
  const std::int64_t plane = static_cast<std::int64_t>(layout_.num_blocks) * layout_.block_elems();
  char* b = static_cast<char*>(base_);
  KvLayerView v;
  v.k = b + static_cast<std::size_t>(2 * l * plane) * esz;
  v.v = b + static_cast<std::size_t>((2 * l + 1) * plane) * esz;
  v.block_stride = layout_.block_elems();
  v.token_stride = layout_.token_elems();
  v.block_size = layout_.block_size;
  return v;
}

KvPoolView KvCache::pool() const {
  KvPoolView p;
  p.base = base_;
  p.planes = static_cast<int>(2 * layout_.layers);
  p.plane_stride = static_cast<std::int64_t>(layout_.num_blocks) * layout_.block_elems();
  p.block_stride = layout_.block_elems();
  return p;
}

// ---------------------------------------------------------------------------------------------------------------
// BlockPool

BlockPool::BlockPool(std::int32_t num_blocks, int block_size, bool prefix_cache)
    : block_size_(block_size), prefix_cache_(prefix_cache) {
  if (num_blocks <= 0) throw Error("KV cache: the pool needs at least one block");
  if (block_size <= 0) throw Error("KV cache: block size must be positive");
  const auto n = static_cast<std::size_t>(num_blocks);
  refs_.assign(n, 0);
  hash_.assign(n, 0);
  cached_.assign(n, 0);
  empty_.reserve(n);
  for (std::int32_t b = num_blocks - 1; b >= 0; --b) empty_.push_back(b);
  prev_.assign(n + 1, num_blocks);
  next_.assign(n + 1, num_blocks);
}

void BlockPool::lru_push_back(std::int32_t b) {
  const std::int32_t s = num_blocks();
  const std::int32_t last = prev_[static_cast<std::size_t>(s)];
  prev_[static_cast<std::size_t>(b)] = last;
  next_[static_cast<std::size_t>(b)] = s;
  next_[static_cast<std::size_t>(last)] = b;
  prev_[static_cast<std::size_t>(s)] = b;
  ++lru_size_;
}

void BlockPool::lru_remove(std::int32_t b) {
  const std::int32_t p = prev_[static_cast<std::size_t>(b)], n = next_[static_cast<std::size_t>(b)];
  next_[static_cast<std::size_t>(p)] = n;
  prev_[static_cast<std::size_t>(n)] = p;
  prev_[static_cast<std::size_t>(b)] = next_[static_cast<std::size_t>(b)] = num_blocks();
  --lru_size_;
}

void BlockPool::uncache(std::int32_t b) {
  const auto i = static_cast<std::size_t>(b);
  if (!cached_[i]) return;
  auto it = by_hash_.find(hash_[i]);
  if (it != by_hash_.end() && it->second == b) by_hash_.erase(it);
  cached_[i] = 0;
  content_.erase(b);
}

std::int32_t BlockPool::allocate() {
  std::int32_t b = -1;
  if (!empty_.empty()) {
    b = empty_.back();
    empty_.pop_back();
  } else if (lru_size_ > 0) {
    b = next_[static_cast<std::size_t>(num_blocks())];  // least recently released
    lru_remove(b);
    uncache(b);
    ++evictions_;
  } else {
    return -1;
  }
  refs_[static_cast<std::size_t>(b)] = 1;
  ++used_;
  peak_used_ = std::max(peak_used_, used_);
  return b;
}

void BlockPool::acquire(std::int32_t b) {
  std::int32_t& r = refs_[static_cast<std::size_t>(b)];
  if (r == 0) {
    if (!cached_[static_cast<std::size_t>(b)]) throw Error("KV cache: acquire of a free, uncached block");
    lru_remove(b);
    ++used_;
    peak_used_ = std::max(peak_used_, used_);
  }
  ++r;
}

void BlockPool::release(std::int32_t b) {
  std::int32_t& r = refs_[static_cast<std::size_t>(b)];
  if (r <= 0) throw Error("KV cache: release of a free block " + std::to_string(b));
  if (--r > 0) return;
  --used_;
  if (cached_[static_cast<std::size_t>(b)])
    lru_push_back(b);
  else
    empty_.push_back(b);
}

std::uint64_t BlockPool::chain_hash(std::uint64_t parent, std::span<const std::int32_t> tokens) {
  std::uint64_t h = kernels::mix64(parent ^ 0x243f6a8885a308d3ULL);
  for (std::int32_t t : tokens) h = kernels::mix64(h ^ (static_cast<std::uint64_t>(static_cast<std::uint32_t>(t)) +
                                                        0x9e3779b97f4a7c15ULL));
  return h;
}

std::int32_t BlockPool::lookup(std::uint64_t hash, std::uint64_t parent, std::span<const std::int32_t> tokens) const {
  if (!prefix_cache_) return -1;
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return -1;
  auto c = content_.find(it->second);
  if (c == content_.end() || c->second.parent != parent ||
      !std::equal(tokens.begin(), tokens.end(), c->second.tokens.begin(), c->second.tokens.end()))
    return -1;
  return it->second;
}

void BlockPool::register_full(std::int32_t b, std::uint64_t hash, std::uint64_t parent,
                              std::span<const std::int32_t> tokens) {
  if (!prefix_cache_) return;
  const auto i = static_cast<std::size_t>(b);
  if (cached_[i] || by_hash_.count(hash)) return;
  if (refs_[i] <= 0) throw Error("KV cache: registering a free block");
  cached_[i] = 1;
  hash_[i] = hash;
  content_[b] = Cached{parent, std::vector<std::int32_t>(tokens.begin(), tokens.end())};
  by_hash_.emplace(hash, b);
}

void BlockPool::check() const {
  const std::int32_t n = num_blocks();
  std::int32_t used = 0;
  std::vector<char> seen(static_cast<std::size_t>(n), 0);
  for (std::int32_t b = 0; b < n; ++b) {
    if (refs_[static_cast<std::size_t>(b)] < 0) throw Error("KV check: negative refcount at " + std::to_string(b));
    if (refs_[static_cast<std::size_t>(b)] > 0) ++used;
  }
  if (used != used_) throw Error("KV check: used count " + std::to_string(used_) + " != " + std::to_string(used));
  for (std::int32_t b : empty_) {
    if (refs_[static_cast<std::size_t>(b)] != 0 || cached_[static_cast<std::size_t>(b)] || seen[b]++)
      throw Error("KV check: bad empty-list entry " + std::to_string(b));
  }
  std::int32_t lru = 0;
  for (std::int32_t b = next_[static_cast<std::size_t>(n)]; b != n; b = next_[static_cast<std::size_t>(b)]) {
    if (refs_[static_cast<std::size_t>(b)] != 0 || !cached_[static_cast<std::size_t>(b)] || seen[b]++)
      throw Error("KV check: bad LRU entry " + std::to_string(b));
    if (++lru > n) throw Error("KV check: LRU cycle");
  }
  if (lru != lru_size_) throw Error("KV check: LRU size mismatch");
  if (static_cast<std::int32_t>(empty_.size()) + lru + used != n)
    throw Error("KV check: free + evictable + used != blocks (" + std::to_string(empty_.size()) + " + " +
                std::to_string(lru) + " + " + std::to_string(used) + " != " + std::to_string(n) + ")");
  for (const auto& [h, b] : by_hash_)
    if (!cached_[static_cast<std::size_t>(b)] || hash_[static_cast<std::size_t>(b)] != h || !content_.count(b))
      throw Error("KV check: hash map entry does not match its block");
  if (content_.size() != by_hash_.size()) throw Error("KV check: cached contents and hash map disagree");
}

}  // namespace reval::engine
