"""A progress bar with loss, accuracy, rate (images/s) and ETA, or nothing when disabled."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


def progress_bar(total: int, desc: str, enabled: bool = True, unit: str = "img"):
    if not enabled:
        return None
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, leave=False,
                dynamic_ncols=True, file=sys.stderr, mininterval=0.5)
