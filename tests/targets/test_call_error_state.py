"""Each call of a kernel with checked indices owns its error words (targets/index_checks.py):
concurrent calls from several Python threads never report, miss or clear each other's errors,
and a bad index inside an OpenMP parallel loop is still reported."""
import threading

import numpy as np
import pytest

import texpr as te

ROWS, COLS, N = 64, 8, 48


def gather_kernel(target, parallel):
    """out[i, :] = data[idx[i], :] (the row index is read from data: a checked index)."""
    data = te.placeholder((ROWS, COLS), name="data")
    idx = te.placeholder((N,), "int32", name="idx")
    out = te.compute((N, COLS), lambda i, j: data[idx[i], j], name="out")
    s = te.create_schedule(out.op)
    if parallel:
        s[out].parallel(out.op.axis[0])
    return te.build(s, [data, idx, out], target=target)


@pytest.mark.parametrize("target,parallel", [("c", False), ("native", True)])
def test_threads_each_get_their_own_result_or_error(target, parallel):
    f = gather_kernel(target, parallel)
    data = np.random.default_rng(0).standard_normal((ROWS, COLS)).astype("float32")
    failures = []

    def worker(seed):
        rng = np.random.default_rng(seed)
        for call in range(60):
            idx = rng.integers(0, ROWS, N).astype("int32")
            out = np.empty((N, COLS), "float32")
            bad = call % 3 == 0
            if bad:                       # one bad position, its value names this call
                pos = int(rng.integers(0, N))
                idx[pos] = ROWS + seed * 1000 + call
                try:
                    f(data, idx, out)
                except te.TexprError as e:
                    if f"idx[{pos}] = {idx[pos]} is out of range" not in str(e):
                        failures.append(f"thread {seed} call {call}: wrong error {e}")
                else:
                    failures.append(f"thread {seed} call {call}: bad index not reported")
            else:
                try:
                    f(data, idx, out)
                except te.TexprError as e:
                    failures.append(f"thread {seed} call {call}: good call raised {e}")
                    continue
                if not np.array_equal(out, data[idx]):
                    failures.append(f"thread {seed} call {call}: wrong output")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_bound_calls_report_their_own_errors():
    f = gather_kernel("c", False)
    data = np.ones((ROWS, COLS), "float32")
    idx = np.zeros(N, "int32")
    out = np.empty((N, COLS), "float32")
    run = f.bind(data, idx, out)
    run()
    idx[5] = -3
    with pytest.raises(te.TexprError, match=r"idx\[5\] = -3 is out of range for dimension 0 of data"):
        run()
    idx[5] = 1
    run()                                 # nothing of the last error is left over
    np.testing.assert_array_equal(out, data[idx])


def test_a_parallel_loop_reports_one_of_its_bad_indices():
    f = gather_kernel("native", True)
    data = np.ones((ROWS, COLS), "float32")
    idx = np.zeros(N, "int32")
    bad = {3: 70, 20: 80, 41: -1}
    for p, v in bad.items():
        idx[p] = v
    out = np.empty((N, COLS), "float32")
    with pytest.raises(te.TexprError) as info:
        f(data, idx, out)
    msg = str(info.value)
    assert any(f"idx[{p}] = {v} is out of range" in msg for p, v in bad.items()), msg
