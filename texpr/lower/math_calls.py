"""fast_* math calls (te.exp(x, fast=True) & co.) become the accurate function on a target
without texpr's vector math (targets/vecmath): only that library has cheaper versions; libm,
the GPUs' math and HVX's refusal all know the accurate names."""
from ..lang.expr import Call
from ..lang.visitor import transform


def accurate_math_calls(body):
    def fn(n):
        if type(n) is Call and n.name.startswith("fast_"):
            return Call(n.name[len("fast_"):], n.args, n.dtype)
        return None
    return transform(body, fn)
