#!/usr/bin/env python3
"""bench/end-to-end's comparison: chrysalis's run.ts JSONs against pytorch_recipe.py's, medians over the pairs.

    python3 bench/end-to-end/report.py --out results.json pytorch-1.json ... chrysalis-1.json ...

The price of chrysalis is its workflow wall time (start to close; the stack is already up) over the script's
total (from its first line, imports included): "over" = chrysalis / script - 1, goal <= 5 %. It is split into what
training speed costs (the training loops) and what everything else costs (data import, orchestration, storage,
checkpoints, the cost measurement, the report), so a miss says which one to work on.
"""
import argparse
import json
import statistics


def test_errors(model):
    """chrysalis's run.ts names the test errors "errors"; the script names them "test_errors"."""
    return model["errors"] if "errors" in model else model["test_errors"]


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("files", nargs="+")
    a = p.parse_args()
    runs = [json.load(open(f)) for f in a.files]
    script = [r for r in runs if r["side"] == "pytorch"]
    ours = [r for r in runs if r["side"] == "chrysalis"]
    wall = {"chrysalis": median(ours, "wallSeconds"), "pytorch": median(script, "total_seconds")}
    train = {"chrysalis": median(ours, "trainingSeconds"), "pytorch": median(script, "training_seconds")}
    infer = {"chrysalis": median(ours, "inferenceSeconds"), "pytorch": median(script, "inference_seconds")}
    rest = {"chrysalis": median(ours, "outsideSeconds"), "pytorch": median(script, "outside_seconds")}
    m = ours[0]["machine"]
    summary = {
        "machine": f"{m['cpu']}, {m['cores']} cores, {' '.join(m['simd'])}",
        "budget": {"teacherEpochs": ours[0]["teacherEpochs"], "studentEpochs": ours[0]["studentEpochs"]},
        "pairs": len(ours),
        "over": wall["chrysalis"] / wall["pytorch"] - 1,
        "wallSeconds": wall, "trainingSeconds": train, "inferenceSeconds": infer, "outsideSeconds": rest,
        "activitySecondsMedian": {k: statistics.median(r["activitySeconds"].get(k, 0) for r in ours)
                                  for k in ours[0]["activitySeconds"]},
        "errors": {side: {mod["name"]: [test_errors(r2) for r in rs for r2 in r["models"] if r2["name"] == mod["name"]]
                          for mod in rs[0]["models"]}
                   for side, rs in (("chrysalis", ours), ("pytorch", script))},
    }
    with open(a.out, "w") as f:
        json.dump({"summary": summary, "runs": runs}, f, indent=2)
        f.write("\n")
    print(f"machine: {summary['machine']}; budget {summary['budget']}; {len(ours)} pair(s), medians")
    print("| | wall s | training loops s | inference s | the rest s |")
    print("|---|--:|--:|--:|--:|")
    for side in ("pytorch", "chrysalis"):
        print(f"| {side} | {wall[side]:.1f} | {train[side]:.1f} | {infer[side]:.1f} | {rest[side]:.1f} |")
    print(f"chrysalis over the script: {summary['over'] * 100:+.1f} % (goal <= +5 %)")
    print("chrysalis's activities (median s): " +
          ", ".join(f"{k} {v:.1f}" for k, v in summary["activitySecondsMedian"].items()))
    for side, errs in summary["errors"].items():
        print(f"test errors, {side}: " + ", ".join(f"{k} {v}" for k, v in errs.items()))


if __name__ == "__main__":
    main()
