"""Capacity searches: brackets on a size, refined round by round.

A search asks for (size, seed) pairs each round (`next_round`), says which
of a round's members are still worth training as their results come in
(`needed`, for engine.run_group) and, for a ShapeSearch, which wait on
others (`wait`: the learning rates in turn), takes the round's records
(`add`) and plans how many pairs its later rounds can still ask for
(`planned_pairs`, for the progress bar's total). `drive` runs any search
round by round; `WorkPlan` turns its plans into the work left. Two searches
share the interface:
`ShapeSearch` (the transformers': the first seed's bracket per protocol,
then the seed band at its ends) and `SeedSearch` (the associative
memories': every seed's own bracket), over brackets `Bracket` (candidates
per round) or `Bisection` (the original code's one midpoint per round).
"""
import math

import numpy as np

from factrecall import engine

def geometric_points(lo, hi, n):
  """Up to n distinct integers strictly between lo and hi, geometrically spaced."""
  if hi - lo <= 1:
    return []
  pts = np.exp(np.linspace(math.log(max(lo, 0.5)), math.log(hi), n + 2))[1:-1]
  out = sorted({int(round(p)) for p in pts} - {lo, hi})
  out = [p for p in out if lo < p < hi]
  if not out:
    out = [(lo + hi) // 2]
  return out


def arithmetic_points(lo, hi, n):
  """Up to n distinct integers strictly between lo and hi, evenly spaced;
  n = 1 is bisection's midpoint (lo + hi) // 2."""
  if hi - lo <= 1:
    return []
  return sorted({lo + (hi - lo) * j // (n + 1) for j in range(1, n + 1)} -
                {lo, hi})


class Bracket:
  """The search state of one (shape, seed): success/failure per k.

  spacing: how candidates split a known bracket ("geometric", or
  "arithmetic": with one candidate, the original code's bisection).
  ends: how [k_lo, k_hi] is used.
    "test": the first round tests points around it; when every candidate
      succeeds or fails, the bracket jumps by up to 4x.
    "assume": k_lo counts as stored and k_hi as not, untested (the original
      code's bisection between min_size and max_size).
    "soft": bisection as if k_lo - 1 were stored and k_hi + 1 not; when the
      answer lands on one of these untested ends, that end moves out by 2x
      and the bisection goes on (a good guess costs no extra round).
  """

  def __init__(self, k_lo, k_hi, n_candidates, resolution, k_min=1, k_max=None,
               spacing="geometric", ends="test"):
    if ends not in ("test", "assume", "soft"):
      raise ValueError(f"ends must be test, assume or soft, got {ends!r}")
    self.results = {}  # k -> bool (any learning rate succeeded)
    self.n = n_candidates
    self.res = resolution
    self.k_min = k_min
    self.k_max = k_max or 10 ** 9
    self.spacing = spacing
    self.ends = ends
    self.k_lo, self.k_hi = k_lo, k_hi
    if ends == "assume":
      self.first = self._inside(k_lo, k_hi)
    elif ends == "soft":
      self.first = self._inside(*self._soft())
    else:
      self.first = geometric_points(k_lo - 1, k_hi + 1, n_candidates)
      self.first = sorted(set(min(max(k, k_min), self.k_max)
                              for k in self.first))

  def _inside(self, lo, hi):
    if self.spacing == "arithmetic":
      return arithmetic_points(lo, hi, self.n)
    return geometric_points(lo, hi, self.n)

  def _tested(self):
    ok = [k for k, v in self.results.items() if v]
    lo = max(ok) if ok else None
    bad = [k for k, v in self.results.items() if not v and k > (lo or 0)]
    return lo, (min(bad) if bad else None)

  def _soft(self):
    """(lo, hi) for the soft ends: the tested bracket, with an untested
    end standing in where nothing was found yet, moved out while the
    results pin the answer on it."""
    lo_s = max(self.k_min - 1, self.k_lo - 1)
    hi_s = min(self.k_max + 1, self.k_hi + 1)
    lo_t, hi_t = self._tested()
    while True:
      lo = lo_t if lo_t is not None else lo_s
      hi = hi_t if hi_t is not None else hi_s
      if not self.resolved(lo, hi):
        return lo, hi
      if lo_t is None and lo == lo_s and lo_s > self.k_min - 1:
        lo_s = max(self.k_min - 1, lo_s // 2)
      elif hi_t is None and hi == hi_s and hi_s <= self.k_max:
        hi_s = min(self.k_max + 1, hi_s * 2)
      else:
        return lo, hi

  @property
  def lo(self):
    lo, _ = self._tested()
    if self.ends == "assume":
      return max(lo or 0, self.k_lo)
    return lo

  @property
  def hi(self):
    lo, hi = self._tested()
    if self.ends == "assume":
      lo = max(lo or 0, self.k_lo)
      bad = [k for k, v in self.results.items() if not v and k > lo]
      return min(bad + [self.k_hi])
    return hi

  def resolved(self, lo, hi):
    return hi - lo <= 1 or hi <= lo * (1 + self.res)

  def interval(self):
    """(lo, hi) between which the next rounds' candidates lie: the tested
    bracket, with an untested end standing in where nothing was found yet
    (None when a "test" bracket has nothing on one side yet)."""
    if self.ends == "soft":
      return self._soft()
    if not self.results and self.ends == "test":
      return (self.k_lo - 1, self.k_hi + 1)
    lo, hi = self.lo, self.hi
    if lo is None or hi is None:
      return None
    return lo, hi

  def planned(self):
    """How many candidates the rounds still to come test at most, if the
    answer lies inside interval(): each round's candidates split the
    bracket, and the count follows the largest part (the worst case) until
    it is resolved. An answer beyond an untested end adds rounds (the end
    moves out) and raises the plan then."""
    iv = self.interval()
    if iv is None:
      return len(self.next_candidates())
    memo = {}

    def worst(lo, hi):
      if (lo, hi) not in memo:
        pts = [] if self.resolved(lo, hi) else [
            k for k in self._inside(lo, hi) if lo < k < hi]
        edges = [lo] + pts + [hi]
        memo[(lo, hi)] = len(pts) + max(
            [worst(a, b) for a, b in zip(edges, edges[1:])] if pts else [0])
      return memo[(lo, hi)]
    if not self.results and self.ends == "test":
      pts = self.first
      edges = [iv[0]] + pts + [iv[1]]
      return len(pts) + max(worst(a, b) for a, b in zip(edges, edges[1:]))
    return worst(*iv)

  def next_candidates(self):
    """The k's of the next round, or [] when the bracket is resolved."""
    if self.ends == "soft":
      lo, hi = self._soft()
      if self.resolved(lo, hi):
        return []
      return [k for k in self._inside(lo, hi) if k not in self.results]
    if not self.results:
      return self.first
    lo, hi = self.lo, self.hi
    if lo is None:  # everything failed: go down
      low = min(self.results)
      if low <= self.k_min:
        return []
      return geometric_points(max(self.k_min, low // 4) - 1, low, self.n)
    if hi is None:  # everything succeeded: go up
      if lo >= self.k_max:
        return []
      return [k for k in geometric_points(lo, min(lo * 4, self.k_max) + 1, self.n)
              if k not in self.results]
    if self.resolved(lo, hi):
      return []
    return [k for k in self._inside(lo, hi) if k not in self.results]


FAILED = ("failed", "stalled", "diverged")


def seed_outcome(statuses):
  """Success of one (k, seed) from its learning rates' statuses under one
  protocol: True if any succeeded, False if every one failed, None if it is
  undecided (a learning rate was skipped before any succeeded)."""
  if "success" in statuses:
    return True
  if statuses and all(s in FAILED for s in statuses):
    return False
  return None


class ShapeSearch:
  """The capacity search of one model shape, round by round.

  Per protocol: a bracket on k refined with the first seed (the original
  code's one-seed rule; every learning rate tried at each k, success if any
  succeeds). Then, with more seeds, for the first protocol only (the
  headline's), the seed band at its bracket's ends (see _band_todo); the
  other protocols keep their one-seed brackets, so they compare with the
  first one on the same seed. Its state is a pure function of the records
  fed to `add`, so a resumed run replays it.
  """

  def __init__(self, brackets, seeds, lrs, k_max, band_step=0.05,
               prune=True, lanes=0):
    self.brackets = brackets  # protocol -> Bracket (first seed)
    self.protocols = tuple(brackets)
    self.seeds = list(seeds)
    self.lrs = list(lrs)
    self.k_max = k_max
    self.band_step = band_step
    self.prune = prune
    self.lanes = lanes  # learning rates of a (k, seed) at once; 0 = all
    self.outcome = {}  # (k, seed) -> {protocol: True | False | None}
    self.wanted = {}   # protocol -> (k, seed) pairs asked for by the round
    self.phase = {}    # protocol -> "bracket" | "band" in the current round

  def add(self, records):
    """Feeds the records of a round (every learning rate of each (k, seed))."""
    by = {}
    for r in records:
      by.setdefault((r["k"], r["seed"]), []).append(r)
    for (k, seed), recs in by.items():
      out = {p: seed_outcome([r["outcomes"][p]["status"] for r in recs])
             for p in self.protocols}
      self.outcome[(k, seed)] = out
      if seed == self.seeds[0]:
        for p, v in out.items():
          if v is not None:
            self.brackets[p].results[k] = v

  def _implied(self, p, k, seed):
    """The outcome of (k, seed) under p: measured, or implied as the bracket
    implies it, taking success to fall with k for each seed: stored if the
    seed stored a larger k (for the first seed: if k <= its bracket's lo),
    not stored if it failed a smaller one (the first seed: k >= its hi)."""
    o = self.outcome.get((k, seed), {}).get(p)
    if o is not None:
      return o
    if seed == self.seeds[0]:
      br = self.brackets[p]
      if br.lo is not None and k <= br.lo:
        return True
      if br.hi is not None and k >= br.hi:
        return False
    mine = [(kk, out.get(p)) for (kk, s), out in self.outcome.items()
            if s == seed and out.get(p) is not None]
    if any(v and kk >= k for kk, v in mine):
      return True
    if any(not v and kk <= k for kk, v in mine):
      return False
    return None

  def _step(self, k):
    return max(1, int(k * self.band_step))

  def _band_todo(self, p):
    """(k, seed) pairs the band of protocol p still needs, or set(): every
    seed at the bracket's two ends, then further down while fewer than half
    the seeds store every fact, and further up while at least half do, so
    that the k where the chance of storing them crosses 1/2 is measured."""
    br = self.brackets[p]
    if (len(self.seeds) < 2 or p != self.protocols[0] or br.lo is None or
        br.hi is None):
      return set()
    todo = set()
    half = lambda outs: 2 * sum(outs) >= len(outs)
    for start, go_on, move in ((br.lo, lambda v: not half(v), -1),
                               (br.hi, half, 1)):
      k = start
      while 1 <= k <= self.k_max:
        outs = [self._implied(p, k, s) for s in self.seeds]
        missing = [s for s, o in zip(self.seeds, outs) if o is None]
        if missing:
          todo |= {(k, s) for s in missing}
          break
        if not go_on(outs):
          break
        k += move * self._step(k)
    return todo

  def next_round(self):
    """[(k, seed)] of the next round (each with every learning rate), []
    when every protocol's search is done."""
    self.wanted = {}
    for p in self.protocols:
      cands = self.brackets[p].next_candidates()
      if cands:
        self.phase[p] = "bracket"
        self.wanted[p] = {(k, self.seeds[0]) for k in cands}
      else:
        self.phase[p] = "band"
        self.wanted[p] = self._band_todo(p)
    todo = set().union(*self.wanted.values()) - set(self.outcome)
    return sorted(todo, key=lambda ks: (ks[1], ks[0]))

  def planned_pairs(self):
    """At most how many (k, seed) pairs the rounds from the next one on
    train (each with every learning rate), on the search's expected
    course: the answer inside each bracket's interval (Bracket.planned),
    protocols whose brackets agree sharing their candidates, and the band
    measuring the other seeds at the first protocol's two ends (what it
    still misses there, once it started). The plan rises only when
    the course departs from this (an end moves out, the protocols' brackets
    part, the band goes past an end)."""
    by_interval = {}
    for p in self.protocols:
      br = self.brackets[p]
      key = br.interval() if br.next_candidates() else ("done", p)
      by_interval.setdefault(key, br.planned())
    n = sum(by_interval.values())
    p0 = self.protocols[0]
    if len(self.seeds) > 1:
      if self.brackets[p0].next_candidates():
        n += 2 * (len(self.seeds) - 1)
      else:
        n += len(self._band_todo(p0) - set(self.outcome))
    return n

  def needed(self, members):
    """needed(group) for engine.run_group over members [(k, seed, lr)]: a
    member is trained while some protocol still needs its outcome: the
    protocol asked for its (k, seed), no other learning rate there has
    succeeded under it (the original code stops at the first learning rate
    that succeeds), and, in a bracket round, k is still strictly inside the
    bracket given this round's outcomes (success falls with k)."""
    protocols, wanted, prune = self.protocols, dict(self.wanted), self.prune
    brackets, phase = self.brackets, dict(self.phase)
    first = self.seeds[0]

    def fn(g):
      keep = []
      for p in protocols:
        ok, bad = {}, {}
        for i, (k, seed, _) in enumerate(members):
          o = g.outcome[i][p]
          if o is not None:
            key = (k, seed)
            ok[key] = ok.get(key, False) or o["status"] == "success"
            bad[key] = bad.get(key, True) and o["status"] in FAILED
          else:
            bad[(k, seed)] = False
        stored = [k for (k, s), v in ok.items() if v and s == first]
        lo = max(stored + [brackets[p].lo or 0])
        failed = [k for (k, s), v in bad.items() if v and s == first and k > lo]
        hi = min(failed + [brackets[p].hi or float("inf")])
        for i, (k, seed, _) in enumerate(members):
          if g.outcome[i][p] is not None or (k, seed) not in wanted[p]:
            continue
          if prune and ok.get((k, seed)):
            continue
          if (prune and seed == first and phase[p] == "bracket" and
              not lo < k < hi):
            continue
          keep.append(i)
      return sorted(set(keep))
    return fn

  def wait(self, members):
    """wait(group) for engine.run_group over members [(k, seed, lr)], or
    None when every learning rate of a (k, seed) starts at once (lanes 0):
    the learning rates of each (k, seed) in turn, the largest first (the
    one that stores first in most recorded searches), at most `lanes` of
    them undecided at once; a learning rate waits until one before it is
    decided (and is skipped if one succeeded: `needed`). Held members come
    in the order they may start (engine.admit starts them early to fill
    idle slots): every (k, seed)'s second learning rate before any third.
    The outcome of every (k, seed) is that of racing them all: stored if
    any learning rate stores, not stored once every one has failed."""
    if not self.lanes:
      return None
    by = {}
    for i, (k, seed, lr) in enumerate(members):
      by.setdefault((k, seed), []).append((-lr, i))
    turns = [[i for _, i in sorted(v)] for v in by.values()]
    lanes = self.lanes

    def fn(g):
      held = []
      for order in turns:
        undecided = 0
        for pos, i in enumerate(order):
          if undecided >= lanes and not g.status[i] and not g.steps[i]:
            held.append((pos, i))
          undecided += not g.status[i]
      return [i for _, i in sorted(held)]
    return fn

  def capacity(self, p):
    """Per protocol: the one-seed bracket, the seed table and the stored k.

    k: the largest k at which at least half the seeds store every fact
    (with one seed: the bracket's lo); band: the largest measured k below
    it where every seed stores and the smallest above where none does
    (None where the band search did not need to go that far); span: the
    smallest and largest k the seeds were measured at (one seed: the
    bracket)."""
    br = self.brackets[p]
    table = {}
    if p == self.protocols[0] and len(self.seeds) > 1:
      for (k, seed) in self.outcome:
        outs = [self._implied(p, k, s) for s in self.seeds]
        if all(o is not None for o in outs):
          table[k] = outs
    if table:
      k, band = band_capacity(table)
      span = [min(table), max(table)]
    else:  # one seed: the bracket
      k, band = br.lo, [br.lo, br.hi]
      span = band
    return dict(k=k, k_ok=br.lo, k_fail=br.hi, band=band, span=span,
                seed_table={str(kk): [bool(v) for v in vv]
                            for kk, vv in sorted(table.items())})


def replay(search, rule, curves, chunk, max_rounds, block=2):
  """Runs `search` (a fresh ShapeSearch) on recorded evaluations instead of
  training: curves[(k, seed, lr)] = the member's evaluation rows
  (train.METRICS), recorded with no early stop. Every decision is made by
  the same code as in a run (engine.record_chunk, search.needed), so this
  shows what a stop rule would have returned. Returns ({(k, seed, lr):
  record} of the members the search trained, the number of block calls a
  run with `block` members per call would make: its wall time in chunks)."""
  trained, calls = {}, 0
  for _ in range(max_rounds):
    pairs = search.next_round()
    if not pairs:
      break
    recs, n = replay_round(search, rule, curves, chunk, pairs, block)
    trained.update(((r["k"], r["seed"], r["lr"]), r) for r in recs)
    calls += n
  return trained, calls


def replay_round(search, rule, curves, chunk, pairs, block=2):
  """One round of `replay`: the round's pairs (search.next_round()) on the
  recorded curves, fed to the search. Returns (its records, block calls)."""
  members = [(k, s, lr) for k, s in pairs for lr in search.lrs]
  g = engine.Group(len(members), rule.protocols, chunk)
  needed, wait = search.needed(members), search.wait(members)
  live, calls = [], 0
  while True:
    live = engine.admit(g, live, wait, block)
    if not live:
      break
    rows = [curves[members[i]][len(g.curves[i])] for i in live]
    engine.record_chunk(g, live, rows, rule, needed)
    calls += -(-len(live) // block)
  recs = [dict(k=k, seed=s, lr=lr, steps=g.steps[i], status=g.status[i],
               outcomes=g.outcome[i]) for i, (k, s, lr) in enumerate(members)]
  search.add(recs)
  return recs, calls


def band_capacity(table):
  """(k, [band_lo, band_hi]) from {k: [success per seed]}: k is the largest
  k with a success fraction >= 1/2 (None if none); band_lo the largest k <=
  it where every seed succeeds, band_hi the smallest k above it where none
  does (None if not measured)."""
  if not table:
    return None, [None, None]
  frac = {k: float(np.mean(v)) for k, v in table.items()}
  half = [k for k, f in frac.items() if f >= 0.5]
  if not half:
    return None, [None, min(frac)]
  k = max(half)
  full = [kk for kk, f in frac.items() if f == 1.0 and kk <= k]
  none = [kk for kk, f in frac.items() if f == 0.0 and kk > k]
  return k, [max(full) if full else None, min(none) if none else None]


class Bisection:
  """The original code's search, as a bracket with one candidate per round.

  lo starts as stored and hi as not stored, both untested; each round tries
  N = floor((lo + hi) / 2) and moves lo up (stored) or hi down (not), until
  hi <= lo * (1 + resolution) or hi - lo <= 1. Same interface as
  Bracket (results, lo, hi, next_candidates, planned).
  """

  def __init__(self, lo, hi, resolution):
    self.results = {}  # N -> bool (any learning rate succeeded)
    self.lo0, self.hi0, self.res = int(lo), int(hi), resolution

  @property
  def lo(self):
    return max([N for N, ok in self.results.items() if ok] + [self.lo0])

  @property
  def hi(self):
    return min([N for N, ok in self.results.items() if not ok] + [self.hi0])

  def next_candidates(self):
    lo, hi = self.lo, self.hi
    if hi - lo <= 1 or hi <= lo * (1 + self.res):
      return []
    return [(lo + hi) // 2]

  def planned(self):
    """How many candidates the rounds still to come test at most: one per
    round, the answer in the larger half each time, until resolved."""
    lo, hi, n = self.lo, self.hi, 0
    while not (hi - lo <= 1 or hi <= lo * (1 + self.res)):
      mid = (lo + hi) // 2
      lo, hi = (lo, mid) if mid - lo >= hi - mid else (mid, hi)
      n += 1
    return n


class SeedSearch:
  """Every seed's own bracket on the size (the associative memories'
  search; the original code bisects each seed alone). A (size, seed) pair
  is stored if any learning rate succeeded there. Records carry the size in
  the field `size`."""

  def __init__(self, brackets, lrs, prune=True, size="k"):
    self.brackets = brackets  # seed -> Bracket | Bisection
    self.seeds = list(brackets)
    self.lrs = list(lrs)
    self.prune = prune
    self.size = size

  def next_round(self):
    """[(size, seed)] of the next round, seed by seed, [] when done."""
    return [(k, s) for s in self.seeds
            for k in self.brackets[s].next_candidates()]

  def planned_pairs(self):
    return sum(self.brackets[s].planned() for s in self.seeds)

  def add(self, records):
    by = {}
    for r in records:
      by.setdefault((r[self.size], r["seed"]), []).append(r["status"])
    for (k, s), statuses in by.items():
      self.brackets[s].results[k] = "success" in statuses

  def needed(self, members):
    """needed(group) over members [(size, seed, lr)]: with prune, per seed
    only sizes strictly inside (its largest success this round, its
    smallest size whose every learning rate failed) still matter (success
    falls with the size)."""
    prune = self.prune

    def fn(g):
      if not prune:
        return range(len(members))
      out = []
      for s in {m[1] for m in members}:
        mine = [i for i, m in enumerate(members) if m[1] == s]
        ok = [members[i][0] for i in mine if g.status[i] == "success"]
        lo = max(ok) if ok else 0
        sizes = {members[i][0] for i in mine}
        bad = [k for k in sizes if all(g.status[i] not in (None, "success")
                                       for i in mine if members[i][0] == k)]
        hi = min(bad) if bad else float("inf")
        out += [i for i in mine if lo < members[i][0] < hi]
      return out
    return fn


class WorkPlan:
  """The work a search run still plans to train: an upper bound on its
  expected course, revised as it goes, so the progress bar's total (done +
  remaining) falls toward the truth and its ETA moves steadily to the end.

  Each member planned but not started counts its whole budget (member-
  steps), a training member its budget left, a finished one nothing; the
  members of the rounds still to come are the search's planned_pairs()
  times the learning rates, and a shape not started yet counts the plan of
  its first bracket (`fresh`, members per shape). costs: the work of one
  member-step of each shape (default 1: the plan counts member-steps)."""

  def __init__(self, budget, fresh, costs=None):
    self.budget = budget
    self.fresh = list(fresh)  # members planned for each shape not started
    self.costs = list(costs) if costs is not None else [1] * len(self.fresh)
    self.cost = 1             # the current shape's work per member-step
    self.future = 0           # members of the current shape's later rounds
    self.live_left = 0        # budget left of the current round's members

  def start_shape(self, members):
    """The current shape starts: its own plan replaces its fresh estimate."""
    self.fresh.pop(0)
    self.cost = self.costs.pop(0)
    self.future = members

  def start_round(self, n):
    """A round of n members starts (they were planned among `future`)."""
    self.future = max(0, self.future - n)
    self.live_left = n * self.budget

  def update_round(self, left):
    """The current round's members have `left` member-steps of budget left
    (0 for those finished)."""
    self.live_left = left

  def end_round(self, members):
    """A round ended; the shape's search now plans `members` more."""
    self.live_left = 0
    self.future = members

  def end_shape(self):
    self.future = self.live_left = 0

  def remaining(self):
    return (self.budget * sum(n * c for n, c in zip(self.fresh, self.costs)) +
            self.cost * (self.budget * self.future + self.live_left))


def drive(search, max_rounds, run_round, plan, prog):
  """Runs one shape's search round by round, until it asks for nothing or
  max_rounds; returns the number of rounds. run_round(rnd, pairs) -> the
  round's records (each pair with every learning rate of search.lrs),
  trained or resumed; it keeps plan.update_round and the bar current while
  it trains. Between rounds the plan takes the search's new plan."""
  n_lrs = len(search.lrs)
  plan.start_shape(n_lrs * search.planned_pairs())
  prog.set_total(prog.done + plan.remaining())
  rnd = 0
  while rnd < max_rounds:
    pairs = search.next_round()
    if not pairs:
      break
    plan.start_round(n_lrs * len(pairs))
    search.add(run_round(rnd, pairs))
    rnd += 1
    plan.end_round(n_lrs * search.planned_pairs() if rnd < max_rounds else 0)
    prog.set_total(prog.done + plan.remaining())
  plan.end_shape()
  prog.set_total(prog.done + plan.remaining())
  return rnd
