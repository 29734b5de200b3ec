"""Selection: which pool texts a round sends to the teacher for labels (``--pool``).

Each round scores a seeded random sample of the texts not yet picked (``--pool-scan``, which
bounds the round's time for any pool size) with the current student (``Student.probe``), then:

- first round (cold start, the student knows only the seed set): **typical and diverse** texts
  of at least ``MIN_WORDS`` words, the most typical text (highest mean similarity to its
  nearest neighbours) of each of k clusters of the student's sentence embeddings (TypiClust,
  Hacohen et al. 2022): at small budgets uncertainty from a 1-shot student picks short, odd
  texts and loses to random ones;
- later rounds: the texts the student is **least sure of** (mean log-probability of its
  prediction per word), at least ``MIN_WORDS`` long, spread over the labels it predicts (NER:
  the entity types it finds, ``none`` for texts without one) in shares that favour the
  analyst's weak labels, with no two picks nearly the same text (cosine of their embeddings
  above ``MAX_SIMILARITY``) while other texts are left; with ``--later-picks dense`` the order
  is the product of two ranks, how unsure the student is and how typical the text is of the
  scanned sample (information density, Settles & Craven 2008), so that odd one-off texts the
  student is unsure of give way to unsure texts like many others; with ``--later-picks total``
  it is the unsureness summed over the text's words (total, not mean, as in Settles & Craven's
  total token entropy), so that long texts with several unsure words come first and each
  label costs more words;
- ``--selection random``: the sample's first texts (the yardstick).

torch is imported only here, inside the functions, when a pool is used.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Collection, Sequence
from typing import Any

from evokd.graph.targeting import allocate
from evokd.student.probe import Probe

MIN_WORDS = 5  # shorter texts are picked by uncertainty only when nothing else is left
MAX_SIMILARITY = 0.95  # cosine of two picks' embeddings above which the second is skipped
NEIGHBOURS = 20  # typicality: mean similarity to this many nearest neighbours
WEAK_SHARE = 2.0  # weight of a label the analyst names weak (others: 1)
KMEANS_STEPS = 10


def scan_sample(pool_size: int, picked: Collection[int], scan: int, seed: int) -> list[int]:
    """Up to ``scan`` indices of texts not yet picked, in a seeded random order."""
    taken = set(picked)
    free = [i for i in range(pool_size) if i not in taken]
    rng = random.Random(seed)
    return rng.sample(free, min(scan, len(free)))


def predicted_groups(predicted: Any, kind: str) -> list[str]:
    """The labels a prediction names: entity types of the tags (``none`` if there are none),
    or the class."""
    if kind != "ner":
        return [str(predicted)]
    types = sorted({tag.split("-", 1)[1] for tag in predicted if "-" in tag})
    return types or ["none"]


def group_counts(probe: Probe, positions: Sequence[int], kind: str) -> dict[str, int]:
    """How many picks predict each label (a text with two types counts for both)."""
    counts: Counter[str] = Counter()
    for position in positions:
        counts.update(predicted_groups(probe.predicted[position], kind))
    return dict(counts.most_common())


def _matrix(embeddings: Any) -> Any:
    import torch

    matrix = embeddings if isinstance(embeddings, torch.Tensor) else torch.tensor(
        embeddings, dtype=torch.float32)
    return torch.nn.functional.normalize(matrix.float(), dim=-1)


def typical_diverse(embeddings: Any, k: int, seed: int,
                    words: Sequence[int] | None = None) -> list[int]:
    """``k`` positions: the most typical text of each of k clusters (k-means on the unit
    embeddings, k-means++ start), larger clusters first; if clusters run out, the most typical
    texts left. With ``words`` (each text's length), only texts of at least ``MIN_WORDS`` words
    while there are ``k`` of them."""
    import torch

    x = _matrix(embeddings)
    if words is not None:
        long_enough = [i for i, n in enumerate(words) if n >= MIN_WORDS]
        if len(long_enough) >= k and len(long_enough) < len(words):
            inner = typical_diverse(x[long_enough], k, seed)
            return [long_enough[i] for i in inner]
    n = x.shape[0]
    if n <= k:
        return list(range(n))
    typicality = typicality_of(x)
    assignment = _kmeans(x, k, torch.Generator().manual_seed(seed))
    clusters = sorted(((assignment == c).nonzero().flatten() for c in range(k)),
                      key=lambda members: -len(members))
    chosen = [int(m[typicality[m].argmax()]) for m in clusters if len(m)]
    taken = set(chosen)
    rest = [int(i) for i in typicality.argsort(descending=True) if int(i) not in taken]
    return (chosen + rest)[:k]


def typicality_of(x: Any) -> Any:
    """Each unit row's mean cosine similarity to its ``NEIGHBOURS`` nearest other rows."""
    n = x.shape[0]
    if n < 2:
        return x.new_ones(n)
    nearest = (x @ x.T).topk(min(NEIGHBOURS + 1, n), dim=1).values[:, 1:]  # without itself
    return nearest.mean(dim=1)


def _ranks(values: Sequence[float]) -> list[float]:
    """Each value's rank in (0, 1], 1 for the largest (ties in the given order)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    for rank, i in enumerate(order, start=1):
        ranks[i] = rank / len(values)
    return ranks


ORDERS = ("uncertain", "dense", "total")  # the later rounds' orders (``--later-picks``)


def pick_order(probe: Probe, order: str, words: Sequence[int] | None = None) -> list[int]:
    """Positions from the first to pick to the last: least confident first (``uncertain``);
    highest product of the unsureness rank and the typicality rank first (``dense``); or the
    lowest confidence summed over the text's ``words`` first (``total``; a classification
    probe's confidence is the label's, so there it is that times the length)."""
    positions = range(len(probe.confidence))
    if order == "uncertain":
        return sorted(positions, key=lambda i: probe.confidence[i])
    if order == "total":
        if words is None:
            raise ValueError("the total order needs each text's length in words")
        return sorted(positions, key=lambda i: probe.confidence[i] * words[i])
    if order != "dense":
        raise ValueError(f"unknown order {order!r}; the orders are {', '.join(ORDERS)}")
    unsure = _ranks([-c for c in probe.confidence])
    typical = _ranks(typicality_of(_matrix(probe.embeddings)).tolist())
    return sorted(positions, key=lambda i: -unsure[i] * typical[i])


def _kmeans(x: Any, k: int, generator: Any) -> Any:
    """Cluster of each row of ``x`` (unit rows, cosine k-means, k-means++ start)."""
    import torch

    first = int(torch.randint(x.shape[0], (1,), generator=generator))
    centres = [x[first]]
    distance = 1 - x @ x[first]
    for _ in range(1, k):
        weights = distance.clamp(min=0) ** 2
        index = (int(torch.multinomial(weights, 1, generator=generator)) if weights.sum() > 0
                 else int(torch.randint(x.shape[0], (1,), generator=generator)))
        centres.append(x[index])
        distance = torch.minimum(distance, 1 - x @ x[index])
    centre = torch.stack(centres)
    assignment = (x @ centre.T).argmax(dim=1)
    for _ in range(KMEANS_STEPS):
        for c in range(k):
            members = x[assignment == c]
            if len(members):
                centre[c] = torch.nn.functional.normalize(members.mean(dim=0), dim=0)
        updated = (x @ centre.T).argmax(dim=1)
        if torch.equal(updated, assignment):
            break
        assignment = updated
    return assignment


def uncertain_spread(probe: Probe, words: Sequence[int], kind: str, weak: Collection[str],
                     k: int, order: str = "uncertain") -> list[int]:
    """``k`` positions: the least confident texts (in ``order``, see ``pick_order``) of at
    least ``MIN_WORDS`` words, shared out over the predicted labels (weak labels
    ``WEAK_SHARE`` times as much), no two nearly the same."""
    x = _matrix(probe.embeddings)
    ranked = pick_order(probe, order, words)
    long_enough = [i for i in ranked if words[i] >= MIN_WORDS]
    candidates = long_enough + [i for i in ranked if words[i] < MIN_WORDS]
    groups = {i: predicted_groups(probe.predicted[i], kind) for i in candidates}
    present = sorted({g for gs in groups.values() for g in gs})
    shares = allocate({g: WEAK_SHARE if g in weak else 1.0 for g in present}, k)
    chosen: list[int] = []

    def apart(i: int) -> bool:
        return all(float(x[i] @ x[j]) <= MAX_SIMILARITY for j in chosen)

    for group in shares:  # the group's least sure text apart from the picks, else any such
        free = [i for i in candidates if i not in chosen]  # text, else the least sure one
        pick = next((i for i in free if group in groups[i] and apart(i)), None)
        pick = pick if pick is not None else next((i for i in free if apart(i)), None)
        pick = pick if pick is not None else next(iter(free), None)
        if pick is None:
            break
        chosen.append(pick)
    return chosen
