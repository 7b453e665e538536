"""HybridModule: a hybrid script held as source text (what te.hybrid.build writes), runnable
both ways a @script function is: called with NumPy arrays it runs in Python (emulation),
called with texpr tensors / te.vars it is parsed into a new HybridOp."""
import ast

from ..errors import HybridScriptError


class HybridModule:
    """The source of one hybrid function. HybridModule(src) compiles it; HybridModule()
    is empty until load(path).

    >>> import numpy as np, texpr as te
    >>> A = te.placeholder((3,), name="A")
    >>> B = te.compute((3,), lambda i: A[i] * 2.0, name="B")
    >>> src = te.hybrid.build(te.create_schedule(B.op), [A], [B]).get_source()
    >>> te.hybrid.HybridModule(src)(np.arange(3, dtype="float32"))
    array([0., 2., 4.], dtype=float32)
    """

    def __init__(self, src=None, name=None):
        self.name = name
        self.src = None
        self.func = None
        if src is not None:
            self._define(src)

    def __call__(self, *args):
        if self.func is None:
            raise HybridScriptError("this HybridModule has no function yet: load() a script "
                                    "or make it with te.hybrid.build")
        return self.func(*args)

    def get_source(self):
        """The Python source of the hybrid function.

        Example::

            mod = te.hybrid.build(s, [A], [B])
            print(mod.get_source())          # def hybrid_func(A): ...
        """
        return self.src

    def save(self, path):
        """Write the source to path (".py" appended if missing); returns the path.

        Example::

            path = mod.save("/tmp/add_one")          # "/tmp/add_one.py"
            again = te.hybrid.HybridModule()
            again.load(path)
        """
        if not path.endswith(".py"):
            path += ".py"
        with open(path, "w") as f:
            f.write(self.src)
        return path

    def load(self, path):
        """Read and compile the hybrid function saved at path.

        Example::

            mod = te.hybrid.HybridModule()
            mod.load("/tmp/add_one.py")
            B2 = mod(A)                      # parsed into a new HybridOp
        """
        with open(path) as f:
            self._define(f.read(), path)

    def _define(self, src, filename="<hybrid module>"):
        from . import HybridFunction
        try:
            tree = ast.parse(src, filename)
        except SyntaxError as e:
            raise HybridScriptError(f"hybrid module {filename}: not valid Python ({e})") from None
        defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        others = [n for n in tree.body if not isinstance(n, ast.FunctionDef)]
        if len(defs) != 1 or others:
            raise HybridScriptError(f"hybrid module {filename}: expected the source of one "
                                    f"function definition, found {len(defs)} function(s)"
                                    + (" and other statements" if others else ""))
        namespace = {}
        exec(compile(tree, filename, "exec"), namespace)    # defines the one function
        fname = defs[0].name
        self.src = src
        self.func = HybridFunction(namespace[fname], source=src)
        if self.name is None:
            self.name = fname

    def __repr__(self):
        return f"<HybridModule {self.name}>"

    def _repr_html_(self):
        """Jupyter: the script's Python source, highlighted."""
        from ..display import code_html
        return code_html(self.src or "", "python", title=repr(self))
