// Scheduler (see scheduler.hpp).
#include "model/engine/scheduler.hpp"

#include <algorithm>

#include "base/error.hpp"

namespace reval::engine {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

bool Scheduler::Older::operator()(const Sequence* a, const Sequence* b) const {
  if (a->req->id != b->req->id) return a->req->id < b->req->id;
  if (a->samples.front() != b->samples.front()) return a->samples.front() < b->samples.front();
  return a->id < b->id;
}

Scheduler::Scheduler(BlockPool& pool, const SchedulerOptions& options) : pool_(pool), options_(options) {
  if (options_.max_running <= 0) throw Error("scheduler: max_running must be positive");
  options_.max_step_tokens = std::max<std::int64_t>(options_.max_step_tokens, options_.max_running);
}

Scheduler::~Scheduler() = default;

Sequence* Scheduler::make_sequence(RequestState* req) {
  auto s = std::make_unique<Sequence>();
  s->id = next_seq_id_++;
  s->req = req;
  Sequence* p = s.get();
  seqs_.emplace(p, std::move(s));
  return p;
}

void Scheduler::add(std::shared_ptr<RequestState> request) {
  RequestState& r = *request;
  r.id = next_request_id_++;
  active_.push_back(std::move(request));
  Sequence* s = make_sequence(&r);
  for (std::size_t j = 0; j < r.request.seeds.size(); ++j) s->samples.push_back(static_cast<int>(j));
  s->tokens = r.request.prompt;
  s->privatize = false;
  waiting_.insert(s);
}

void Scheduler::insert_running(Sequence* s) {
  auto it = std::upper_bound(running_.begin(), running_.end(), s, Older());
  running_.insert(it, s);
  s->running = true;
  running_weight_ += s->weight();
  stats_.max_batch_samples = std::max(stats_.max_batch_samples, running_weight_);
}

void Scheduler::remove_running(Sequence* s) {
  auto it = std::find(running_.begin(), running_.end(), s);
  if (it != running_.end()) running_.erase(it);
  s->running = false;
  running_weight_ -= s->weight();
}

void Scheduler::release_blocks(Sequence& s) {
  for (auto it = s.blocks.rbegin(); it != s.blocks.rend(); ++it) pool_.release(*it);
  s.blocks.clear();
  s.copies.clear();
  s.computed = 0;
  s.hashed = 0;
  s.chain = 0;
  s.chunk = 0;
}

void Scheduler::destroy(Sequence* s) {
  if (s->running)
    remove_running(s);
  else
    waiting_.erase(s);
  release_blocks(*s);
  seqs_.erase(s);
}

void Scheduler::preempt(Sequence* s) {
  remove_running(s);
  release_blocks(*s);
  for (int j : s->samples) ++s->req->results[static_cast<std::size_t>(j)].preemptions;
  waiting_.insert(s);
  ++stats_.preemptions;
}

std::int64_t Scheduler::allocate_for(Sequence& s, std::int64_t n) {
  const int bs = pool_.block_size();
  auto cow = [&](std::size_t i) {
    const std::int32_t old = s.blocks[i];
    if (pool_.refs(old) <= 1) return true;
    const std::int32_t fresh = pool_.allocate();
    if (fresh < 0) return false;
    s.copies.push_back(old);
    s.copies.push_back(fresh);
    pool_.release(old);
    s.blocks[i] = fresh;
    ++stats_.block_copies;
    return true;
  };
  if (s.privatize) {
    for (std::size_t i = 0; i < s.blocks.size(); ++i)
      if (!cow(i)) return 0;
    s.privatize = false;
  } else if (s.computed % bs != 0) {
    const auto i = static_cast<std::size_t>(s.computed / bs);
    if (i < s.blocks.size() && !cow(i)) return 0;
  }
  const std::int64_t need_blocks = (s.computed + n + bs - 1) / bs;
  while (static_cast<std::int64_t>(s.blocks.size()) < need_blocks) {
    const std::int32_t b = pool_.allocate();
    if (b < 0) break;
    s.blocks.push_back(b);
  }
  return std::clamp<std::int64_t>(static_cast<std::int64_t>(s.blocks.size()) * bs - s.computed, 0, n);
}

void Scheduler::select(Sequence* s, std::int64_t chunk) {
  s->chunk = chunk;
  step_.push_back(s);
}

bool Scheduler::admit(Sequence* s, std::int64_t& prefill_budget, std::int64_t slots) {
  RequestState& r = *s->req;
  if (s->weight() > slots) {  // only part of a not-yet-forked request fits: the rest waits as its own sequence
    Sequence* rest = make_sequence(&r);
    rest->samples.assign(s->samples.begin() + slots, s->samples.end());
    rest->tokens = s->tokens;
    rest->privatize = s->privatize;
    s->samples.resize(static_cast<std::size_t>(slots));  // keeps its front, so its place in waiting_ holds
    waiting_.insert(rest);
  }
  const int bs = pool_.block_size();
  const std::int64_t len = static_cast<std::int64_t>(s->tokens.size());
  std::vector<std::int32_t> hits;
  std::uint64_t chain = 0;
  if (pool_.prefix_cache()) {
    const std::int64_t max_hits = (len - 1) / bs;  // at least one token is computed, for the logits
    for (std::int64_t b = 0; b < max_hits; ++b) {
      std::span<const TokenId> toks(s->tokens.data() + b * bs, static_cast<std::size_t>(bs));
      const std::uint64_t h = BlockPool::chain_hash(chain, toks);
      const std::int32_t blk = pool_.lookup(h, chain, toks);
      if (blk < 0) break;
      hits.push_back(blk);
      chain = h;
    }
  }
  std::int64_t hit_free = 0;
  for (std::int32_t b : hits) hit_free += pool_.refs(b) == 0 ? 1 : 0;
  const std::int64_t need = (len + bs - 1) / bs - static_cast<std::int64_t>(hits.size());
  if (need > pool_.free() - hit_free) return false;
  waiting_.erase(s);
  for (std::int32_t b : hits) pool_.acquire(b);
  s->blocks = hits;
  s->computed = static_cast<std::int64_t>(hits.size()) * bs;
  s->hashed = static_cast<std::int64_t>(hits.size());
  s->chain = chain;
  const std::int64_t want = std::min(s->pending(), prefill_budget);
  const std::int64_t got = allocate_for(*s, want);
  if (got <= 0) {
    release_blocks(*s);
    waiting_.insert(s);
    return false;
  }
  stats_.prefix_hit_tokens += static_cast<std::int64_t>(hits.size()) * bs;
  insert_running(s);
  select(s, got);
  prefill_budget -= got;
  return true;
}

void Scheduler::schedule(StepPlan& plan) {
  plan.clear();
  step_.clear();
  if (!has_work()) return;
  std::int64_t n_decode = 0;
  for (Sequence* s : running_) n_decode += s->pending() == 1 ? 1 : 0;
  std::int64_t prefill_budget = std::max<std::int64_t>(0, options_.max_step_tokens - n_decode);
  bool preempted = false;
  for (std::size_t i = 0; i < running_.size();) {
    Sequence* s = running_[i];
    const std::int64_t pending = s->pending();
    const std::int64_t want = pending == 1 ? 1 : std::min(pending, prefill_budget);
    if (want <= 0) {
      ++i;
      continue;
    }
    for (;;) {
      const std::int64_t got = allocate_for(*s, want);
      if (got >= want) {
        select(s, want);
        if (pending > 1) prefill_budget -= want;
        ++i;
        break;
      }
      if (running_.back() != s) {  // out of blocks: the newest running sequence makes room
        preempt(running_.back());
        preempted = true;
        continue;
      }
      if (pending > 1 && got > 0) {  // the newest itself: a prefill takes what fits
        select(s, got);
        prefill_budget -= got;
        ++i;
        break;
      }
      preempt(s);  // it was the last one, so the loop ends
      preempted = true;
      break;
    }
  }
  // Admission (not while the pool is under pressure, unless nothing else could run).
  if (!preempted || step_.empty()) {
    while (!waiting_.empty() && prefill_budget > 0) {
      const std::int64_t slots = options_.max_running - running_weight_;
      if (slots <= 0) break;
      if (!admit(*waiting_.begin(), prefill_budget, slots)) break;
    }
  }
  if (step_.empty()) {
    // Every request was checked to fit the pool alone at submission, so with nothing running the oldest waiting
    // sequence always fits; getting here means an accounting bug. Fail loudly instead of spinning.
    Sequence* s = !running_.empty() ? running_.front() : *waiting_.begin();
    end_request(*s->req, Finish::error,
                "native engine: the scheduler could not place this request (" + std::to_string(pool_.free()) +
                    " of " + std::to_string(pool_.num_blocks()) + " KV blocks free)");
    return;
  }
  const int bs = pool_.block_size();
  for (Sequence* s : step_) {
    plan.block_copies.insert(plan.block_copies.end(), s->copies.begin(), s->copies.end());
    s->copies.clear();
    const bool completes = s->computed + s->chunk == static_cast<std::int64_t>(s->tokens.size());
    const bool decode = s->pending() == 1;
    const int row = plan.add_sequence(
        std::span<const TokenId>(s->tokens.data() + s->computed, static_cast<std::size_t>(s->chunk)), s->computed,
        s->blocks, bs, completes);
    if (decode)
      ++stats_.decode_tokens;
    else
      stats_.prefill_tokens += s->chunk;
    if (!completes) continue;
    const RequestState& r = *s->req;
    for (int j : s->samples) {
      SampleRow sr;
      sr.logits_row = row;
      sr.n_valid = r.n_valid;
      sr.config = r.request.sampler;
      sr.seed = r.request.seeds[static_cast<std::size_t>(j)];
      sr.position = static_cast<std::int64_t>(s->tokens.size());
      plan.samples.push_back(sr);
    }
  }
  ++stats_.steps;
}

void Scheduler::register_full_blocks(Sequence& s) {
  if (!pool_.prefix_cache()) return;
  const int bs = pool_.block_size();
  while ((s.hashed + 1) * bs <= s.computed) {
    std::span<const TokenId> toks(s.tokens.data() + s.hashed * bs, static_cast<std::size_t>(bs));
    const std::uint64_t h = BlockPool::chain_hash(s.chain, toks);
    pool_.register_full(s.blocks[static_cast<std::size_t>(s.hashed)], h, s.chain, toks);
    s.chain = h;
    ++s.hashed;
  }
}

void Scheduler::complete(std::span<const TokenId> sampled) {
  std::size_t row = 0;
  std::vector<RequestState*> failed;
  const std::vector<Sequence*> step = std::move(step_);
  step_.clear();
  for (Sequence* s : step) {
    RequestState& r = *s->req;
    const bool completes = s->computed + s->chunk == static_cast<std::int64_t>(s->tokens.size());
    const std::size_t n_rows = completes ? s->samples.size() : 0;
    if (row + n_rows > sampled.size()) throw Error("scheduler: fewer drawn tokens than planned");
    const std::span<const TokenId> drawn = sampled.subspan(row, n_rows);
    row += n_rows;
    if (r.failed) continue;
    try {
      s->computed += s->chunk;
      s->chunk = 0;
      register_full_blocks(*s);
      if (n_rows == 0) continue;
      stats_.sampled_tokens += static_cast<std::int64_t>(n_rows);
      if (s->samples.size() == 1) {
        if (accept(r, s->samples[0], drawn[0]))
          s->tokens.push_back(drawn[0]);
        else
          destroy(s);
        continue;
      }
      // Fork: one sequence per sample, holding the same blocks.
      const std::vector<int> samples = s->samples;
      for (std::size_t k = 0; k < samples.size(); ++k) {
        if (!accept(r, samples[k], drawn[k])) continue;
        Sequence* c = make_sequence(&r);
        c->samples = {samples[k]};
        c->tokens = s->tokens;
        c->tokens.push_back(drawn[k]);
        c->computed = s->computed;
        c->blocks = s->blocks;
        for (std::int32_t b : c->blocks) pool_.acquire(b);
        c->hashed = s->hashed;
        c->chain = s->chain;
        c->privatize = !options_.share_prompt;
        insert_running(c);
      }
      destroy(s);
    } catch (const std::exception& e) {
      r.failed = true;
      r.failure = e.what();
      failed.push_back(&r);
    }
  }
  for (RequestState* r : failed) end_request(*r, Finish::error, "request failed: " + r->failure);
}

void Scheduler::fail_step(const std::string& message) {
  std::vector<RequestState*> reqs;
  for (Sequence* s : step_)
    if (std::find(reqs.begin(), reqs.end(), s->req) == reqs.end()) reqs.push_back(s->req);
  step_.clear();
  for (RequestState* r : reqs) end_request(*r, Finish::error, "native generation failed: " + message);
}

bool Scheduler::accept(RequestState& r, int j, TokenId t) {
  SampleResult& res = r.results[static_cast<std::size_t>(j)];
  if (res.tokens.empty() && res.first_token_s == 0.0) res.first_token_s = seconds_since(r.t0);
  const auto& stops = r.request.stop_tokens;
  if (std::find(stops.begin(), stops.end(), t) != stops.end()) {
    finish_sample(r, j, Finish::eos);
    return false;
  }
  res.tokens.push_back(t);
  if (r.request.on_token && !r.request.on_token(static_cast<std::size_t>(j), t)) {
    finish_sample(r, j, Finish::stop);
    return false;
  }
  const std::int64_t g = static_cast<std::int64_t>(res.tokens.size());
  if (g >= r.request.max_new_tokens || static_cast<std::int64_t>(r.request.prompt.size()) + g > r.capacity) {
    finish_sample(r, j, Finish::length);
    return false;
  }
  return true;
}

void Scheduler::finish_sample(RequestState& r, int j, Finish why) {
  const auto i = static_cast<std::size_t>(j);
  if (r.finished[i]) return;
  r.finished[i] = 1;
  --r.remaining;
  SampleResult& res = r.results[i];
  res.finish = why;
  res.latency_s = seconds_since(r.t0);
  finish_request_if_done(r);
  if (r.request.on_finish) r.request.on_finish(i, res);
}

void Scheduler::finish_request_if_done(RequestState& r) {
  if (r.remaining != 0) return;
  auto it = std::find_if(active_.begin(), active_.end(), [&](const auto& p) { return p.get() == &r; });
  if (it == active_.end()) return;
  finished_.push_back(std::move(*it));
  active_.erase(it);
}

void Scheduler::end_request(RequestState& r, Finish why, const std::string& error) {
  std::vector<Sequence*> mine;
  for (Sequence* s : running_)
    if (s->req == &r) mine.push_back(s);
  for (Sequence* s : waiting_)
    if (s->req == &r) mine.push_back(s);
  for (Sequence* s : mine) destroy(s);
  std::erase_if(step_, [&](Sequence* s) { return s->req == &r; });
  for (std::size_t i = 0; i < r.results.size(); ++i) {
    if (r.finished[i]) continue;
    r.results[i].error = error;
    try {
      finish_sample(r, static_cast<int>(i), why);
    } catch (...) {  // the caller's on_finish failed while the request is being ended anyway
    }
  }
  finish_request_if_done(r);
}

void Scheduler::cancel_requests(bool all) {
  std::vector<RequestState*> ending;
  for (const auto& r : active_)
    if (all || (r->request.cancel && r->request.cancel->load())) ending.push_back(r.get());
  for (RequestState* r : ending) end_request(*r, Finish::cancelled, all ? "engine shut down" : "");
}

std::vector<std::shared_ptr<RequestState>> Scheduler::take_finished() {
  std::vector<std::shared_ptr<RequestState>> out;
  out.swap(finished_);
  return out;
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats s = stats_;
  s.running = static_cast<std::int64_t>(running_.size());
  s.waiting = static_cast<std::int64_t>(waiting_.size());
  s.requests = static_cast<std::int64_t>(active_.size());
  return s;
}

void Scheduler::check() const {
  pool_.check();
  std::vector<std::int32_t> count(static_cast<std::size_t>(pool_.num_blocks()), 0);
  std::int64_t weight = 0;
  for (const auto& [p, s] : seqs_) {
    if (!s->running && !s->blocks.empty()) throw Error("scheduler check: a waiting sequence holds blocks");
    if (s->running) weight += s->weight();
    for (std::int32_t b : s->blocks) ++count[static_cast<std::size_t>(b)];
  }
  if (weight != running_weight_) throw Error("scheduler check: running weight mismatch");
  for (std::int32_t b = 0; b < pool_.num_blocks(); ++b)
    if (count[static_cast<std::size_t>(b)] != pool_.refs(b))
      throw Error("scheduler check: block " + std::to_string(b) + " has " + std::to_string(pool_.refs(b)) +
                  " references but sequences hold " + std::to_string(count[static_cast<std::size_t>(b)]));
  if (running_.size() + waiting_.size() != seqs_.size()) throw Error("scheduler check: lost sequences");
}

}  // namespace reval::engine
