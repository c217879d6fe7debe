"""The staleness CDF, the requests-and-writes bars and the dashboard panels, drawn with matplotlib."""

from __future__ import annotations

from pathlib import Path

from figures import Figures
from settings import INTERVAL


def plots(results: list[Figures], directory: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for f in results:
        if f.staleness_s:
            ordered = sorted(f.staleness_s)
            axis.plot(ordered, [i / len(ordered) for i in range(1, len(ordered) + 1)], label=f"{f.design} {f.objects}")
    axis.axvline(1.1 * INTERVAL + 0.5, color="grey", linestyle="--", label="target p95")
    axis.set_xlabel("seconds from CCE change to visible status")
    axis.set_ylabel("fraction of objects")
    axis.set_title("Staleness CDF")
    axis.legend()
    figure.tight_layout()
    figure.savefig(directory / "staleness_cdf.png", dpi=100)

    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    labels = [f"{f.design}\n{f.objects}" for f in results]
    axes[0].bar(labels, [f.active_requests_per_cluster_per_interval for f in results], color="tab:blue")
    axes[0].set_title("CCE requests per cluster per 5 s interval")
    axes[1].bar(labels, [f.status_writes_per_min_active for f in results], color="tab:orange")
    axes[1].set_title("status writes per minute (active upgrade)")
    figure.tight_layout()
    figure.savefig(directory / "requests_and_writes.png", dpi=100)
    plt.close("all")


def dashboard(results: list[Figures], directory: Path) -> None:
    """The Grafana dashboard's panels, drawn from the operator's own /metrics during the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = next((f for f in reversed(results) if f.design == "ours" and f.metrics_timeline), None)
    if run is None:
        return
    series = run.metrics_timeline
    t = [s["t"] for s in series]

    def rate(name: str) -> list[float]:
        values = [s.get(name, 0.0) for s in series]
        return [0.0] + [
            max(0.0, (values[i] - values[i - 1]) / max(1e-6, t[i] - t[i - 1])) for i in range(1, len(values))
        ]

    figure, axes = plt.subplots(2, 3, figsize=(16, 6))
    axes[0][0].plot(t, rate("ccupgrade_polls_total"))
    axes[0][0].set_title("rate(ccupgrade_polls_total)")
    axes[0][1].plot(t, rate("ccupgrade_cce_requests_total"), color="tab:green")
    axes[0][1].set_title("rate(ccupgrade_cce_requests_total)")
    axes[1][0].plot(t, rate("ccupgrade_status_writes_total"), color="tab:orange", label="status writes/s")
    axes[1][0].plot(t, rate("ccupgrade_events_total"), color="tab:red", label="events/s")
    axes[1][0].legend()
    axes[1][0].set_title("status writes and events")
    for phase in ("Init", "Running", "Success"):
        axes[1][1].plot(t, [s.get(f"phase_{phase}", 0.0) for s in series], label=phase)
    axes[1][1].legend()
    axes[1][1].set_title("sum by (phase) (ccupgrade_upgrade_phase)")
    axes[0][2].plot(
        t,
        [s["progress_sum"] / s["progress_objects"] if s.get("progress_objects") else 0.0 for s in series],
        color="tab:purple",
    )
    axes[0][2].set_title("avg(ccupgrade_task_progress_percent)")
    for task in ("PreCheck", "Snapshot", "Cluster", "PostCheck"):
        axes[1][2].plot(t, [s.get(f"tasks_ended_{task}", 0.0) for s in series], label=task)
    axes[1][2].legend()
    axes[1][2].set_title("sum by (task) (ccupgrade_task_duration_seconds_count)")
    for axis in axes.flat:
        axis.set_xlabel("seconds since operator start")
    figure.suptitle(
        f"cce-upgrade-operator dashboard panels ({run.objects} objects; rendered with matplotlib from a bench run)"
    )
    figure.tight_layout()
    figure.savefig(directory / "dashboard.png", dpi=100)
    plt.close("all")
