"""Tuners that need no model: random order and grid (index) order."""
import random

from .tuner import Tuner


class RandomTuner(Tuner):
    """Configs drawn uniformly from those not measured yet."""

    def __init__(self, task, seed=None):
        super().__init__(task)
        self.rng = random.Random(seed)

    def next_batch(self, batch_size):
        n = len(self.space)
        out = []
        taken = set()
        while len(out) < batch_size and len(self.visited) + len(out) < n:
            if n <= 4 * (len(self.visited) + batch_size):     # dense: pick from what is left
                left = [i for i in range(n) if i not in self.visited and i not in taken]
                idx = self.rng.choice(left)
            else:
                idx = self.rng.randrange(n)
                if idx in self.visited or idx in taken:
                    continue
            taken.add(idx)
            out.append(self.space.get(idx))
        return out


class GridSearchTuner(Tuner):
    """Configs in index order."""

    def __init__(self, task):
        super().__init__(task)
        self.counter = 0

    def next_batch(self, batch_size):
        out = []
        while len(out) < batch_size and self.counter < len(self.space):
            if self.counter not in self.visited:
                out.append(self.space.get(self.counter))
            self.counter += 1
        return out
