"""A bundle's thread pool: runtime/pool.c with its external functions named after the bundle
(texpr_parallel_for -> texpr_<bundle>_parallel_for, ...), so that two bundles link into one
program without clashing (each keeps its own pool and workers)."""
from __future__ import annotations

import re

#: the pool's functions the executor calls
PARALLEL_FOR = "texpr_parallel_for"
THREAD_ID = "texpr_pool_thread_id"


def pool_symbol(bundle, name):
    """The bundle's name of pool function `name` (texpr_<bundle>_<rest>)."""
    return f"texpr_{bundle}_{name[len('texpr_'):]}"


def pool_source(bundle):
    """The C of runtime/pool.c for the bundle: every function it defines outside `static`
    renamed by pool_symbol."""
    from ..targets.runtime.pool import SOURCE_PATH
    with open(SOURCE_PATH) as f:
        text = f.read()
    names = re.findall(r"^(?:int|void|int64_t)\s+(texpr_\w+)\s*\(", text, re.M)
    for name in names:
        text = re.sub(r"\b" + re.escape(name) + r"\b", pool_symbol(bundle, name), text)
    return (f"/* texpr_pool.c of bundle {bundle}: texpr's thread pool (runtime/pool.c), its "
            f"functions named texpr_{bundle}_* */\n" + text)
