#!/usr/bin/env python3
"""The README's simulator figures, from the simulator's own output files.

    python3 simulations/analysis/figures.py run DIR [DIR ...]   # scale table rows, plots per run
    python3 simulations/analysis/figures.py sweep DIR [--metrics A,B]  # a sweep: table, plot with 95 % CIs
    python3 simulations/analysis/figures.py attacks DIR [...]   # adversary scenarios: their figures
    python3 simulations/analysis/figures.py compare A B        # in-process run A against driven daemons B

`run` reads each run's metrics.csv (gossip delivery latencies, agreements over time, traffic)
and summary.json (the machine's figures, which only the run itself can measure), prints one
row of the README's scale table per run, and writes DIR/figures/*.png. `sweep` reads sweep.csv
(written by `me2b-sim sweep`) and writes DIR/figures/sweep.png: each metric against the grid's
first key, mean and 95 % confidence interval. Needs pandas and matplotlib
(simulations/analysis/requirements.txt, or Debian's python3-pandas and python3-matplotlib).
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def load(run: Path):
    metrics = pd.read_csv(run / "metrics.csv", keep_default_na=False, na_values=[""])
    summary = json.loads((run / "summary.json").read_text())
    return metrics, summary


def gossip_latencies(metrics: pd.DataFrame) -> pd.Series:
    """First deliveries of requests and intents: the rows with a latency."""
    seen = metrics[metrics["event"].isin(["request-seen", "intent-seen"])]
    return seen["latency_ms"].dropna().sort_values().reset_index(drop=True)


def nearest_rank(values: pd.Series, q: float):
    """The simulator's own percentile: the value at rank round((n - 1) q)."""
    if values.empty:
        return None
    return float(values.iloc[int(round((len(values) - 1) * q))])


def scale_row(run: Path) -> dict:
    metrics, summary = load(run)
    latencies = gossip_latencies(metrics)
    machine = summary["machine"]
    counts = summary["counts"]
    agreements = int((metrics["event"] == "agreement-finalized").sum() / 2)
    open_left = counts["negotiations_by_state"]
    left = sum(v for k, v in open_left.items() if k not in ("FINALIZED", "TERMINATED"))
    return {
        "scenario": summary["scenario"],
        "time scale": summary["time_scale"],
        "wall s": round(machine["wall_run_s"]),
        "per simulated minute s": round(machine["wall_s_per_simulated_minute"]),
        "memory per node MiB": round(machine["memory_per_node_mib"], 1),
        "delivery": summary["gossip"]["delivery_ratio"],
        "gossip p50 ms": round(nearest_rank(latencies, 0.5) or float("nan")),
        "gossip p99 ms": round(nearest_rank(latencies, 0.99) or float("nan")),
        "duplicates per first copy": round(summary["gossip"]["duplicates_per_first_copy"] or 0, 1),
        "agreements": agreements,
        "left open": left,
        "lag p99 ms": round(machine["event_loop_lag"]["lag_p99_ms"], 1),
        "trusted": machine["latency_figures_trustworthy"],
        "idle memory per node MiB": round(machine.get("idle_memory_per_node_mib", float("nan")), 2),
        "DHT": summary.get("dht", {}).get("enabled"),
        "distinct peers p50": summary.get("connections", {}).get("distinct_peers_per_node", {}).get("p50"),
        "connected at end p50 / p99": "{} / {}".format(
            summary.get("connections", {}).get("connected_at_end_per_node", {}).get("p50"),
            summary.get("connections", {}).get("connected_at_end_per_node", {}).get("p99")),
        **dht_columns(metrics),
    }


def dht_columns(metrics: pd.DataFrame) -> dict:
    """Profile lookups from the dht-query rows: how many, found, peers asked and duration."""
    queries = metrics[(metrics["event"] == "dht-query") & (metrics["subject"] == "profile")]
    if queries.empty:
        return {}
    fields = queries["detail"].str.extract(r"found=(\w+) asked=(\d+) answered=(\d+) ms=(\d+)")
    found = (fields[0] == "true").mean()
    return {
        "profile lookups": len(queries),
        "found": round(float(found), 3),
        "peers asked p50": nearest_rank(fields[1].astype(int).sort_values().reset_index(drop=True), 0.5),
        "lookup p50 ms (wall)": nearest_rank(fields[3].astype(int).sort_values().reset_index(drop=True), 0.5),
    }


def plot_run(run: Path):
    metrics, summary = load(run)
    out = run / "figures"
    out.mkdir(exist_ok=True)
    latencies = gossip_latencies(metrics)
    if not latencies.empty:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(latencies, [(i + 1) / len(latencies) for i in range(len(latencies))])
        ax.set_xlabel("gossip delivery latency (ms, scenario time)")
        ax.set_ylabel("fraction of deliveries")
        ax.set_title(f"{summary['scenario']}: delivery latency CDF")
        fig.tight_layout()
        fig.savefig(out / "delivery_latency_cdf.png", dpi=120)
        plt.close(fig)
    finalized = metrics[(metrics["event"] == "agreement-finalized") & (metrics["role"] == "person")]
    if not finalized.empty:
        times = finalized["time_ms"].sort_values() / 1000.0
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.step(times, range(1, len(times) + 1), where="post")
        ax.set_xlabel("scenario time (s)")
        ax.set_ylabel("agreements finalized")
        fig.tight_layout()
        fig.savefig(out / "agreements_over_time.png", dpi=120)
        plt.close(fig)


def command_run(dirs):
    rows = [scale_row(Path(d)) for d in dirs]
    for d in dirs:
        plot_run(Path(d))
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False) if hasattr(table, "to_markdown") and _has_tabulate() else table.to_string(index=False))


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401

        return True
    except ImportError:
        return False


