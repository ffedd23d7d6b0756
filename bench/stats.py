"""Small statistics helpers for benchmark figures."""


def percentile(values: list[float], fraction: float) -> float:
    """Return the value below which this fraction of values fall (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def lateness_summary(lateness: list[float]) -> dict:
    """p50, p99 and max lateness in seconds."""
    return {"p50": percentile(lateness, 0.50), "p99": percentile(lateness, 0.99), "max": max(lateness)}
