"""Every public function and class has a docstring with a short example (issue 17: help(te.X)
must say something, and show it).

The public API: the names texpr exports (`texpr.__all__`), texpr.topi's operators and its
public modules, te.hybrid's and texpr.autotvm's names, the Schedule / Stage / Module /
Target classes; for a class, its public methods and properties too; texpr.torch's names,
read from its source (so that torch is not imported). Nothing is compiled.
"""
import ast
import inspect
import re
from pathlib import Path

import pytest

import texpr
import texpr.autotvm as autotvm
import texpr.export
import texpr.topi as topi
from texpr.schedule import Schedule, Stage
from texpr.target import Target
from texpr.targets.runtime.module import Module

# topi's modules whose functions are public operators (its cpu/gpu/hvx modules only register
# schedules, reached through topi.schedule)
TOPI_MODULES = ("nn", "layout", "sparse", "qnn", "testing", "graph", "reduction", "transform",
                "math", "tensor", "sort", "normalization", "activation", "attention", "winograd",
                "conv2d_layouts", "models", "shape_funcs", "dense_int8")


def _public_members(cls):
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property):
            yield name, value.fget
        elif isinstance(value, (staticmethod, classmethod)):
            yield name, value.__func__
        elif inspect.isfunction(value):
            yield name, value


def _own(module, name, value):
    """Defined in `module` (not imported into it: numpy, typing, other texpr modules)."""
    return getattr(value, "__module__", None) == module.__name__


def public_api():
    """(qualified name, object) of every public callable."""
    items = [(f"texpr.{n}", getattr(texpr, n)) for n in texpr.__all__]
    items += [(f"texpr.topi.{n}", getattr(topi, n)) for n in topi.__all__]
    for mod_name in TOPI_MODULES:
        mod = getattr(topi, mod_name, None) or __import__(f"texpr.topi.{mod_name}",
                                                          fromlist=["_"])
        items += [(f"texpr.topi.{mod_name}.{n}", v) for n, v in vars(mod).items()
                  if not n.startswith("_") and callable(v) and _own(mod, n, v)]
    items += [(f"texpr.hybrid.{n}", getattr(texpr.hybrid, n)) for n in texpr.hybrid.__all__]
    items += [(f"texpr.autotvm.{n}", getattr(autotvm, n)) for n in autotvm.__all__]
    items += [(f"texpr.export.{n}", getattr(texpr.export, n)) for n in texpr.export.__all__]
    items += [(f"texpr.{c.__name__}", c) for c in (Schedule, Stage, Module, Target)]
    out = []
    for name, obj in items:
        if inspect.ismodule(obj) or not callable(obj):
            continue
        out.append((name, obj))
        if inspect.isclass(obj):
            out += [(f"{name}.{m}", f) for m, f in _public_members(obj)]
    return out


def _doc(obj):
    doc = obj.__doc__ if not inspect.isclass(obj) else vars(obj).get("__doc__")
    return (doc or "").strip()


# an example is a doctest (`>>>`, run by test_doctests.py) or, for what must compile a kernel,
# a literal block introduced by a line that says "example" ("Example::", "For example, ...::")
_LITERAL_EXAMPLE = re.compile(r"(?im)^.*\bexample\b.*::\s*$")


def _has_example(doc):
    return ">>>" in doc or bool(_LITERAL_EXAMPLE.search(doc))


def test_the_walk_finds_the_api():
    names = {n for n, _ in public_api()}
    for expected in ("texpr.compute", "texpr.sum", "texpr.topi.nn.dense",
                     "texpr.Stage.split", "texpr.Module.time", "texpr.Tensor.shape",
                     "texpr.hybrid.script", "texpr.hybrid.HybridModule.save",
                     "texpr.autotvm.ConfigSpace.define_split", "texpr.autotvm.LocalRunner"):
        assert expected in names


def test_every_public_callable_has_a_docstring():
    missing = sorted({n for n, obj in public_api() if not _doc(obj)})
    assert not missing, f"{len(missing)} public callables without a docstring: {missing}"


def test_every_public_callable_has_an_example():
    missing = sorted({n for n, obj in public_api() if not _has_example(_doc(obj))})
    assert not missing, (f"{len(missing)} public callables without an example (a `>>>` doctest "
                         f"or an 'Example::' literal block): {missing}")


def torch_api_docstrings():
    """{name: docstring} of texpr.torch's public functions, from its source: importing torch
    takes seconds."""
    path = Path(texpr.__file__).parent / "torch.py"
    tree = ast.parse(path.read_text())
    public = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                  and any(getattr(t, "id", None) == "__all__" for t in n.targets))
    return {n.name: ast.get_docstring(n) or "" for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in public}


def test_texpr_torch_has_docstrings_with_examples():
    docs = torch_api_docstrings()
    assert {"register", "op", "torch_dtype"} <= set(docs)
    missing = sorted(n for n, d in docs.items() if not _has_example(d))
    assert not missing, f"texpr.torch functions without a docstring example: {missing}"


def test_what_counts_as_an_example():
    assert _has_example("Adds.\n\n>>> 1 + 1\n2\n")
    assert _has_example("Builds.\n\nExample::\n\n    f = te.build(s, [A, B])\n")
    assert _has_example("Raised when...\n\nFor example, a bad call::\n\n    f(a)\n")
    assert not _has_example("Adds two tensors; for example the bias.")
    assert not _has_example("A table::\n\n    a | b\n")


def test_reducer_signature_reads_well():
    # the axis= default is a named sentinel, not <object object at 0x...>
    sig = str(inspect.signature(texpr.sum))
    assert "axis" in sig and "object at 0x" not in sig and "<required>" in sig
    with pytest.raises(texpr.TexprError, match="needs axis="):
        texpr.sum(texpr.placeholder((4,), name="A")[0])


def test_no_signature_shows_an_object_address():
    """help() of a public callable never shows a default like <object object at 0x...>."""
    bad = []
    for name, obj in public_api():
        try:
            sig = str(inspect.signature(obj))
        except (TypeError, ValueError):          # builtins and classes without one
            continue
        if " at 0x" in sig:
            bad.append(f"{name}{sig}")
    assert not bad, bad
