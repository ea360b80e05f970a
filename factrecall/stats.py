"""Statistics shared by every experiment: percentile intervals, the
nonparametric bootstrap, log-log fits (one curve, or several curves sharing a
slope) and geometric means.

Every interval here is a 95% percentile interval of bootstrap replicates, and
every bootstrap draws from `numpy.random.default_rng(seed)`, so a summary is
a pure function of its records and seed.
"""
import numpy as np

NAN2 = (float("nan"), float("nan"))


def percentile_ci(values):
  """[2.5th, 97.5th] percentiles of `values` (all of them, as given)."""
  return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def finite_ci(values, min_n=1):
  """percentile_ci of the finite values; NaNs when fewer than min_n are
  finite (too few replicates to call it an interval)."""
  v = np.asarray([x for x in values if np.isfinite(x)], float)
  if len(v) < min_n or not len(v):
    return list(NAN2)
  return percentile_ci(v)


def bootstrap(fn, n_units, n_boot, seed=0):
  """95% interval of fn(indices) over n_boot resamples (with replacement) of
  n_units units; replicates where fn is not finite are dropped."""
  rng = np.random.default_rng(seed)
  return finite_ci([fn(rng.integers(0, n_units, n_units))
                    for _ in range(n_boot)])


def geo_mean_ci(values, n_boot, seed):
  """Geometric mean of the positive finite values, and its bootstrap
  interval (NaNs with fewer than two values)."""
  v = np.asarray([x for x in values if np.isfinite(x) and x > 0], float)
  if not len(v):
    return float("nan"), list(NAN2)
  m = float(np.exp(np.mean(np.log(v))))
  if len(v) < 2:
    return m, list(NAN2)
  r = np.random.default_rng(seed)
  b = [np.exp(np.mean(np.log(r.choice(v, len(v))))) for _ in range(n_boot)]
  return m, percentile_ci(b)


def loglog_fit(x, y, n_boot=1000, seed=0):
  """Least squares log y = log c + k log x; bootstrap 95% CIs over points.

  Returns dict(k, c, k_ci, c_ci, c1, c1_ci, n) where c1 is the constant of
  the k = 1 fit (geometric mean of y / x). Points with x or y <= 0 are left
  out; with fewer than two distinct x the slope is NaN.
  """
  x, y = np.asarray(x, float), np.asarray(y, float)
  ok = (x > 0) & (y > 0)
  lx, ly = np.log(x[ok]), np.log(y[ok])
  n = len(lx)
  if n < 2 or np.ptp(lx) == 0:
    c1 = float(np.exp(np.mean(ly - lx))) if n else float("nan")
    return dict(k=float("nan"), c=float("nan"), k_ci=list(NAN2),
                c_ci=list(NAN2), c1=c1, c1_ci=list(NAN2), n=n)
  k, b = np.polyfit(lx, ly, 1)
  rng = np.random.default_rng(seed)
  ks, bs, c1s = [], [], []
  for _ in range(n_boot):
    i = rng.integers(0, n, n)
    c1s.append(np.mean(ly[i] - lx[i]))
    if np.ptp(lx[i]) == 0:
      continue
    kk, bb = np.polyfit(lx[i], ly[i], 1)
    ks.append(kk)
    bs.append(bb)
  return dict(k=float(k), c=float(np.exp(b)), k_ci=percentile_ci(ks),
              c_ci=[float(np.exp(v)) for v in percentile_ci(bs)],
              c1=float(np.exp(np.mean(ly - lx))),
              c1_ci=[float(np.exp(v)) for v in percentile_ci(c1s)], n=n)


def common_slope(lx, ly, g):
  """log y = k log x + b_g: the least-squares slope with one intercept per
  group g (NaN when no group spans two distinct x)."""
  xs, ys = [], []
  for u in np.unique(g):
    sel = g == u
    xs.append(lx[sel] - lx[sel].mean())
    ys.append(ly[sel] - ly[sel].mean())
  xc, yc = np.concatenate(xs), np.concatenate(ys)
  den = float(np.sum(xc * xc))
  return float(np.sum(xc * yc) / den) if den > 0 else float("nan")


def common_slope_fit(x, y, groups, n_boot=1000, seed=0):
  """common_slope of the points with x, y > 0, with a bootstrap CI.

  Curves of different width ratios sit at different heights; a pooled fit
  mixes that offset into the slope's noise. Bootstrap: points resampled
  within each group. Returns dict(k, k_ci, n).
  """
  x, y = np.asarray(x, float), np.asarray(y, float)
  groups = np.asarray(groups)
  ok = (x > 0) & (y > 0)
  lx, ly, g = np.log(x[ok]), np.log(y[ok]), groups[ok]
  all_idx = np.arange(len(lx))
  if len(lx) < 3:
    return dict(k=float("nan"), k_ci=list(NAN2), n=len(lx))
  rng_ = np.random.default_rng(seed)
  by = [all_idx[g == u] for u in np.unique(g)]
  boots = []
  for _ in range(n_boot):
    idx = np.concatenate([rng_.choice(b, len(b)) for b in by])
    v = common_slope(lx[idx], ly[idx], g[idx])
    if np.isfinite(v):
      boots.append(v)
  return dict(k=common_slope(lx, ly, g), n=len(lx), k_ci=percentile_ci(boots))
