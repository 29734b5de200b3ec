"""The delimiter tags that fence data in our prompts, and how to find one in a text.

The prompts escape them inside data (``prompts.formatting``); the rule critic drops a text that
holds one (a model that copied its prompt's ``<sample>`` blocks).
"""

from __future__ import annotations

import re

DELIMITER_TAGS = ("sample", "example", "analysis", "history", "text", "data", "samples",
                  "mistake")
TAG_LIKE = re.compile(r"<(?=\s*/?\s*(?:" + "|".join(DELIMITER_TAGS) + r")\b)", re.IGNORECASE)


def has_delimiter_tag(text: str) -> bool:
    """Whether ``text`` holds something shaped like one of our delimiter tags (a model that
    copies its prompt's ``<sample>`` blocks; other markup such as ``<br />`` does not count)."""
    return TAG_LIKE.search(text) is not None
