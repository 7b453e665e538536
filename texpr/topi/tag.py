"""The op tags topi's computes carry (TVM's topi.tag names): schedules are chosen by tag."""
ELEMWISE = "elemwise"
BROADCAST = "broadcast"
INJECTIVE = "injective"
COMM_REDUCE = "comm_reduce"
COMM_REDUCE_IDX = "comm_reduce_idx"
CONV2D_NCHW = "conv2d_nchw"


def is_broadcast(tag):
    """elemwise and broadcast ops are also broadcast (TVM's rule)."""
    return tag in (ELEMWISE, BROADCAST) or tag.startswith(BROADCAST)


def is_injective(tag):
    """Every elementwise, broadcast or injective op."""
    return is_broadcast(tag) or tag in (INJECTIVE,) or tag.startswith(INJECTIVE)
#: a stage of a row operator (softmax's max, exp and sum; layer_norm's statistics) that the
#: operator's schedule places in its own loops (topi/cpu_rows.py)
ROW_PART = "row_part"
