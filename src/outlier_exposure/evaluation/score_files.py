"""Reading a run's score cache, RUN/scores_<score>.npz (written by `oe eval`: protocol.py).

The cache holds "in" (the in-distribution test scores) and, per OOD set, "ood:SET" (the scores
of the images some draw used) and "ood_index:SET" (their indices). The report draws its
histograms and curves from it, so a damaged cache (not a zip, truncated, an entry missing, of
another shape, or holding NaN) is refused here, once, with the file named and the fix: it is
only a cache, `oe eval` writes it again.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import UserInputError

FIX = "it is a cache of `oe eval`: delete it and evaluate the run again with `oe eval RUN`"


def load_scores(path: str | Path) -> dict:
    """{"in": float64 scores, "ood": {set: float64 scores}} of a score cache; UserInputError
    naming the file when it is damaged (see the module docstring)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        # np.load raises ValueError for pickled or unknown content, BadZipFile / EOFError for a
        # truncated archive, OSError for an unreadable file.
        raise UserInputError(f"{path} could not be read as a score cache "
                             f"({type(exc).__name__}: {exc}); {FIX}") from None
    if "in" not in arrays:
        raise UserInputError(f"{path} has no in-distribution scores ('in'); {FIX}")
    found = {"in": _scores(arrays["in"], "in", path), "ood": {}}
    for key, value in arrays.items():
        if key.startswith("ood:"):
            found["ood"][key[4:]] = _scores(value, key, path)
    return found


def _scores(array: np.ndarray, key: str, path: Path) -> np.ndarray:
    if array.ndim != 1 or array.dtype.kind not in "fiu" or len(array) == 0:
        raise UserInputError(f"{path}: {key!r} is not a list of scores (shape {array.shape}, "
                             f"dtype {array.dtype}); {FIX}")
    scores = array.astype(np.float64)
    if not np.isfinite(scores).all():
        raise UserInputError(f"{path}: {key!r} holds {int((~np.isfinite(scores)).sum())} NaN or "
                             f"infinite scores; {FIX}")
    return scores
