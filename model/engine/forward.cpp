// StepPlan and ForwardPass (see forward.hpp).
#include "model/engine/forward.hpp"

#include <algorithm>
#include <cmath>

#include "base/error.hpp"

namespace reval::engine {

// ---------------------------------------------------------------------------------------------------------------
// StepPlan

void StepPlan::clear() {
  token_ids.clear();
  positions.clear();
  slots.clear();
  query_start.assign(1, 0);
  context_lens.clear();
  block_tables.clear();
  table_stride = 0;
  logits_rows.clear();
  samples.clear();
  block_copies.clear();
}

int StepPlan::add_sequence(std::span<const std::int32_t> tokens, std::int64_t first_position,
                           std::span<const std::int32_t> table, int block_size, bool last_logits) {
  if (query_start.empty()) query_start.push_back(0);
  const std::int64_t n = static_cast<std::int64_t>(tokens.size());
  const std::int64_t context = first_position + n;
  const std::int64_t need_blocks = (context + block_size - 1) / block_size;
  if (n <= 0) throw Error("step plan: a sequence without new tokens");
  if (static_cast<std::int64_t>(table.size()) < need_blocks)
    throw Error("step plan: block table too short for " + std::to_string(context) + " positions");
  // Widen the table stride if this sequence needs more columns than the ones before.
  if (need_blocks > table_stride) {
    const std::int64_t old = table_stride, s = static_cast<std::int64_t>(context_lens.size());
    std::vector<std::int32_t> wider(static_cast<std::size_t>(s * need_blocks), 0);
    for (std::int64_t r = 0; r < s; ++r)
      std::copy_n(block_tables.begin() + r * old, old, wider.begin() + r * need_blocks);
    block_tables = std::move(wider);
    table_stride = need_blocks;
  }
  const std::size_t row0 = block_tables.size();
  block_tables.resize(row0 + static_cast<std::size_t>(table_stride), 0);
  std::copy_n(table.begin(), need_blocks, block_tables.begin() + static_cast<std::ptrdiff_t>(row0));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t p = first_position + i;
    token_ids.push_back(tokens[static_cast<std::size_t>(i)]);
    positions.push_back(static_cast<std::int32_t>(p));
    slots.push_back(table[static_cast<std::size_t>(p / block_size)] * block_size + static_cast<std::int32_t>(p % block_size));
  }
  query_start.push_back(static_cast<std::int32_t>(token_ids.size()));
  context_lens.push_back(static_cast<std::int32_t>(context));
  if (!last_logits) return -1;
  logits_rows.push_back(static_cast<std::int32_t>(token_ids.size() - 1));
  return static_cast<int>(logits_rows.size() - 1);
}

int StepPlan::add_all_logits_of_last_sequence() {
  const int s = n_seqs();
  if (s == 0) throw Error("step plan: no sequence");
  const int first = static_cast<int>(logits_rows.size());
  for (std::int32_t r = query_start[static_cast<std::size_t>(s - 1)]; r < query_start[static_cast<std::size_t>(s)]; ++r)
    logits_rows.push_back(r);
  return first;
}

// ---------------------------------------------------------------------------------------------------------------
// ForwardPass

void* ForwardPass::buffer(std::size_t bytes) {
  void* p = ops_.alloc(bytes);
  buffers_.push_back(p);
  return p;
}

