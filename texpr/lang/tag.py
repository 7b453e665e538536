"""te.tag_scope: the tag of the computes created inside it (TVM's operator tags, read by
schedules that dispatch on them), as a context manager or a decorator."""
from __future__ import annotations

import functools
import warnings

from ..errors import TagScopeError, TexprError

_current = []            # the active scope (at most one: TVM refuses nesting)


class TagScope:
    def __init__(self, tag):
        if not isinstance(tag, str):
            raise TexprError(f"tag_scope: the tag must be a string, got {tag!r}")
        self.tag = tag
        self.accessed = False

    def __enter__(self):
        if _current:
            raise TagScopeError(f"tag_scope({self.tag!r}) inside tag_scope({_current[-1].tag!r}): "
                             "nested tag scopes are not allowed (as in TVM)")
        _current.append(self)
        return self

    def __exit__(self, *exc):
        _current.pop()
        if not self.accessed and exc[0] is None:
            warnings.warn(f"tag {self.tag!r} of a tag_scope was given to no compute")
        return False

    def __call__(self, fdecl):
        @functools.wraps(fdecl)
        def tagged(*args, **kwargs):
            with self:
                return fdecl(*args, **kwargs)
        return tagged


def tag_scope(tag: str) -> TagScope:
    """Computes created inside `with te.tag_scope("conv"):` (or a function decorated with
    `@te.tag_scope("conv")`) without a tag of their own get this one.

    >>> import texpr as te
    >>> A = te.placeholder((4,), name="A")
    >>> with te.tag_scope("elemwise"):
    ...     B = te.compute((4,), lambda i: A[i] + 1.0, name="B")
    >>> B.op.tag
    'elemwise'
    """
    return TagScope(tag)


def current_tag():
    """The tag of the active scope ("" outside any), marking it used."""
    if not _current:
        return ""
    _current[-1].accessed = True
    return _current[-1].tag
