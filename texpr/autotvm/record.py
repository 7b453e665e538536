"""Tuning records: TVM-style JSON lines and a SQLite database (the embedded default).

A record is a (MeasureInput, MeasureResult) pair. One JSON object per line:
{"input": [target, task name, task args, {}], "workload": workload, "config": {"index",
"code_hash", "entity": [[knob, kind, value], ...]}, "result": [costs, error_no, all_cost,
timestamp], "cpu": the CPU model, "version": 0.2}, "confirmed": true on the winner of the
finalists' re-measurement (Tuner.tune(confirm=)) and "threads": n, the thread count it was measured
at. The database holds the same fields as columns (workload, target, cpu_model, config,
costs, error_no, confirmed, threads, ...), and answers the best config of a workload with a
query.

The best record of a workload (`rank`): among the records measured at the thread count the
kernel is built for, where there are any (a record of an unknown count matches any); among
those its confirmed ones if it has any; then the lowest mean cost. Of many noisy trials the
fastest reading is likely a lucky one; the finalists re-measured side by side (the fallback
among them, kept unless another is CONFIRM_MARGIN faster) decide instead.
"""
import json
import os
import sqlite3
import time

from ..schedule.config_space import ConfigEntity
from .measure import MeasureErrorNo, MeasureInput, MeasureResult
from .task import TEMPLATES, Task, TuningError, normalize

VERSION = 0.2


def _cpu_model():
    from ..targets.host import host_cpu
    return host_cpu().model


def freeze(v):
    """JSON lists back to the tuples of a workload."""
    return tuple(freeze(x) for x in v) if isinstance(v, list) else v


def encode(inp, res):
    """The JSON line of a record."""
    task = inp.task
    return json.dumps({
        "input": [inp.target, task.name, task.args, {}],
        "workload": task.workload,
        "config": inp.config.to_json_dict(),
        "result": [[float(c) if isinstance(c, (int, float)) else str(c) for c in res.costs],
                   int(res.error_no), float(res.all_cost), float(res.timestamp)],
        "cpu": _cpu_model(),
        "version": VERSION, **({"confirmed": True} if res.confirmed else {}),
        **({"threads": int(res.threads)} if res.threads else {})})


def record_task(target, name, args, workload):
    """A Task standing for a record's (its config space is not collected)."""
    task = Task(name, (), target, TEMPLATES.get(name))
    task.args = normalize(args)
    task.workload = freeze(workload)
    return task


def decode(line):
    """(MeasureInput, MeasureResult) of a JSON line, or None for a line that is not one."""
    try:
        d = json.loads(line)
        target, name, args, _ = d["input"]
        task = record_task(target, name, freeze(args), d.get("workload") or
                           [name] + list(args))
        cfg = ConfigEntity.from_json_dict(d["config"])
        costs, error_no, all_cost, stamp = d["result"]
    except (ValueError, KeyError, TypeError):
        return None
    return MeasureInput(target, task, cfg), MeasureResult(costs, error_no, all_cost, stamp,
                                                          bool(d.get("confirmed", False)),
                                                          int(d.get("threads", 0)))


def load_from_file(path):
    """The records of a JSON-lines log, in order (lines that are not records are skipped:
    a log cut by an interruption ends in half a line)."""
    if not os.path.exists(path):
        raise TuningError(f"no tuning log at {path!r}")
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rec = decode(line)
                if rec is not None:
                    yield rec


def save_to_file(records, path):
    with open(path, "a") as f:
        for inp, res in records:
            f.write(encode(inp, res) + "\n")


def mean_cost(res):
    return sum(res.costs) / len(res.costs)


def rank(res, threads=None):
    """The order of a workload's records, best first: for a kernel of `threads` threads
    (None: any), the records measured at another count last; confirmed ones (the winner of
    a confirmation) before the others; then by mean cost."""
    other = threads is not None and res.threads not in (0, threads)
    return (other, not res.confirmed, mean_cost(res))


def best_by_workload(records, threads=None):
    """{(target, workload): (inp, res)} of the best error-free record of each (`rank`)."""
    best = {}
    for inp, res in records:
        if res.error_no != MeasureErrorNo.NO_ERROR:
            continue
        key = (inp.target, inp.task.workload)
        if key not in best or rank(res, threads) < rank(best[key][1], threads):
            best[key] = (inp, res)
    return best


def pick_best(in_file, out_file):
    """Write the best record of each (target, workload) of in_file to out_file."""
    best = best_by_workload(load_from_file(in_file))
    with open(out_file, "w") as f:
        for inp, res in best.values():
            f.write(encode(inp, res) + "\n")


def load_records(source):
    """Records from a JSON-lines path, a database (a Database or a path ending .db /
    .sqlite), or an iterable of (inp, res)."""
    if isinstance(source, Database):
        return list(source.load())
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if path.endswith((".db", ".sqlite", ".sqlite3")):
            return list(Database(path).load())
        return list(load_from_file(path))
    return list(source)


