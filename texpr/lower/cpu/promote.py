"""Register promotion: a small local buffer indexed only by constants becomes variables.

After unrolling, a register tile (cache_write "local") is addressed by constant offsets; as
C variables the compiler keeps them in registers instead of a stack array.
"""
from ...lang import dtypes
from ...lang.expr import Const, Var
from ...lang.visitor import StmtMutator, map_children, walk
from ...lang.ir import (Allocate, BufferLoad, BufferStore, DeclareVars, IntrinOperand, Ramp, Stmt,
                 VarLoad, VarStore)

MAX_REGISTERS = 64


def promote_registers(stmt):
    return _Promote().visit(stmt)


class _Promote(StmtMutator):
    def visit_Allocate(self, s):
        s = self.generic_visit(s)
        if s.buffer.scope == "local":
            return _promote(s) or s
        return s


def _key(idx):
    if isinstance(idx, Const):
        return (idx.value, 1)
    if isinstance(idx, Ramp) and idx.stride == 1 and isinstance(idx.base, Const):
        return (idx.base.value, idx.lanes)
    return None


def _promote(alloc):
    buf = alloc.buffer
    keys = set()
    for n in walk(alloc.body):
        if isinstance(n, IntrinOperand) and n.buffer is buf:
            return None          # an intrinsic addresses it through a pointer
        if isinstance(n, (BufferLoad, BufferStore)) and n.buffer is buf:
            k = _key(n.indices[0])
            if k is None:
                return None
            keys.add(k)
    if not keys or len(keys) > MAX_REGISTERS:
        return None
    lanes = {k[1] for k in keys}
    if len(lanes) != 1:
        return None
    (ln,) = lanes
    if any(k[0] % ln for k in keys):
        return None
    names = {k: Var(f"{buf.name}_r{k[0] // ln}", dtypes.with_lanes(buf.dtype, ln))
             for k in sorted(keys)}

    def rw(n):
        if isinstance(n, BufferLoad) and n.buffer is buf:
            v = names[_key(n.indices[0])]
            return VarLoad(v, v.dtype)
        if isinstance(n, BufferStore) and n.buffer is buf:
            v = names[_key(n.indices[0])]
            return VarStore(v, rw(n.value))
        if not n._children:
            return n
        return map_children(n, rw)
    return DeclareVars(tuple(names[k] for k in sorted(keys)), rw(alloc.body))
