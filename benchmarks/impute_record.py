"""The JSON record of ``benchmarks/impute.py``: the issue's targets per mask, merging with an
earlier record (``--merge``), writing it, and the printed table."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import torch


def write_record(results: dict, a, earlier: dict | None, masks: tuple, variables: tuple
                 ) -> None:
    """Write ``results`` (mask -> hidden_fraction, eval_months, methods, targets) to ``a.out``
    with the other masks of ``earlier`` (as that run left them), and print the table."""
    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    args = recorded_args(a)
    runs = {k: {"date": date, "args": args} for k in results}
    if earlier is not None:  # the other masks as an earlier run left them
        for k in earlier.get("table", {}):
            if k not in results:
                results[k] = {**earlier["masks"][k], "methods": earlier["table"][k],
                              "targets": earlier["target"][k]}
                runs[k] = earlier.get("runs", {}).get(
                    k, {"date": earlier["date"], "args": earlier["args"]})
    results = {k: results[k] for k in masks if k in results}
    runs = {k: runs[k] for k in results}
    record = {"date": date, "args": args, "runs": runs,
              "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
              "field": str(a.field), "variables": list(variables),
              "masks": {k: {"hidden_fraction": r["hidden_fraction"],
                            "eval_months": r["eval_months"]} for k, r in results.items()},
              "table": {k: r["methods"] for k, r in results.items()},
              "target": {k: r["targets"] for k, r in results.items()}}
    record["target"]["all_met"] = bool(results) and all(
        t.get("rmse_target_met") and t.get("coverage_target_met") and t.get("crps_target_met")
        for t in record["target"].values())
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(record, indent=1))
    table(results)
    table(results)


def recorded_args(a) -> dict:
    """The command line as the JSON records it (paths as strings)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}


#: arguments that must agree for results of two runs to share one table
COMPARABLE = ("field", "months", "seed", "eval_months")


def merge_source(a) -> dict | None:
    """The earlier record of ``--out`` to merge into (None when there is none), refused with
    one line when it was scored on another field, record length, seed or month count."""
    if not a.out.is_file():
        return None
    try:
        old = json.loads(a.out.read_text())
        for k in old.get("table", {}):
            old["masks"][k], old["target"][k]  # noqa: B018 (every mask complete)
        args = old["args"]
    except (ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"--merge: {a.out} is not a complete impute.py record ({e!r}); "
                         f"write to another --out") from None
    now = recorded_args(a)
    differ = {k: (args.get(k), now[k]) for k in COMPARABLE if args.get(k) != now[k]}
    if differ:
        raise SystemExit(f"--merge: {a.out} was scored with other settings (earlier, now): "
                         f"{differ}; use the same ones or another --out")
    return old


def targets(rows: dict) -> dict:
    """The issue's targets for the conditional model against the classical methods."""
    ours = rows.get("polydiff_conditional")
    classical = {k: v for k, v in rows.items() if v is not None and not k.startswith("polyd")}
    if ours is None or not classical:
        return {}
    best_rmse = min(v["rmse"] for v in classical.values())
    best_mae = min(v["mae"] for v in classical.values())
    prob = [v["crps"] for v in classical.values() if "coverage90" in v]
    return {"rmse_ratio_to_best_classical": ours["rmse"] / best_rmse,
            "rmse_target_met": ours["rmse"] <= 0.8 * best_rmse,
            "coverage90": ours["coverage90"],
            "coverage_target_met": 0.85 <= ours["coverage90"] <= 0.95,
            "crps": ours["crps"], "best_probabilistic_crps": min(prob) if prob else None,
            "best_classical_mae": best_mae,
            "crps_target_met": bool(ours["crps"] < best_mae
                                    and (not prob or ours["crps"] < min(prob)))}


def table(results: dict) -> None:
    for kind, res in results.items():
        print(f"\n{kind} ({res['hidden_fraction']:.0%} hidden)")
        print(f"{'method':24s} {'RMSE':>7s} {'MAE':>7s} {'CRPS':>7s} {'cov90':>6s} {'sec':>7s}")
        for name, r in res["methods"].items():
            if r is None:
                print(f"{name:24s} {'n/a':>7s}")
                continue
            cov = f"{r['coverage90']:.0%}" if "coverage90" in r else "-"
            print(f"{name:24s} {r['rmse']:7.3f} {r['mae']:7.3f} {r['crps']:7.3f} {cov:>6s} "
                  f"{r['seconds']:7.1f}")
        print(f"targets: {res['targets']}")
