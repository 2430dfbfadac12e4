"""Percentiles for the benchmark records: linear interpolation between the
closest ranks (numpy's default), None for no values; and the summary every
latency list gets."""


def summary(values):
    """Count, p50, p95, p99 and max of a list (None for each when empty)."""
    return {"n": len(values), "p50": percentile(values, 0.50), "p95": percentile(values, 0.95),
            "p99": percentile(values, 0.99), "max": max(values) if values else None}


def percentile(values, q):
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)