ForwardPass::ForwardPass(std::shared_ptr<const Model> model, DeviceOps& ops, KvCache& kv, const ForwardLimits& limits)
    : model_(std::move(model)), ops_(ops), kv_(kv), limits_(limits) {
  const ModelConfig& c = model_->config();
  if (limits_.max_tokens <= 0 || limits_.max_seqs <= 0 || limits_.max_logits_rows <= 0 || limits_.max_sample_rows <= 0)
    throw Error("forward pass: limits must be positive");
  if (limits_.max_blocks_per_seq <= 0) limits_.max_blocks_per_seq = kv.layout().num_blocks;
  limits_.max_block_copies = std::max<std::int64_t>(1, limits_.max_block_copies);
  try {
    for (const LayerWeights& L : model_->layers()) {
      Layer d;
      d.attn_norm = ops_.upload_vector(L.attn_norm);
      d.mlp_norm = ops_.upload_vector(L.mlp_norm);
      d.q_bias = ops_.upload_vector(L.q_bias);
      d.k_bias = ops_.upload_vector(L.k_bias);
      d.v_bias = ops_.upload_vector(L.v_bias);
      d.q_norm = ops_.upload_vector(L.q_norm);
      d.k_norm = ops_.upload_vector(L.k_norm);
      d.q = ops_.upload_weight(L.q);
      d.k = ops_.upload_weight(L.k);
      d.v = ops_.upload_weight(L.v);
      d.o = ops_.upload_weight(L.o);
      d.gate = ops_.upload_weight(L.gate);
      d.up = ops_.upload_weight(L.up);
      d.down = ops_.upload_weight(L.down);
      layers_.push_back(d);
    }
    embed_ = ops_.upload_weight(model_->embedding());
    lm_head_ = model_->lm_head().data == model_->embedding().data ? embed_ : ops_.upload_weight(model_->lm_head());
    final_norm_ = ops_.upload_vector(model_->final_norm());
    inv_freq_ = ops_.upload_vector(model_->inv_freq());

    const std::size_t T = static_cast<std::size_t>(limits_.max_tokens), S = static_cast<std::size_t>(limits_.max_seqs);
    const std::size_t R = static_cast<std::size_t>(limits_.max_logits_rows);
    const std::size_t N = static_cast<std::size_t>(limits_.max_sample_rows);
    const std::size_t B = static_cast<std::size_t>(limits_.max_blocks_per_seq);
    const std::size_t C = static_cast<std::size_t>(limits_.max_block_copies);
    const std::size_t i32 = sizeof(std::int32_t), f32 = sizeof(float);
    const std::size_t act = kernels::dtype_size(ops_.activation_dtype());
    const std::size_t H = static_cast<std::size_t>(c.hidden_size), hd = static_cast<std::size_t>(c.head_dim);
    const std::size_t nq = static_cast<std::size_t>(c.num_heads) * hd, nkv = static_cast<std::size_t>(c.num_kv_heads) * hd;
    const std::size_t I = static_cast<std::size_t>(c.intermediate_size), V = static_cast<std::size_t>(c.vocab_size);
    d_ids_ = static_cast<std::int32_t*>(buffer(T * i32));
    d_pos_ = static_cast<std::int32_t*>(buffer(T * i32));
    d_slots_ = static_cast<std::int32_t*>(buffer(T * i32));
    d_qstart_ = static_cast<std::int32_t*>(buffer((S + 1) * i32));
    d_ctx_ = static_cast<std::int32_t*>(buffer(S * i32));
    d_tables_ = static_cast<std::int32_t*>(buffer(S * B * i32));
    d_lrows_ = static_cast<std::int32_t*>(buffer(R * i32));
    d_copies_ = static_cast<std::int32_t*>(buffer(2 * C * i32));
    d_sampled_ = static_cast<std::int32_t*>(buffer(N * i32));
    d_samples_ = static_cast<SampleRow*>(buffer(N * sizeof(SampleRow)));
    x_ = static_cast<float*>(buffer(T * H * f32));
    cos_ = static_cast<float*>(buffer(T * (hd / 2) * f32));
    sin_ = static_cast<float*>(buffer(T * (hd / 2) * f32));
    logits_ = static_cast<float*>(buffer(R * V * f32));
    h_ = buffer(T * H * act);
    q_ = buffer(T * nq * act);
    k_ = buffer(T * nkv * act);
    v_ = buffer(T * nkv * act);
    att_ = buffer(T * nq * act);
    gate_ = buffer(T * I * act);
    up_ = buffer(T * I * act);
    normed_ = buffer(R * H * act);
  } catch (...) {
    for (void* p : buffers_) ops_.free(p);
    throw;
  }
}

ForwardPass::~ForwardPass() {
  for (void* p : buffers_) ops_.free(p);
}