def command_sweep(directory: str, only=None):
    root = Path(directory)
    sweep = pd.read_csv(root / "sweep.csv")
    fixed = {"point", "metric", "n", "mean", "stddev", "ci95_low", "ci95_high"}
    keys = [c for c in sweep.columns if c not in fixed]
    if not keys:
        raise SystemExit("sweep.csv has no grid keys")
    x = keys[0]
    metrics = sorted(sweep["metric"].unique())
    if only:
        sweep = sweep[sweep["metric"].isin(only)]
        metrics = [m for m in only if m in set(metrics)]
    table = sweep.pivot_table(index=x, columns="metric", values="mean")
    print(table.round(1).to_string())
    out = root / "figures"
    out.mkdir(exist_ok=True)
    fig, axes = plt.subplots(len(metrics), 1, figsize=(6, 2.6 * len(metrics)), sharex=True, squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics):
        rows = sweep[sweep["metric"] == metric].sort_values(x)
        low = (rows["mean"] - rows["ci95_low"]).fillna(0)
        high = (rows["ci95_high"] - rows["mean"]).fillna(0)
        ax.errorbar(rows[x], rows["mean"], yerr=[low, high], marker="o", capsize=4)
        ax.set_ylabel(metric, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel(x)
    n = int(sweep["n"].max())
    fig.suptitle(f"{root.name}: mean and 95 % CI over {n} seeds")
    fig.tight_layout()
    fig.savefig(out / "sweep.png", dpi=120)
    plt.close(fig)
    print(f"written {out / 'sweep.png'}")


def command_attacks(dirs):
    rows = []
    for d in dirs:
        _, summary = load(Path(d))
        attack = summary.get("attack", {})
        row = {"scenario": summary["scenario"], "wall s": round(summary["machine"]["wall_run_s"] + summary["machine"]["wall_setup_s"])}
        if "sybils" in attack:
            s = attack["sybils"]
            row.update({
                "sybils : honest": f"{s['sybils']} : {s['honest_people']}",
                "honest delivery": s["honest_delivery_ratio"],
                "after attack": s["honest_delivery_after_attack"],
                "recover s": s["time_to_recover_s"],
                "latency p50/p99 ms": f"{round(s['latency_after_attack_ms']['p50'] or 0)} / {round(s['latency_after_attack_ms']['p99'] or 0)}",
                "withheld": s["achieved"]["messages_withheld"],
            })
            if s.get("eclipse"):
                e = s["eclipse"]
                row["target heard"] = f"{e['requests_heard']} / {e['requests']}"
        if "demand_poisoning" in attack:
            p = attack["demand_poisoning"]
            row.update({"fake share of demand": round(p["fake_share_of_demand"] or 0, 3),
                        "honest intents delivered": p["honest_intent_delivery_ratio"]})
        if "ignored_revocations" in attack:
            i = attack["ignored_revocations"]
            row.update({"to silent": i["revocations_after_they_went_silent"], "confirmed": i["of_those_confirmed"],
                        "to others confirmed": f"{i['of_those_confirmed_by_receipt']} / {i['revocations_to_the_others']}"})
        if "partition" in attack:
            p = attack["partition"]
            row.update({"revoked during": p["revocations_during"],
                        "confirmed within 60 s of heal": p["fraction_confirmed_within_60s"],
                        "heal to receipt p99 ms": round(p["heal_to_receipt_ms"]["p99"] or 0)})
        rows.append(row)
    for row in rows:
        print(json.dumps(row))


def command_compare(first: str, second: str):
    """The figures both reports give, from each run's metrics.csv where it has them (gossip
    latencies, agreements) and summary.json otherwise, side by side: the README's table of the
    in-process run against the same scenario on real daemons."""
    rows = []
    runs = [load(Path(first)), load(Path(second))]
    def figures(metrics, summary):
        latencies = gossip_latencies(metrics)
        person_finalized = metrics[(metrics["event"] == "agreement-finalized") & (metrics["role"] == "person")]
        return {
            "gossip delivery": summary["gossip"]["delivery_ratio"],
            "gossip p50 ms": nearest_rank(latencies, 0.5),
            "gossip p99 ms": nearest_rank(latencies, 0.99),
            "agreements": len(person_finalized),
            "time to agreement p50 ms": summary["time_to_agreement_ms"]["p50"],
            "time to agreement p99 ms": summary["time_to_agreement_ms"]["p99"],
            "deletion receipts": summary["counts"]["deletion_receipts"],
            "revocation to receipt p50 ms": summary["revocation_to_receipt_ms"]["p50"],
            "peers connected at end p50": summary["connections"]["connected_at_end_per_node"]["p50"],
        }
    a, b = (figures(*run) for run in runs)
    for key in a:
        ratio = (b[key] / a[key]) if isinstance(a[key], (int, float)) and a[key] and b[key] is not None else None
        rows.append({"figure": key, "A": a[key], "B": b[key], "B / A": None if ratio is None else round(ratio, 2)})
    table = pd.DataFrame(rows)
    print(f"A: {first}\nB: {second}")
    print(table.to_markdown(index=False) if _has_tabulate() else table.to_string(index=False))


def main(argv):
    if len(argv) == 4 and argv[1] == "compare":
        command_compare(argv[2], argv[3])
        return 0
    if len(argv) < 3 or argv[1] not in ("run", "sweep", "attacks"):
        print(__doc__)
        return 2
    if argv[1] == "run":
        command_run(argv[2:])
    elif argv[1] == "sweep":
        only = argv[4].split(",") if len(argv) > 4 and argv[3] == "--metrics" else None
        command_sweep(argv[2], only)
    else:
        command_attacks(argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
