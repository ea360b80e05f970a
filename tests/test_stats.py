"""The statistics module: intervals worked by hand and estimators that
recover known answers."""
import math

import numpy as np

from factrecall import stats


def test_percentile_intervals_by_hand():
  v = np.arange(201, dtype=float)  # percentiles 2.5 and 97.5 are 5 and 195
  assert stats.percentile_ci(v) == [5.0, 195.0]
  # Non-finite replicates are dropped; too few finite ones give no interval.
  assert stats.finite_ci(list(v) + [np.nan, np.inf]) == [5.0, 195.0]
  assert all(math.isnan(x) for x in stats.finite_ci([1.0] * 9 + [np.nan], 10))
  assert all(math.isnan(x) for x in stats.finite_ci([np.nan, np.nan]))


def test_bootstrap_of_a_mean_is_deterministic_and_covers_it():
  x = np.random.default_rng(0).normal(3.0, 1.0, 400)
  ci = stats.bootstrap(lambda i: float(np.mean(x[i])), len(x), 500, seed=1)
  assert ci == stats.bootstrap(lambda i: float(np.mean(x[i])), len(x), 500,
                               seed=1)
  assert ci[0] < np.mean(x) < ci[1]
  # Its width is about 2 * 1.96 standard errors (1 / sqrt(400) each).
  assert 0.15 < ci[1] - ci[0] < 0.25
  # A statistic that is never finite has no interval.
  assert all(math.isnan(v) for v in stats.bootstrap(lambda i: np.nan, 5, 20))


def test_geometric_mean_by_hand():
  m, ci = stats.geo_mean_ci([1.0, 4.0, -1.0, np.nan], 200, 0)
  assert abs(m - 2.0) < 1e-12  # sqrt(1 * 4); <= 0 and NaN are left out
  assert 1.0 <= ci[0] <= ci[1] <= 4.0
  m, ci = stats.geo_mean_ci([5.0], 200, 0)
  assert abs(m - 5.0) < 1e-12 and all(math.isnan(v) for v in ci)


def test_common_slope_ignores_the_offsets_between_curves():
  # Two curves y = x^0.8 and y = 10 x^0.8: one slope, two intercepts. A
  # pooled fit across them would mix the offset into the slope.
  lx = np.log([1.0, 2.0, 4.0, 3.0, 6.0, 12.0])
  ly = 0.8 * lx + np.log([1, 1, 1, 10, 10, 10])
  g = np.array([0, 0, 0, 1, 1, 1])
  assert abs(stats.common_slope(lx, ly, g) - 0.8) < 1e-12
  assert abs(np.polyfit(lx, ly, 1)[0] - 0.8) > 0.1
  assert math.isnan(stats.common_slope(lx[[0, 3]], ly[[0, 3]], g[[0, 3]]))