void ForwardPass::run(const StepPlan& p, std::vector<TokenId>& sampled, std::vector<float>* logits_out) {
  const ModelConfig& c = model_->config();
  const std::int64_t M = p.n_tokens(), S = p.n_seqs();
  const std::int64_t R = static_cast<std::int64_t>(p.logits_rows.size());
  const std::int64_t N = static_cast<std::int64_t>(p.samples.size());
  const std::int64_t C = static_cast<std::int64_t>(p.block_copies.size() / 2);
  sampled.clear();
  if (M == 0 && C == 0) return;
  // Validate everything before touching the device.
  auto over = [](const char* what, std::int64_t n, std::int64_t cap) {
    if (n > cap)
      throw Error(std::string("forward pass: ") + what + " " + std::to_string(n) + " exceed the capacity " +
                  std::to_string(cap));
  };
  over("tokens", M, limits_.max_tokens);
  over("sequences", S, limits_.max_seqs);
  over("logits rows", R, limits_.max_logits_rows);
  over("sample rows", N, limits_.max_sample_rows);
  over("block copies", C, limits_.max_block_copies);

  if (static_cast<std::int64_t>(p.positions.size()) != M || static_cast<std::int64_t>(p.slots.size()) != M ||
      (p.query_start.empty() ? M != 0 : static_cast<std::int64_t>(p.query_start.size()) != S + 1 ||
                                           p.query_start.back() != M) ||
      static_cast<std::int64_t>(p.block_tables.size()) != S * p.table_stride)
    throw Error("forward pass: inconsistent step plan");
  const std::int64_t V = c.vocab_size;
  for (std::int32_t t : p.token_ids)
    if (t < 0 || t >= V)
      throw Error("forward: token id " + std::to_string(t) + " out of range [0, " + std::to_string(V) + ")");
  const std::int64_t num_blocks = kv_.layout().num_blocks;
  for (std::int32_t b : p.block_tables)
    if (b < 0 || b >= num_blocks) throw Error("forward pass: block id out of range");
  for (std::int32_t b : p.block_copies)
    if (b < 0 || b >= num_blocks) throw Error("forward pass: block copy out of range");
  for (std::int32_t r : p.logits_rows)
    if (r < 0 || r >= M) throw Error("forward pass: logits row out of range");
  for (const SampleRow& s : p.samples)
    if (s.logits_row < 0 || s.logits_row >= R || s.n_valid <= 0 || s.n_valid > V)
      throw Error("forward pass: bad sample row");
  std::int32_t max_ctx = 0, max_q = 0;
  for (std::int64_t s = 0; s < S; ++s) {
    max_ctx = std::max(max_ctx, p.context_lens[static_cast<std::size_t>(s)]);
    max_q = std::max(max_q, p.query_start[static_cast<std::size_t>(s + 1)] - p.query_start[static_cast<std::size_t>(s)]);
  }

  constexpr std::size_t i32 = sizeof(std::int32_t);
  if (p.table_stride > limits_.max_blocks_per_seq) {
    // A sequence longer than the tables were sized for: widen them (the only buffer that can move; a device that
    // captured steps must capture again).
    const std::int64_t wider = std::max(p.table_stride, 2 * limits_.max_blocks_per_seq);
    void* fresh = ops_.alloc(static_cast<std::size_t>(limits_.max_seqs * wider) * i32);
    std::replace(buffers_.begin(), buffers_.end(), static_cast<void*>(d_tables_), fresh);
    ops_.free(d_tables_);
    d_tables_ = static_cast<std::int32_t*>(fresh);
    limits_.max_blocks_per_seq = wider;
  }
  if (C > 0) {
    ops_.upload(d_copies_, p.block_copies.data(), static_cast<std::size_t>(2 * C) * i32);
    ops_.copy_blocks(kv_.pool(), d_copies_, C);
  }
  if (M == 0) return;
  ops_.upload(d_ids_, p.token_ids.data(), static_cast<std::size_t>(M) * i32);
  ops_.upload(d_pos_, p.positions.data(), static_cast<std::size_t>(M) * i32);
  ops_.upload(d_slots_, p.slots.data(), static_cast<std::size_t>(M) * i32);
  ops_.upload(d_qstart_, p.query_start.data(), static_cast<std::size_t>(S + 1) * i32);
  ops_.upload(d_ctx_, p.context_lens.data(), static_cast<std::size_t>(S) * i32);
  ops_.upload(d_tables_, p.block_tables.data(), p.block_tables.size() * i32);
  if (R > 0) ops_.upload(d_lrows_, p.logits_rows.data(), static_cast<std::size_t>(R) * i32);
  if (N > 0) ops_.upload(d_samples_, p.samples.data(), static_cast<std::size_t>(N) * sizeof(SampleRow));

  BatchView batch;
  batch.n_seqs = static_cast<int>(S);
  batch.n_tokens = M;
  batch.token_ids = d_ids_;
  batch.positions = d_pos_;
  batch.slots = d_slots_;
  batch.query_start = d_qstart_;
  batch.context_lens = d_ctx_;
  batch.block_tables = d_tables_;
  batch.table_stride = p.table_stride;
  batch.max_context_len = max_ctx;
  batch.max_query_len = max_q;

  const std::int64_t H = c.hidden_size, hd = c.head_dim, half = hd / 2;
  const std::int64_t nq = c.num_heads * hd, nkv = c.num_kv_heads * hd, I = c.intermediate_size;
  const int heads = static_cast<int>(c.num_heads), kv_heads = static_cast<int>(c.num_kv_heads);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const float eps = static_cast<float>(c.rms_norm_eps);

  ops_.embedding(embed_, d_ids_, M, x_);
  ops_.rope_tables(d_pos_, M, inv_freq_, static_cast<int>(half), cos_, sin_);
  const std::size_t L = layers_.size();
  if (L > 0) ops_.rmsnorm(x_, M, H, H, layers_[0].attn_norm, eps, h_, H);
  for (std::size_t l = 0; l < L; ++l) {
    const Layer& w = layers_[l];
    ops_.linear(h_, M, H, H, w.q, w.q_bias, q_, nq);
    ops_.linear(h_, M, H, H, w.k, w.k_bias, k_, nkv);
    ops_.linear(h_, M, H, H, w.v, w.v_bias, v_, nkv);
    if (w.q_norm) {
      ops_.rmsnorm_inplace(q_, M * heads, hd, hd, w.q_norm, eps);
      ops_.rmsnorm_inplace(k_, M * kv_heads, hd, hd, w.k_norm, eps);
    }
    ops_.rope(q_, M, heads, static_cast<int>(hd), nq, cos_, sin_);
    ops_.rope(k_, M, kv_heads, static_cast<int>(hd), nkv, cos_, sin_);
    const KvLayerView cache = kv_.layer(static_cast<std::int64_t>(l));
    ops_.store_kv(k_, v_, nkv, M, nkv, d_slots_, cache);
    ops_.attention(q_, nq, heads, kv_heads, static_cast<int>(hd), cache, batch, scale, att_, nq);
    ops_.linear(att_, M, nq, nq, w.o, nullptr, h_, H);
    ops_.add_rmsnorm(x_, h_, M, H, w.mlp_norm, eps, h_);
    ops_.linear(h_, M, H, H, w.gate, nullptr, gate_, I);
    ops_.linear(h_, M, H, H, w.up, nullptr, up_, I);
    ops_.silu_mul(gate_, up_, M * I, gate_);
    ops_.linear(gate_, M, I, I, w.down, nullptr, h_, H);
    if (l + 1 < L)
      ops_.add_rmsnorm(x_, h_, M, H, layers_[l + 1].attn_norm, eps, h_);
    else
      ops_.add(x_, h_, M * H);
  }
  if (R == 0) return;
  ops_.rmsnorm_rows(x_, H, d_lrows_, R, H, final_norm_, eps, normed_, H);
  ops_.logits(normed_, R, H, H, lm_head_, logits_, V);
  if (N > 0) {
    ops_.sample(logits_, V, d_samples_, N, d_sampled_);
    sampled.resize(static_cast<std::size_t>(N));
    ops_.download(sampled.data(), d_sampled_, static_cast<std::size_t>(N) * i32);
  }
  if (logits_out) {
    logits_out->resize(static_cast<std::size_t>(R * V));
    ops_.download(logits_out->data(), logits_, logits_out->size() * sizeof(float));
  }
}

}  // namespace reval::engine
