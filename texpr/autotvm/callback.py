"""Callbacks of Tuner.tune: each is called as callback(tuner, inputs, results) after every
measured batch."""
import sys
import time

from .measure import MeasureErrorNo
from .record import Database, encode


def log_to_file(path):
    """Append every record to a JSON-lines log (flushed per batch: an interrupted run keeps
    what it measured)."""
    def callback(tuner, inputs, results):
        with open(path, "a") as f:
            for inp, res in zip(inputs, results):
                f.write(encode(inp, res) + "\n")
    callback.path = path
    return callback


def log_to_database(db):
    """Save every record to a SQLite tuning database (a Database or a path)."""
    if not isinstance(db, Database):
        db = Database(db)

    def callback(tuner, inputs, results):
        for inp, res in zip(inputs, results):
            db.save(inp, res)
    callback.database = db
    return callback


def progress_bar(total, prefix="", si_prefix="G", file=None):
    """A one-line progress report: trials done, best GFLOP/s so far, the current one."""
    scale = {"G": 1e9, "M": 1e6, "T": 1e12, "K": 1e3}.get(si_prefix, 1e9)
    state = {"done": 0, "t0": time.time()}
    out = file or sys.stderr

    def callback(tuner, inputs, results):
        for inp, res in zip(inputs, results):
            state["done"] += 1
            cur = 0.0
            if res.error_no == MeasureErrorNo.NO_ERROR and tuner.task.flop:
                cur = tuner.task.flop / (sum(res.costs) / len(res.costs))
        out.write(f"\r{prefix}[Task {tuner.task.name}] Current/Best: {cur / scale:7.2f}/"
                  f"{tuner.best_flops / scale:7.2f} {si_prefix}FLOPS | Progress: "
                  f"({state['done']}/{total}) | {time.time() - state['t0']:.1f} s")
        if state["done"] >= total:
            out.write("\n")
        out.flush()
    callback.logs_records = False       # not told of the finalists' re-measurement (trials)
    return callback
