"""A model-based tuner: a gradient-boosted cost model (LightGBM) predicts the throughput of
unmeasured configs from their features (feature.py: the lowered loop program and the
knobs); simulated annealing over the knob space looks for the configs the model rates best;
the tuner measures those (with a few random ones, epsilon-greedy), retrains, and repeats.

TVM calls it XGBTuner (XGBoost); the model here is LightGBM (a small wheel with no GPU
dependencies), with the same role. Until `min_train` configs are measured the tuner
proposes random ones."""
import math
import random

import numpy as np

from ..feature import config_features
from ..measure import MeasureErrorNo
from .tuner import Tuner


class CostModel:
    """LightGBM regression of normalised throughput (best = 1) on features."""

    def __init__(self, seed=0):
        self.model = None
        self.seed = seed

    def fit(self, xs, ys):
        import lightgbm
        ys = np.asarray(ys, dtype=float)
        y = ys / max(ys.max(), 1e-30)
        params = {"objective": "regression", "learning_rate": 0.2, "num_leaves": 15,
                  "min_data_in_leaf": 1, "min_data_in_bin": 1, "seed": self.seed,
                  "num_threads": 1, "verbose": -1}
        data = lightgbm.Dataset(np.asarray(xs, dtype=float), y, params={"verbose": -1})
        self.model = lightgbm.train(params, data, num_boost_round=60)

    def predict(self, xs):
        if self.model is None:
            return np.zeros(len(xs))
        return self.model.predict(np.asarray(xs))


class XGBTuner(Tuner):
    """Cost-model tuner. feature_type "program" (loop program + knobs) or "knob" (knob
    values only: no lowering per candidate); plan_size configs chosen per round by
    simulated annealing (sa_chains chains of sa_steps steps, one knob changed per step);
    epsilon: the share of random configs in a batch."""

    def __init__(self, task, feature_type="program", plan_size=16, sa_chains=8, sa_steps=8,
                 min_train=None, epsilon=0.1, seed=None):
        super().__init__(task)
        self.feature_type = feature_type
        self.plan_size = plan_size
        self.sa_chains = sa_chains
        self.sa_steps = sa_steps
        self.min_train = min_train or plan_size
        self.epsilon = epsilon
        self.rng = random.Random(seed)
        self.model = CostModel(seed or 0)
        self.features = {}          # index -> feature vector
        self.xs, self.ys, self.measured = [], [], []     # features, throughput, index
        self.transfer_xs, self.transfer_ys = [], []       # other workloads' (normalised)
        self.plan = []
        self.trained = False

    def _feature(self, idx):
        f = self.features.get(idx)
        if f is None:
            f = self.features[idx] = config_features(self.task, self.space.get(idx),
                                                     self.feature_type)
        return f

    def _random_unvisited(self, taken):
        n = len(self.space)
        for _ in range(64):
            idx = self.rng.randrange(n)
            if idx not in self.visited and idx not in taken:
                return idx
        left = [i for i in range(n) if i not in self.visited and i not in taken]
        return self.rng.choice(left) if left else None

    def next_batch(self, batch_size):
        out, taken = [], set()
        while len(out) < batch_size and len(self.visited) + len(out) < len(self.space):
            idx = None
            if self.trained and self.rng.random() >= self.epsilon:
                while self.plan and idx is None:
                    cand = self.plan.pop(0)
                    if cand not in self.visited and cand not in taken:
                        idx = cand
            if idx is None:
                idx = self._random_unvisited(taken)
                if idx is None:
                    break
            taken.add(idx)
            out.append(self.space.get(idx))
        return out

    def update(self, inputs, results):
        for inp, res in zip(inputs, results):
            idx = inp.config.index
            ok = res.error_no == MeasureErrorNo.NO_ERROR
            y = (self.task.flop or 1.0) / (sum(res.costs) / len(res.costs)) if ok else 0.0
            self.xs.append(self._feature(idx))
            self.ys.append(y)
            self.measured.append(idx)
        self._retrain()

    def _retrain(self):
        own = max(self.ys) if self.ys else 0.0
        if len(self.xs) + len(self.transfer_xs) < self.min_train or \
                (own <= 0 and not self.transfer_xs):
            return
        ys = [y / own for y in self.ys] if own > 0 else [0.0] * len(self.ys)
        self.model.fit(self.xs + self.transfer_xs, ys + self.transfer_ys)
        self.trained = True
        self.plan = self._anneal()

    def load_history(self, records):
        """Records of this workload resume the run (Tuner.load_history); records of other
        workloads of the same template and target are transfer learning: their features
        and throughputs (relative to the best of their workload) train the model from the
        start."""
        from ...errors import TexprError
        from ..record import load_records, mean_cost
        from ..task import create
        records = load_records(records)
        n = super().load_history(records)
        width = len(self._feature(self.task.fallback_index or 0))
        groups = {}
        for inp, res in records:
            if inp.task.name == self.task.name and inp.target == self.task.target and \
                    inp.task.workload != self.task.workload:
                groups.setdefault(inp.task.workload, []).append((inp, res))
        for recs in groups.values():
            try:
                other = create(self.task.name, recs[0][0].task.args, self.task.target)
            except TexprError:
                continue
            tput = [1.0 / mean_cost(res) if res.error_no == MeasureErrorNo.NO_ERROR else 0.0
                    for _, res in recs]
            if max(tput) <= 0:
                continue
            for (inp, _), t in zip(recs, tput):
                idx = other.config_space.index_of(inp.config._entity_map)
                if idx is None:
                    continue
                f = config_features(other, other.config_space.get(idx), self.feature_type)
                if len(f) == width:
                    self.transfer_xs.append(f)
                    self.transfer_ys.append(t / max(tput))
        self._retrain()
        return n

    def _anneal(self):
        """The plan: the best-rated unmeasured configs simulated annealing met, best
        first."""
        dims = self.space.dims()
        best_first = [self.measured[k] for k in
                      sorted(range(len(self.ys)), key=lambda k: -self.ys[k])]
        starts = best_first[:self.sa_chains // 2]
        while len(starts) < self.sa_chains:
            r = self._random_unvisited(set(starts))
            if r is None:
                break
            starts.append(r)
        seen = {}                   # index -> predicted score

        def score(points):
            new = [p for p in points if p not in seen]
            if new:
                preds = self.model.predict([self._feature(p) for p in new])
                for p, v in zip(new, preds):
                    seen[p] = float(v)
            return [seen[p] for p in points]
        cur = list(starts)
        cur_s = score(cur)
        for step in range(self.sa_steps):
            temp = 1.0 - step / max(1, self.sa_steps)
            nxt = []
            for p in cur:
                knobs = self.space.point2knob(p)
                k = self.rng.randrange(len(dims))
                if dims[k] > 1:
                    knobs[k] = (knobs[k] + self.rng.randrange(1, dims[k])) % dims[k]
                nxt.append(self.space.knob2point(knobs))
            nxt_s = score(nxt)
            for c in range(len(cur)):
                gain = nxt_s[c] - cur_s[c]
                if gain >= 0 or self.rng.random() < math.exp(gain / max(temp * 0.1, 1e-6)):
                    cur[c], cur_s[c] = nxt[c], nxt_s[c]
        ranked = sorted((p for p in seen if p not in self.visited), key=lambda p: -seen[p])
        return ranked[:self.plan_size]
