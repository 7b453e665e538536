"""The `>>>` examples in the public API's docstrings run and print what they say.

Only modules whose examples build expressions, schedules and loop programs (nothing is
compiled, so this stays cheap); te.build's and Module's examples are literal blocks.
"""
import doctest
import importlib

import pytest

MODULES = ("texpr.lang.expr", "texpr.lang.reduction", "texpr.lang.tensor",
           "texpr.schedule.schedule", "texpr.targets.build", "texpr.topi.reduction",
           "texpr.topi.nn", "texpr.topi.testing", "texpr.topi.sparse", "texpr.topi.layout",
           "texpr.topi.normalization", "texpr.topi.schedules", "texpr.lang.extern",
           "texpr.lang.tag", "texpr.lang.buffer", "texpr.lang.autodiff.adjoint", "texpr.lang.intrin",
           "texpr.lang.imm", "texpr.targets.runtime.packed", "texpr.errors", "texpr.target",
           "texpr.topi.transform", "texpr.topi.math", "texpr.topi.tensor", "texpr.topi.sort",
           "texpr.topi.activation", "texpr.topi.attention", "texpr.topi.conv2d_layouts",
           "texpr.topi.qnn", "texpr.topi.dense_int8", "texpr.topi.winograd", "texpr.topi.graph", "texpr.topi.models", "texpr.topi.shape_funcs",
           "texpr.hybrid",
           "texpr.hybrid.module", "texpr.schedule.config_space", "texpr.schedule.dispatch",
           "texpr.autotvm.task", "texpr.autotvm.measure")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} example(s) of {name} failed (see the output)"
