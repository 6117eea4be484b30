// BlockPool bookkeeping: reference counts, exhaustion, the free list, prefix-cache registration and lookup (hash,
// parent and tokens must all match), LRU eviction of released cached blocks from the least recently released,
// and the invariant checker catching a corrupted state. KvLayout sizing from a memory budget.
#include <gtest/gtest.h>

#include <vector>

#include "base/error.hpp"
#include "model/engine/cpu_ops.hpp"
#include "model/engine/kv_cache.hpp"

namespace reval::engine {
namespace {

std::vector<std::int32_t> toks(std::int32_t base, int n = 4) {
  std::vector<std::int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(base + i);
  return t;
}

TEST(BlockPool, AllocateShareReleaseAndExhaust) {
  BlockPool p(3, 4, false);
  EXPECT_EQ(p.free(), 3);
  const auto a = p.allocate(), b = p.allocate(), c = p.allocate();
  EXPECT_EQ(a, 0);  // lowest ids first
  EXPECT_EQ(b, 1);
  EXPECT_EQ(c, 2);
  EXPECT_EQ(p.allocate(), -1);
  EXPECT_EQ(p.used(), 3);
  p.acquire(b);
  EXPECT_EQ(p.refs(b), 2);
  p.release(b);
  EXPECT_EQ(p.used(), 3);
  p.release(b);
  EXPECT_EQ(p.used(), 2);
  EXPECT_EQ(p.free(), 1);
  EXPECT_EQ(p.allocate(), b);  // a released block is reused
  EXPECT_EQ(p.peak_used(), 3);
  p.check();
  p.release(a);
  p.release(b);
  p.release(c);
  EXPECT_EQ(p.used(), 0);
  EXPECT_THROW(p.release(a), Error);  // double release is caught
  p.check();
}

TEST(BlockPool, PrefixCacheLookupNeedsHashParentAndTokens) {
  BlockPool p(4, 4, true);
  const auto t0 = toks(10), t1 = toks(20);
  const std::uint64_t h0 = BlockPool::chain_hash(0, t0), h1 = BlockPool::chain_hash(h0, t1);
  EXPECT_NE(h0, BlockPool::chain_hash(1, t0)) << "the parent is part of the hash";
  EXPECT_NE(h0, BlockPool::chain_hash(0, toks(11)));
  const auto a = p.allocate(), b = p.allocate();
  p.register_full(a, h0, 0, t0);
  p.register_full(b, h1, h0, t1);
  EXPECT_EQ(p.cached(), 2);
  EXPECT_EQ(p.lookup(h0, 0, t0), a);
  EXPECT_EQ(p.lookup(h1, h0, t1), b);
  EXPECT_EQ(p.lookup(h1, 0, t1), -1) << "wrong parent";
  EXPECT_EQ(p.lookup(h0, 0, toks(11)), -1) << "same hash claimed for other tokens (a collision) is refused";
  // A second block with the same contents is not registered twice.
  const auto dup = p.allocate();
  p.register_full(dup, h0, 0, t0);
  EXPECT_EQ(p.cached(), 2);
  EXPECT_FALSE(p.is_cached(dup));
  // Released cached blocks stay found (evictable) and can be taken back.
  p.release(a);
  EXPECT_EQ(p.evictable(), 1);
  EXPECT_EQ(p.free(), 2);
  EXPECT_EQ(p.lookup(h0, 0, t0), a);
  p.acquire(a);
  EXPECT_EQ(p.evictable(), 0);
  EXPECT_EQ(p.refs(a), 1);
  p.check();
  // Disabled cache: nothing registered, nothing found.
  BlockPool off(2, 4, false);
  const auto x = off.allocate();
  off.register_full(x, h0, 0, t0);
  EXPECT_EQ(off.cached(), 0);
  EXPECT_EQ(off.lookup(h0, 0, t0), -1);
}

TEST(BlockPool, EvictsLeastRecentlyReleasedCachedBlocksLast) {
  BlockPool p(3, 2, true);
  std::vector<std::int32_t> blocks;
  std::vector<std::uint64_t> hashes;
  std::uint64_t parent = 0;
  for (int i = 0; i < 3; ++i) {
    blocks.push_back(p.allocate());
    const auto t = toks(100 * i, 2);
    hashes.push_back(BlockPool::chain_hash(parent, t));
    p.register_full(blocks.back(), hashes.back(), parent, t);
    parent = hashes.back();
  }
  // Release the chain tail first (as a sequence does), so the head is the most recently released.
  for (int i = 2; i >= 0; --i) p.release(blocks[i]);
  EXPECT_EQ(p.free(), 3);
  EXPECT_EQ(p.evictable(), 3);
  EXPECT_EQ(p.allocate(), blocks[2]);  // the tail goes first
  EXPECT_EQ(p.evictions(), 1);
  EXPECT_EQ(p.lookup(hashes[2], hashes[1], toks(200, 2)), -1) << "evicted blocks are forgotten";
  EXPECT_EQ(p.lookup(hashes[0], 0, toks(0, 2)), blocks[0]) << "the head survives";
  EXPECT_EQ(p.cached(), 2);
  p.check();
}

TEST(KvLayout, FitsTheBudget) {
  ModelConfig c;
  c.num_layers = 2;
  c.num_kv_heads = 4;
  c.head_dim = 32;
  auto l = KvLayout::fit(c, 16, kernels::DType::f32, 1 << 20);
  EXPECT_EQ(l.block_bytes(), 2u * 2 * 16 * 4 * 32 * 4);  // layers x K/V x positions x kv heads x head dim x fp32
  EXPECT_EQ(l.num_blocks, static_cast<std::int32_t>((1 << 20) / l.block_bytes()));
  EXPECT_LE(l.total_bytes(), 1u << 20);
  EXPECT_EQ(KvLayout::fit(c, 16, kernels::DType::f32, 100).num_blocks, 0);
  CpuOps ops(1);
  KvCache kv(ops, l);
  const auto l0 = kv.layer(0), l1 = kv.layer(1);
  EXPECT_EQ(l0.block_stride, 16 * 4 * 32);
  EXPECT_EQ(l0.token_stride, 4 * 32);
  EXPECT_EQ(static_cast<char*>(l0.v) - static_cast<char*>(l0.k),
            static_cast<std::ptrdiff_t>(l.num_blocks) * l0.block_stride * 4);
  EXPECT_EQ(static_cast<char*>(l1.k) - static_cast<char*>(l0.v), static_cast<char*>(l0.v) - static_cast<char*>(l0.k));
  EXPECT_EQ(kv.pool().planes, 4);
}

}  // namespace
}  // namespace reval::engine
