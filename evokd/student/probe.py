"""What a student tells about texts it has not seen, for choosing which of them to label
(``--pool``): its confidence, its prediction and where each text lies in its embedding space."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Probe:
    """One entry per text, in the order given.

    ``confidence``: the mean log-probability of the predicted tag over the text's words (NER:
    first sub-word of each word, so long and short texts compare) or of the predicted label
    (classification); at most 0, lower is less sure. ``predicted``: tag lists or label names,
    as ``predict`` returns them. ``embeddings``: one unit-length vector per text (a float tensor
    of shape [n, d], or rows of floats), the student's mean last layer over the text's
    sub-words."""

    confidence: list[float]
    predicted: list[Any]
    embeddings: Any
