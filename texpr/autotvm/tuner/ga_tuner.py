"""A genetic tuner: a population of configs (genes: one knob index per knob); the fitter
(higher GFLOP/s) are more likely parents; children cross the parents knob by knob and mutate
each knob with mutation_prob; the elite survive unchanged."""
import random

from ..measure import MeasureErrorNo
from .tuner import Tuner


class GATuner(Tuner):
    def __init__(self, task, pop_size=100, elite_num=3, mutation_prob=0.1, seed=None):
        super().__init__(task)
        self.rng = random.Random(seed)
        self.pop_size = min(pop_size, len(self.space))
        self.elite_num = min(elite_num, self.pop_size)
        self.mutation_prob = mutation_prob
        self.dims = self.space.dims()
        self.scores = {}                 # index -> fitness
        self.queue = []                  # indices to measure next
        self.queue_pos = 0
        seen = set()
        while len(self.queue) < self.pop_size:
            idx = self.rng.randrange(len(self.space))
            if idx not in seen:
                seen.add(idx)
                self.queue.append(idx)

    def next_batch(self, batch_size):
        out = []
        while len(out) < batch_size and self.has_next():
            if self.queue_pos >= len(self.queue):
                self._next_generation()
            idx = self.queue[self.queue_pos]
            self.queue_pos += 1
            if idx in self.visited or any(c.index == idx for c in out):
                continue
            out.append(self.space.get(idx))
        return out

    def update(self, inputs, results):
        for inp, res in zip(inputs, results):
            ok = res.error_no == MeasureErrorNo.NO_ERROR
            self.scores[inp.config.index] = (
                (self.task.flop or 1.0) / (sum(res.costs) / len(res.costs)) if ok else 0.0)

    def _next_generation(self):
        ranked = sorted(self.scores.items(), key=lambda kv: -kv[1])[:self.pop_size]
        elites = [i for i, _ in ranked[:self.elite_num]]
        parents = [i for i, _ in ranked] or [self.rng.randrange(len(self.space))]
        weights = [s + 1e-9 for _, s in ranked] or [1.0]
        children = []
        tries = 0
        while len(children) < self.pop_size and tries < 20 * self.pop_size:
            tries += 1
            a, b = self.rng.choices(parents, weights=weights, k=2)
            ga, gb = self.space.point2knob(a), self.space.point2knob(b)
            child = [x if self.rng.random() < 0.5 else y for x, y in zip(ga, gb)]
            child = [self.rng.randrange(d) if self.rng.random() < self.mutation_prob else g
                     for g, d in zip(child, self.dims)]
            idx = self.space.knob2point(child)
            if idx not in self.visited and idx not in children:
                children.append(idx)
        if not children:         # converged: fill with unmeasured configs at random
            while len(children) < self.pop_size and len(self.visited) + len(children) < \
                    len(self.space):
                idx = self.rng.randrange(len(self.space))
                if idx not in self.visited and idx not in children:
                    children.append(idx)
        self.queue = elites + children
        self.queue_pos = 0
