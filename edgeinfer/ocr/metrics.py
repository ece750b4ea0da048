"""How close two readings are: edit distance and character error rate (CER).

For checking an OCR chain against a reference reading, or an int8 recogniser against the
float one, on your own images::

    from edgeinfer.ocr import character_error_rate
    character_error_rate(ocr.predict(frame).text, "Total EUR 8.70")   # 0.0 = identical
"""

from __future__ import annotations

__all__ = ["character_error_rate", "edit_distance"]


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions of one character."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def character_error_rate(hypothesis: str, reference: str) -> float:
    """Edits that turn ``hypothesis`` into ``reference``, per reference character (0 = identical)."""
    return edit_distance(hypothesis, reference) / max(len(reference), 1)