class Database:
    """A SQLite tuning database: one row per measurement (workload, target, the machine's
    CPU model, config, timings, error). Safe to append from one tuner at a time; a record
    is committed as soon as it is saved, so an interrupted run keeps what it measured.

    Example::

        db = autotvm.Database("tune.db")
        tuner.tune(n_trial=64, measure_option=option,
                   callbacks=[autotvm.callback.log_to_database(db)])
        inp, res = db.best(task.workload, target="native")
    """

    _SCHEMA = """CREATE TABLE IF NOT EXISTS records (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        workload TEXT NOT NULL, target TEXT NOT NULL, cpu_model TEXT,
        task_name TEXT NOT NULL, task_args TEXT NOT NULL,
        config_index INTEGER NOT NULL, config TEXT NOT NULL,
        costs TEXT NOT NULL, mean_cost REAL, error_no INTEGER NOT NULL,
        all_cost REAL, timestamp REAL, confirmed INTEGER NOT NULL DEFAULT 0,
        threads INTEGER NOT NULL DEFAULT 0)"""

    def __init__(self, path):
        self.path = os.fspath(path)
        with self._connect() as db:
            db.execute(self._SCHEMA)
            db.execute("CREATE INDEX IF NOT EXISTS by_workload ON records(workload, target)")
            cols = {row[1] for row in db.execute("PRAGMA table_info(records)")}
            for col in ("confirmed", "threads"):     # a database of an earlier version
                if col not in cols:
                    db.execute(f"ALTER TABLE records ADD COLUMN {col} INTEGER NOT NULL "
                               "DEFAULT 0")

    def _connect(self):
        return sqlite3.connect(self.path, timeout=30)

    def save(self, inp, res):
        """Append one measurement (a MeasureInput and its MeasureResult), committed at once.

        Example::

            db = autotvm.Database("tune.db")
            for inp, res in autotvm.record.load_from_file("tune.log"):
                db.save(inp, res)
        """
        ok = res.error_no == MeasureErrorNo.NO_ERROR
        with self._connect() as db:
            db.execute(
                "INSERT INTO records (workload, target, cpu_model, task_name, task_args, "
                "config_index, config, costs, mean_cost, error_no, all_cost, timestamp, "
                "confirmed, threads) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (json.dumps(inp.task.workload), inp.target, _cpu_model(), inp.task.name,
                 json.dumps(inp.task.args), inp.config.index,
                 json.dumps(inp.config.to_json_dict()),
                 json.dumps([c if ok else str(c) for c in res.costs]),
                 mean_cost(res) if ok else None, int(res.error_no), float(res.all_cost),
                 float(res.timestamp or time.time()), int(bool(res.confirmed)),
                 int(res.threads)))

    def _rows(self, where="", params=()):
        with self._connect() as db:
            return db.execute(
                "SELECT target, task_name, task_args, workload, config, costs, error_no, "
                "all_cost, timestamp, confirmed, threads FROM records " + where +
                " ORDER BY id", params).fetchall()

    @staticmethod
    def _record(row):
        (target, name, args, workload, config, costs, error_no, all_cost, stamp, conf,
         threads) = row
        task = record_task(target, name, freeze(json.loads(args)), json.loads(workload))
        return (MeasureInput(target, task, ConfigEntity.from_json_dict(json.loads(config))),
                MeasureResult(json.loads(costs), error_no, all_cost, stamp, bool(conf),
                              int(threads)))

    def load(self, workload=None, target=None):
        """The records (of a workload / target when given), oldest first.

        Example::

            records = autotvm.Database("tune.db").load(workload=task.workload)
        """
        conds, params = [], []
        if workload is not None:
            conds.append("workload = ?")
            params.append(json.dumps(workload))
        if target is not None:
            conds.append("target = ?")
            params.append(target)
        where = ("WHERE " + " AND ".join(conds)) if conds else ""
        return [self._record(r) for r in self._rows(where, tuple(params))]

    def best(self, workload, target=None, threads=None):
        """The best error-free record of a workload (`rank`, for a kernel of `threads`
        threads: None, any), or None.

        Example::

            inp, res = autotvm.Database("tune.db").best(task.workload, target="native")
            print(inp.config, min(res.costs))
        """
        where = "WHERE workload = ? AND error_no = 0" + (" AND target = ?" if target else "")
        params = (json.dumps(workload),) + ((target,) if target else ())
        other = "(threads NOT IN (0, ?)), " if threads is not None else ""
        with self._connect() as db:
            row = db.execute(
                "SELECT target, task_name, task_args, workload, config, costs, error_no, "
                "all_cost, timestamp, confirmed, threads FROM records " + where +
                f" ORDER BY {other}confirmed DESC, mean_cost LIMIT 1",
                params + ((threads,) if threads is not None else ())).fetchone()
        return self._record(row) if row else None

    def __len__(self):
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
