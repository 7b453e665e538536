"""Config spaces: knob enumeration, index <-> config, apply on a stage, fallback, records of
configs, errors (no kernel is compiled here)."""
import json

import pytest
from hypothesis import given, settings, strategies as st

import texpr as te
from texpr import autotvm
from texpr.schedule.config_space import ConfigError, SplitSpace


def _product(e):
    p = 1
    for f in e.size[1:]:
        p *= f
    return p


def test_split_policies_enumerate_the_expected_factors():
    fac = SplitSpace(12, 2, "factors")
    assert [e.size for e in fac.entities] == [[-1, f] for f in (1, 2, 3, 4, 6, 12)]
    p2 = SplitSpace(12, 2, "power2")
    assert [e.size[1] for e in p2.entities] == [1, 2, 4, 8]
    verbose = SplitSpace(12, 2, "verbose")
    assert {e.size[1] for e in verbose.entities} == {1, 2, 3, 4, 6, 8, 12}
    three = SplitSpace(16, 3, "factors", max_factor=4)
    assert all(16 % _product(e) == 0 and max(e.size[1:]) <= 4 for e in three.entities)
    assert len(three.entities) == 9          # (1, 2, 4) x (1, 2, 4): each product divides 16


def test_space_size_and_index_round_trip():
    cfg = autotvm.ConfigSpace()
    cfg.define_split("tile", 16, num_outputs=2)
    cfg.define_reorder("order", 3, policy="all")
    cfg.define_annotate("ann", 2, policy="try_unroll")
    cfg.define_knob("unroll", [0, 1, 1])              # repeated values count once
    assert cfg.dims() == [5, 6, 4, 2]
    assert len(cfg) == 5 * 6 * 4 * 2
    seen = set()
    for i in range(len(cfg)):
        c = cfg.get(i)
        assert cfg.index_of(c._entity_map) == i
        seen.add(tuple(repr(e) for e in c._entity_map.values()))
    assert len(seen) == len(cfg)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 5 * 6 * 3 - 1))
def test_config_json_round_trip(index):
    cfg = autotvm.ConfigSpace()
    cfg.define_split("tile", 48, num_outputs=2, policy="factors", max_factor=16)
    cfg.define_reorder("order", 3)
    cfg.define_knob("vec", ["none", "vec", "unroll"])
    c = cfg.get(index % len(cfg))
    back = autotvm.ConfigEntity.from_json_dict(json.loads(json.dumps(c.to_json_dict())))
    assert back == c and back.index == c.index
    assert cfg.index_of(back._entity_map) == c.index


def test_apply_split_reorder_annotate_on_a_stage():
    A = te.placeholder((64, 32), name="A")
    B = te.compute((64, 32), lambda i, j: A[i, j] * 2.0, name="B")
    s = te.create_schedule(B.op)
    space = autotvm.ConfigSpace()
    space.define_split("tile_x", s[B].op.axis[1], num_outputs=2, policy="factors")
    space.define_reorder("order", 3, policy="candidate", candidate=[[0, 2, 1], [0, 1, 2]])
    space.define_annotate("ann", 3, policy="try_unroll_vec")
    # "parallel" is not a candidate of try_unroll_vec: not a point of the space
    assert space.index_of({"tile_x": autotvm.SplitEntity([-1, 8]),
                           "order": autotvm.ReorderEntity([0, 1, 2]),
                           "ann": autotvm.AnnotateEntity(["parallel", "none", "vec"])}) is None
    cfg = space.get(space.index_of({"tile_x": autotvm.SplitEntity([-1, 8]),
                                    "order": autotvm.ReorderEntity([0, 1, 2]),
                                    "ann": autotvm.AnnotateEntity(["none", "none", "vec"])}))
    i = s[B].op.axis[0]
    jo, ji = cfg["tile_x"].apply(s, s[B], s[B].op.axis[1])
    order = cfg["order"].apply(s, s[B], [i, jo, ji])
    cfg["ann"].apply(s, s[B], order)
    text = str(te.lower(s, [A, B]))
    assert "vectorized" in text or "ramp" in text
    assert [iv.var.name for iv in s[B].leaf_iter_vars] == ["i", "j.outer", "j.inner"]


def test_fallback_takes_first_candidate_unless_set():
    fb = autotvm.FallbackConfig()
    fb.define_knob("a", [3, 5])
    fb.define_split("t", 32, num_outputs=2, policy="power2")
    assert fb.is_fallback and fb["a"].val == 3
    fb["a"] = 7                                  # a heuristic value, even outside the list
    fb.define_knob("a", [3, 5])                  # defining again keeps the set value
    fb.fallback_split("t", [-1, 8])
    assert fb["a"].val == 7 and fb["t"].size == [-1, 8]


def test_template_get_config_dispatch_and_errors():
    @autotvm.template("test.scale")
    def scale(n):
        cfg = autotvm.get_config()
        cfg.define_split("x", n, num_outputs=2)
        A = te.placeholder((n,), name="A")
        B = te.compute((n,), lambda i: A[i] * 2.0, name="B")
        s = te.create_schedule(B.op)
        cfg["x"].apply(s, s[B], B.op.axis[0])
        return s, [A, B]

    task = autotvm.task.create("test.scale", args=(16,), target="c")
    assert task.workload == ("test.scale", 16) and len(task.config_space) == 5
    pick = task.config_space.get(3)             # split by 8
    with autotvm.ApplyConfig(pick):
        s, _ = scale(16)
    assert [iv.var.name for iv in s.stages[-1].leaf_iter_vars] == ["i.outer", "i.inner"]
    assert s.stages[-1].relations[0].factor == 8
    with pytest.raises(autotvm.TuningError, match="outside a template"):
        autotvm.get_config()
    with pytest.raises(autotvm.TuningError, match="no tuning template named 'nope'"):
        autotvm.task.create("nope", args=(), target="c")
    with pytest.raises(ConfigError, match=r"out of the space \[0, 5\)"):
        task.config_space.get(5)
    with pytest.raises(ConfigError, match="config 3 has no knob named 'y'.*another version"):
        pick["y"]
    with pytest.raises(ConfigError, match="no knob named 'y'; the template defines"):
        task.config_space["y"]
    with pytest.raises(ConfigError, match="unknown policy 'odd'"):
        autotvm.ConfigSpace().define_split("t", 8, policy="odd")
    with pytest.raises(ConfigError, match="defined twice"):
        sp = autotvm.ConfigSpace()
        sp.define_knob("k", [1])
        sp.define_knob("k", [2])
    with pytest.raises(ConfigError, match="expected an int extent"):
        autotvm.ConfigSpace().define_split("t", te.var("n"))
