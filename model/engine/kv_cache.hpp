// The paged KV cache: a pool of fixed-size blocks in device memory (KvCache) and their host-side bookkeeping
// (BlockPool: reference counts, free list, prefix cache with LRU eviction).
//
// Theory of operation. Every sequence owns a block table: the ids of the blocks holding its positions in order
// (position p lives in block table[p / block_size], row p % block_size). Blocks are reference counted so that
// several sequences can hold the same block: the k samples of one prompt hold the prompt's blocks together, and a
// later request whose prompt starts with the same tokens holds blocks that are still cached. Only a block's last
// holder may write into it; a sequence about to write into a shared, partially filled block first takes a copy of
// it (copy-on-write; the scheduler schedules the copy).
//
// Prefix cache: when a block fills up, its identity is a chained hash of its tokens and the hash of the block
// before it (so a hash names the whole prefix up to and including the block). BlockPool keeps hash -> block for
// full blocks; a lookup also compares the stored tokens and parent hash, so a 64-bit collision can never hand out
// wrong keys/values. A block whose last holder lets go stays cached but becomes evictable: it is appended to an
// LRU list and handed out again, unregistered, only when no never-used or released uncached block is left. A
// sequence releases its blocks last-to-first, so a prefix chain is evicted from its tail.
//
// Block size: 16 positions (EngineOptions::block_size). Small enough that the rounding waste of a sequence (its
// last, partial block) and the copy-on-write of a shared partial prompt block stay under 16 positions, and prefix
// hits have 16-token granularity; large enough that a block row of a 1.5B model (28 layers x K/V x 16 x 256 fp32
// values = 896 KiB in all layers) is a few contiguous 16 KiB runs per layer, and that block tables stay short
// (2,049 entries for a 32k context). vLLM and SGLang default to the same 16 on GPUs for the same trade-off.
//
// Memory layout of KvCache (one allocation): [layers][K|V][num_blocks][block_size][kv_heads * head_dim] of the
// device's kv dtype, i.e. each (layer, K or V) "plane" is a contiguous array of blocks.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/cpu_kernels.hpp"
#include "model/engine/config.hpp"
#include "model/engine/ops.hpp"

namespace reval::engine {

struct KvLayout {
  std::int64_t layers = 0;
  std::int64_t kv_heads = 0;
  std::int64_t head_dim = 0;
  int block_size = 16;
  std::int32_t num_blocks = 0;
  kernels::DType dtype = kernels::DType::f32;

  std::int64_t token_elems() const { return kv_heads * head_dim; }        // one position, one layer, K or V
  std::int64_t block_elems() const { return block_size * token_elems(); } // one block, one layer, K or V
  // Bytes of one block over all layers, keys and values: the unit the memory budget is divided by.
  std::size_t block_bytes() const;
  std::size_t total_bytes() const { return block_bytes() * static_cast<std::size_t>(num_blocks); }
  // The largest pool that fits budget_bytes for this model (num_blocks may be 0 when not even one block fits).
  static KvLayout fit(const ModelConfig& config, int block_size, kernels::DType dtype, std::size_t budget_bytes);
};

// The pool's device memory.
class KvCache {
 public:
  KvCache(DeviceOps& ops, const KvLayout& layout);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;
  const KvLayout& layout() const { return layout_; }
  KvLayerView layer(std::int64_t l) const;
  KvPoolView pool() const;

 private:
  DeviceOps& ops_;
  KvLayout layout_;
  void* base_ = nullptr;
};

// Host bookkeeping of the pool's blocks. Not thread-safe (the scheduler thread owns it).
class BlockPool {
 public:
  BlockPool(std::int32_t num_blocks, int block_size, bool prefix_cache);

  std::int32_t num_blocks() const { return static_cast<std::int32_t>(refs_.size()); }
  int block_size() const { return block_size_; }
  bool prefix_cache() const { return prefix_cache_; }
  std::int32_t used() const { return used_; }                 // blocks with holders
  std::int32_t free() const { return num_blocks() - used_; }  // allocatable now (never used + evictable cached)
  std::int32_t cached() const { return static_cast<std::int32_t>(by_hash_.size()); }  // registered full blocks
  std::int32_t evictable() const { return lru_size_; }        // cached blocks without holders
  std::int32_t peak_used() const { return peak_used_; }
  std::int64_t evictions() const { return evictions_; }
  void reset_peak() { peak_used_ = used_; }

  // A block with one holder, or -1 when none is free. Prefers never-used/uncached blocks, then evicts the least
  // recently released cached one.
  std::int32_t allocate();
  void acquire(std::int32_t block);  // one more holder (a cached block without holders leaves the LRU list)
  void release(std::int32_t block);  // one holder less; without holders it becomes free (or evictable if cached)
  std::int32_t refs(std::int32_t block) const { return refs_[static_cast<std::size_t>(block)]; }

  // ---- prefix cache ----
  // Hash of a full block: chained over the hash of the block before it (0 for the first block) and its tokens.
  static std::uint64_t chain_hash(std::uint64_t parent, std::span<const std::int32_t> tokens);
  // The cached block holding exactly `tokens` after the prefix named by `parent`, or -1 (also when disabled).
  std::int32_t lookup(std::uint64_t hash, std::uint64_t parent, std::span<const std::int32_t> tokens) const;
  // Registers a just-filled block under `hash` (no-op when disabled or when another block already has the hash).
  void register_full(std::int32_t block, std::uint64_t hash, std::uint64_t parent,
                     std::span<const std::int32_t> tokens);
  bool is_cached(std::int32_t block) const { return cached_[static_cast<std::size_t>(block)] != 0; }

  // Throws reval::Error describing the first inconsistency (counts, lists, map); for tests.
  void check() const;

 private:
  struct Cached {
    std::uint64_t parent = 0;
    std::vector<std::int32_t> tokens;  // the block's tokens
  };
  void lru_push_back(std::int32_t b);
  void lru_remove(std::int32_t b);
  void uncache(std::int32_t b);

  int block_size_;
  bool prefix_cache_;
  std::vector<std::int32_t> refs_;
  std::vector<std::uint64_t> hash_;               // per block, valid while cached
  std::vector<char> cached_;                       // per block
  std::unordered_map<std::int32_t, Cached> content_;  // cached blocks only
  std::vector<std::int32_t> empty_;              // free, uncached (stack: lowest ids on top at start)
  std::vector<std::int32_t> prev_, next_;        // LRU list of evictable blocks (index num_blocks = sentinel)
  std::int32_t lru_size_ = 0;
  std::unordered_map<std::uint64_t, std::int32_t> by_hash_;
  std::int32_t used_ = 0, peak_used_ = 0;
  std::int64_t evictions_ = 0;
};

}  // namespace reval::engine
