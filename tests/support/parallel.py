"""Reading a kernel's parallel loops from its source, whichever runtime runs them."""
import re

_POOL_CALL = re.compile(r"\btexpr_parallel_for\(texpr_kernel_\w+_parallel\d+,")


def parallel_loops(source):
    """How many parallel loops a CPU kernel's source has: calls of texpr's thread pool (an
    outlined body each) or `#pragma omp parallel for` loops (TEXPR_PARALLEL_RUNTIME=openmp)."""
    return len(_POOL_CALL.findall(source)) + source.count("#pragma omp parallel for")
