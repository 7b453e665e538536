"""Cross-thread reductions (placeholder until implemented): nothing to do."""


def lower_cross_thread_reductions(stage, body):
    return body
