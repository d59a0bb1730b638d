// diag::LifetimeProbe, the search (diag/lifetime_probe_impl.hpp says where the rest is): each
// decided trial narrows the bracket (longest survived, shortest longer expired]; plan() cancels
// trials whose answer is known, launches the first round and the refining rounds, and the run ends
// when the bracket reaches the precision, a mapping outlives max, or a bound is hit.
#include <algorithm>
#include <string>

#include "diag/lifetime_probe.hpp"
#include "diag/lifetime_probe_impl.hpp"

namespace diag {

using namespace lifetime_impl;

std::pair<uint32_t, std::optional<uint32_t>> lifetime_impl::bracket_of(const std::vector<LifetimeTrial>& trials) {
  uint32_t lo = 0;
  for (const LifetimeTrial& t : trials)
    if (t.survived) lo = std::max(lo, t.gap_ms);
  std::optional<uint32_t> hi;
  for (const LifetimeTrial& t : trials)
    if (!t.survived && t.gap_ms > lo && (!hi || t.gap_ms < *hi)) hi = t.gap_ms;
  return {lo, hi};
}

namespace {
std::string gap_list(const std::vector<uint32_t>& gaps) {
  std::string s;
  for (size_t i = 0; i < gaps.size(); ++i) s += (i ? ", " : "") + shown_seconds(gaps[i]);
  return s + " s";
}

// `k` gaps evenly spaced in (lo, top), on a round unit (1, 2 or 5 x 10^n ms) for readable gaps.
std::vector<uint32_t> round_gaps(uint32_t lo, uint32_t top, uint32_t k) {
  const uint32_t width = top - lo;
  const uint64_t step = width / (k + 1);
  uint64_t unit = 1;
  for (uint64_t u : {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000})
    if (u * 4 <= step) unit = u;
  std::vector<uint32_t> gaps;
  for (uint32_t j = 1; j <= k; ++j) {
    uint64_t g = lo + uint64_t{width} * j / (k + 1);
    g = (g + unit / 2) / unit * unit;
    if (g > lo && g < top && (gaps.empty() || g > gaps.back())) gaps.push_back(static_cast<uint32_t>(g));
  }
  return gaps;
}
}  // namespace

// While nothing is decided for a while (long gaps), say what is being waited for.
void LifetimeProbe::heartbeat(int64_t now_ms) {
  if (said_) {
    said_ = false;
    last_said_ms_ = now_ms;
  }
  if (stage_ != Stage::Search || now_ms < last_said_ms_ + kHeartbeatMs) return;
  std::optional<int64_t> next;
  uint32_t gap = 0;
  for (const Trial& t : trials_)
    if (t.phase == Phase::Silent && (!next || t.check_at_ms < *next)) {
      next = t.check_at_ms;
      gap = t.gap_ms;
    }
  const auto [lo, hi] = bracket_of(report_.trials);
  std::string s = "waiting";
  if (next)
    s += ": the next check (gap " + shown_seconds(gap) + " s) is in " +
         shown_seconds((*next > now_ms ? *next - now_ms : 0) / 1000 * 1000) + " s";
  s += hi ? "; searching " + shown_seconds(lo) + ".." + shown_seconds(*hi) + " s"
          : "; the timeout is longer than " + shown_seconds(lo) + " s";
  say(s);
  said_ = false;
  last_said_ms_ = now_ms;
}

void LifetimeProbe::decide(uint32_t index, bool survived, uint32_t gap_ms, int64_t now_ms) {
  Trial& t = trials_[index];
  if (t.control) {
    end_trial(index, now_ms);
    if (!survived) {
      finish(LifetimeResult::NotDelivered,
             "the answer to RESPONSE-PORT did not reach the mapping even right after it was made: the server does "
             "not send it, or something between drops it; the mapping lifetime cannot be measured this way",
             now_ms);
      return;
    }
    say("RESPONSE-PORT works: the server's answer to the second socket's request reached the first one");
    stage_ = Stage::Search;
    return;
  }
  report_.trials.push_back(LifetimeTrial{gap_ms, survived, t.local, t.mapped, t.requests,
                                         static_cast<uint64_t>(now_ms - start_ms_)});
  end_trial(index, now_ms);
  const auto [lo, hi] = bracket_of(report_.trials);
  std::string s = "gap " + shown_seconds(gap_ms) + " s: " + (survived ? "survived" : "expired");
  if (!survived && gap_ms <= lo) {
    s += ", though one of " + shown_seconds(lo) + " s survived (a lost answer, or a timer that varies); ignored";
    if (!inconsistent_noted_) {
      inconsistent_noted_ = true;
      note("trials disagree: a mapping expired after " + shown_seconds(gap_ms) +
           " s of silence while another survived " + shown_seconds(lo) +
           " s; survival counts (an answer is proof, a missing one may be a lost packet)");
    }
  } else if (hi) {
    s += "; searching " + shown_seconds(lo) + ".." + shown_seconds(*hi) + " s";
  } else {
    s += "; the timeout is longer than " + shown_seconds(lo) + " s";
  }
  say(s);
  if (!survived && gap_ms <= cfg_.min_ms && lo == 0 && !below_min_noted_) {
    below_min_noted_ = true;
    note("mappings expired after the shortest gap of the first round (--min " + shown_seconds(cfg_.min_ms) +
         " s); the search went below it");
  }
}

void LifetimeProbe::end_trial(uint32_t index, int64_t) {
  Trial& t = trials_[index];
  if (t.phase == Phase::Done) return;
  t.phase = Phase::Done;
  queue_.push_back(LifetimeAction{LifetimeAction::Kind::Close, t.socket, {}, {}, 0});
  forget(index, false);
}

void LifetimeProbe::fail_trial(uint32_t index, const std::string& why, int64_t now_ms) {
  const uint32_t gap = trials_[index].gap_ms;
  ++report_.failed_trials;
  end_trial(index, now_ms);
  say("gap " + shown_seconds(gap) + " s: " + why + "; trying again");
  // Back in the queue; plan() drops it if it no longer matters.
  queued_.insert(std::upper_bound(queued_.begin(), queued_.end(), gap), gap);
}

void LifetimeProbe::launch(const std::vector<uint32_t>& gaps, int64_t now_ms) {
  for (uint32_t g : gaps) {
    start_trial(g, false, now_ms);
    ++launched_;
  }
}

uint32_t LifetimeProbe::budget(uint32_t free) const {
  return std::min(free, cfg_.max_trials - std::min(cfg_.max_trials, launched_));
}

// Running trials whose answer is known in advance go (at or below a survived gap they would
// survive, at or above an expired one expire), and so do such gaps still queued.
void LifetimeProbe::cancel_decided(uint32_t lo, std::optional<uint32_t> hi, int64_t now_ms) {
  for (uint32_t i = 0; i < trials_.size(); ++i) {
    const Trial& t = trials_[i];
    if (t.phase == Phase::Done || t.control) continue;
    if (t.gap_ms <= lo || (hi && t.gap_ms >= *hi)) {
      ++report_.cancelled_trials;
      end_trial(i, now_ms);
    }
  }
  std::erase_if(queued_, [&](uint32_t g) { return g <= lo || (hi && g >= *hi); });
}

// The first round (and retries of failed trials), shortest first, at most `room` of them;
// returns how many were launched.
uint32_t LifetimeProbe::launch_queued(uint32_t room, int64_t now_ms) {
  std::vector<uint32_t> batch;
  for (; room > 0 && !queued_.empty(); --room) {
    batch.push_back(queued_.front());
    queued_.erase(queued_.begin());
  }
  if (!batch.empty()) {
    say(std::string(launched_ == 0 ? "trying gaps " : "trying ") + gap_list(batch) +
        (launched_ == 0 ? " at once, a fresh mapping each" : ""));
    launch(batch, now_ms);
  }
  return static_cast<uint32_t>(batch.size());
}

// The top of the interval to split: hi. Before any expiry, once something survived, the next
// running gap above lo: if that one expires, the next round is already under way.
std::optional<uint32_t> LifetimeProbe::split_top(uint32_t lo, std::optional<uint32_t> hi) const {
  std::optional<uint32_t> top = hi;
  if (!top && lo >= cfg_.min_ms)
    for (const Trial& t : trials_)
      if (t.phase != Phase::Done && !t.control && t.gap_ms > lo && (!top || t.gap_ms < *top)) top = t.gap_ms;
  return top;
}

bool LifetimeProbe::running_between(uint32_t lo, uint32_t top) const {
  bool inside = false;
  for (const Trial& t : trials_) inside |= t.phase != Phase::Done && !t.control && t.gap_ms > lo && t.gap_ms < top;
  return inside;
}

// Splitting (lo, top) into `split` gaps, or more (up to `room`) if free sockets let this round
// reach the precision; not while a running trial lies inside it.
void LifetimeProbe::refine(uint32_t lo, std::optional<uint32_t> hi, uint32_t room, int64_t now_ms) {
  const std::optional<uint32_t> top = split_top(lo, hi);
  if (!top || *top - lo <= cfg_.precision_ms || running_between(lo, *top)) return;
  const uint32_t width = *top - lo;
  const uint32_t needed = (width + cfg_.precision_ms - 1) / cfg_.precision_ms - 1;
  const uint32_t k = needed <= cfg_.split ? std::min(cfg_.split, room) : std::min(needed, room);
  const std::vector<uint32_t> gaps = round_gaps(lo, *top, k);
  if (gaps.empty()) return;
  say("searching " + shown_seconds(lo) + ".." + shown_seconds(*top) + " s" + (hi ? "" : " (ahead of its answer)") +
      ": trying " + gap_list(gaps));
  launch(gaps, now_ms);
}

// After every decision: stop at the precision (or past max), cancel what is decided, launch the
// queued gaps, then split the bracket; stop when nothing runs and nothing more can be launched.
void LifetimeProbe::plan(int64_t now_ms) {
  const auto [lo, hi] = bracket_of(report_.trials);
  if ((hi && *hi - lo <= cfg_.precision_ms) || (!hi && lo >= cfg_.max_ms)) return conclude(now_ms, "");
  cancel_decided(lo, hi, now_ms);
  const uint32_t busy = running();
  uint32_t free = cfg_.parallel > busy ? cfg_.parallel - busy : 0;
  free -= launch_queued(budget(free), now_ms);
  if (queued_.empty() && budget(free) > 0) refine(lo, hi, budget(free), now_ms);
  if (running() == 0 && (queued_.empty() || launched_ >= cfg_.max_trials)) conclude(now_ms, "the trial bound");
}

void LifetimeProbe::conclude(int64_t now_ms, const std::string& why) {
  const auto [lo, hi] = bracket_of(report_.trials);
  if (hi) {
    if (*hi - lo > cfg_.precision_ms)
      note("stopped by " + (why.empty() ? std::string("a bound") : why) + " before reaching the precision asked for (" +
           shown_seconds(cfg_.precision_ms) + " s): the timeout is between " + shown_seconds(lo) + " and " +
           shown_seconds(*hi) + " s");
    finish(LifetimeResult::Measured, "", now_ms);
  } else if (lo >= cfg_.max_ms) {
    finish(LifetimeResult::LongerThanMax, "", now_ms);
  } else {
    finish(LifetimeResult::Error,
           "no conclusion (stopped by " + (why.empty() ? std::string("a bound") : why) + "): " +
               (lo ? "mappings survived " + shown_seconds(lo) + " s of silence and no longer gap was decided"
                   : "no gap was decided"),
           now_ms);
  }
}

void LifetimeProbe::finish(LifetimeResult result, const std::string& error, int64_t now_ms) {
  if (finished_) return;
  finished_ = true;
  stage_ = Stage::Finished;
  for (uint32_t i = 0; i < trials_.size(); ++i) end_trial(i, now_ms);
  if (checker_open_ || checker_opening_)
    queue_.push_back(LifetimeAction{LifetimeAction::Kind::Close, kCheckerSocket, {}, {}, 0});
  checker_open_ = checker_opening_ = false;
  pending_.clear();
  const auto [lo, hi] = bracket_of(report_.trials);
  report_.result = result;
  report_.error = error;
  report_.lower_ms = lo;
  report_.upper_ms = hi;
  if (result == LifetimeResult::Measured && hi) report_.timeout_ms = lo + (*hi - lo) / 2;
  report_.elapsed_ms = now_ms - start_ms_;
  make_lifetime_verdict(report_);
  switch (result) {
    case LifetimeResult::Measured:
      say("timeout between " + shown_seconds(lo) + " and " + shown_seconds(*hi) + " s: ~" +
          shown_seconds(*report_.timeout_ms) + " s");
      break;
    case LifetimeResult::LongerThanMax: say("a mapping survived " + shown_seconds(lo) + " s: longer than max"); break;
    default: say("no result: " + error); break;
  }
}

}  // namespace diag
