"""python -m texpr.autotvm: tune a template from the command line, or show the best records.

    python -m texpr.autotvm tune topi.dense --args '[["TENSOR",[1024,1024],"float32"],
        ["TENSOR",[1024,1024],"float32"]]' --trials 64 --tuner xgb --log tune.db
    python -m texpr.autotvm best tune.db
    python -m texpr.autotvm plot xgb.log random.log --out curve.png
"""
import argparse
import json
import sys

from . import callback, measure, record, task as task_mod, tuner as tuners
from .tuner.tuner import CONFIRM_FINALISTS

TUNERS = {"xgb": tuners.XGBTuner, "ga": tuners.GATuner, "random": tuners.RandomTuner,
          "grid": tuners.GridSearchTuner}


def _callbacks(log, trials):
    cbs = [callback.progress_bar(trials)]
    if log:
        cbs.append(callback.log_to_database(log) if log.endswith((".db", ".sqlite"))
                   else callback.log_to_file(log))
    return cbs


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m texpr.autotvm", description=__doc__.split(
        "\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tune", help="tune a registered template")
    t.add_argument("template", help="e.g. topi.dense, topi.conv2d_nchw")
    t.add_argument("--args", required=True, help="the template's arguments as a JSON list")
    t.add_argument("--target", default="native")
    t.add_argument("--trials", type=int, default=64)
    t.add_argument("--tuner", choices=sorted(TUNERS), default="xgb")
    t.add_argument("--early-stopping", type=int, default=None)
    t.add_argument("--log", default=None, help="records: .db/.sqlite (SQLite) or JSON lines")
    t.add_argument("--resume", action="store_true", help="continue from the log's records")
    t.add_argument("--parallel", type=int, default=None, help="parallel builds")
    t.add_argument("--timeout", type=float, default=10.0, help="seconds per measurement")
    b = sub.add_parser("best", help="the best record of each workload in a log / database")
    b.add_argument("log")
    p = sub.add_parser("plot", help="the tuning curve (best GFLOP/s per trial) of logs, one "
                       "curve per log (per tuner) and workload; needs matplotlib")
    p.add_argument("logs", nargs="+")
    p.add_argument("--labels", nargs="+", default=None, help="a label per log (default: "
                   "the file names)")
    p.add_argument("--title", default=None)
    p.add_argument("--out", default="tuning_curve.png", help="the image file written")
    args = ap.parse_args(argv)
    if args.cmd == "plot":
        from .plot import plot_tuning_curve
        fig = plot_tuning_curve(args.logs, labels=args.labels, title=args.title)
        fig.savefig(args.out, dpi=120, bbox_inches="tight")
        print(f"wrote {args.out}")
        return 0
    if args.cmd == "best":
        best = record.best_by_workload(record.load_records(args.log))
        for (target, workload), (inp, res) in sorted(best.items(), key=lambda kv: str(kv[0])):
            cost = record.mean_cost(res)
            gf = f", {inp.task.flop / cost / 1e9:.1f} GFLOP/s" if inp.task.flop else ""
            print(f"{target} {json.dumps(workload)}: {cost * 1e3:.4f} ms{gf}  config "
                  f"{inp.config.index} {json.dumps(inp.config.to_json_dict()['entity'])}")
        return 0
    try:
        targs = json.loads(args.args)
    except ValueError as e:
        ap.error(f"--args is not JSON: {e}")
    task = task_mod.create(args.template, record.freeze(targs), args.target)
    print(f"{task.name} on {task.target}: {len(task.config_space)} configs")
    tuner = TUNERS[args.tuner](task)
    if args.resume and args.log:
        print(f"resumed {tuner.load_history(args.log)} records")
    tuner.tune(args.trials, measure.measure_option(
        builder=measure.LocalBuilder(n_parallel=args.parallel),
        runner=measure.LocalRunner(timeout=args.timeout, check_correctness=True)),
        early_stopping=args.early_stopping, callbacks=_callbacks(args.log, args.trials),
        confirm=CONFIRM_FINALISTS)
    print(f"best: {tuner.best_flops / 1e9:.2f} GFLOP/s, config {tuner.best_config}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
