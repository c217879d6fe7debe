"""What one benchmark run of one design measured, and the table and ratios it prints."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Figures:
    design: str
    objects: int
    clusters: int
    cold_start_s: float | None = None
    cold_start_peak_rps: int = 0  # the busiest single second: may reach the gate's rate plus its burst
    cold_start_peak_5s_rps: float = 0.0  # the busiest 5 s, per second: the sustained rate, bounded by the cap
    active_requests_per_cluster_per_interval: float = 0.0
    # while every cluster's Cluster task runs (the workflow list plus the task's own progress); goal <= 2.0
    cluster_task_requests_per_cluster_per_interval: float = 0.0
    quiet_status_writes: int = 0
    quiet_event_writes: int = 0
    status_writes_per_min_active: float = 0.0
    event_writes_total: int = 0
    staleness_s: list[float] = field(default_factory=list)
    event_lag_s: list[float] = field(default_factory=list)  # change -> the object's last Event of it
    # ours only: change -> the first CCE read of the object's cluster after it (the poller's part of
    # the staleness), and that read -> the new status seen (the write path's part), object by object
    detection_s: list[float] = field(default_factory=list)
    delivery_s: list[float] = field(default_factory=list)
    unseen_changes: int = 0
    terminal_requests_per_cluster_per_min: float = 0.0
    rss_mb: float = 0.0
    peak_rss_mb: float = 0.0  # VmHWM: the most it held, at any moment of the run
    cpu_percent_active: float = 0.0
    cpu_percent_quiet: float = 0.0
    metrics_answer_max_s: float = 0.0  # the slowest /metrics answer during the bursts (liveness probes wait as long)
    metrics_timeline: list[dict[str, float]] = field(default_factory=list)

    def percentile(self, q: float, values: list[float] | None = None) -> float | None:
        values = self.staleness_s if values is None else values
        if not values:
            return None
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def table(results: list[Figures]) -> str:
    rows = [
        (
            "design",
            "objects",
            "clusters",
            "cold start s",
            "req/cluster/interval",
            "req … Cluster task",
            "quiet writes",
            "staleness p50/p95/p99/max s",
            "Event lag p50/p95 s",
            "unseen",
            "writes/min active",
            "terminal req/cluster/min",
            "RSS MB (peak)",
            "CPU % active/quiet",
        )
    ]
    for f in results:
        stale = "/".join(f"{f.percentile(q):.2f}" if f.staleness_s else "-" for q in (0.5, 0.95, 0.99, 1.0))
        lag = "/".join(f"{f.percentile(q, f.event_lag_s):.2f}" if f.event_lag_s else "-" for q in (0.5, 0.95))
        rows.append(
            (
                f.design,
                str(f.objects),
                str(f.clusters),
                str(f.cold_start_s),
                f"{f.active_requests_per_cluster_per_interval:.2f}",
                f"{f.cluster_task_requests_per_cluster_per_interval:.2f}",
                f"{f.quiet_status_writes}+{f.quiet_event_writes}ev",
                stale,
                lag,
                str(f.unseen_changes),
                f"{f.status_writes_per_min_active:.0f}",
                f"{f.terminal_requests_per_cluster_per_min:.3f}",
                f"{f.rss_mb:.0f} ({f.peak_rss_mb:.0f})",
                f"{f.cpu_percent_active}/{f.cpu_percent_quiet}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def ratios(results: list[Figures]) -> list[str]:
    lines = []
    by = {(f.design, f.objects): f for f in results}
    for (design, n), ours in by.items():
        naive = by.get(("naive", n))
        if design != "ours" or naive is None:
            continue

        def ratio(a: float, b: float) -> str:
            return f"{a / b:.1f}x" if b else "inf"

        lines.append(
            f"{n} objects: CCE requests naive/ours {ratio(naive.active_requests_per_cluster_per_interval, ours.active_requests_per_cluster_per_interval)}, "
            f"terminal requests naive(5s)/ours {ratio(naive.terminal_requests_per_cluster_per_min, ours.terminal_requests_per_cluster_per_min)} "
            f"(a 30 s naive timer: {ratio(naive.terminal_requests_per_cluster_per_min / 6, ours.terminal_requests_per_cluster_per_min)}), "
            f"quiet status writes {naive.quiet_status_writes} vs {ours.quiet_status_writes}"
        )
    return lines
