"""Progress bars that tell the truth: loss, accuracy, rate and ETA while training, sets done while
evaluating, figures made while reporting; or nothing when disabled (`--quiet`).

tqdm redraws a bar at most every `mininterval` seconds. Bars used to be closed with
`leave=False`, which wipes the line instead of drawing it once more: an epoch shorter than
`mininterval` (the quickstart baseline on a fast machine) was only ever drawn at 0%, and every
other epoch's last drawing was wherever the last redraw happened to fall (87%, 94%, ...). Here
the counter moves on every step, and closing draws the final state and keeps it on screen
(`leave=True`), so every bar is drawn at least at its start and at its end, and the end shows
n == total (100%), or where an interruption stopped it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Callable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_bar(total: int, desc: str, enabled: bool = True, unit: str = "img"):
    """A tqdm bar on stderr (read when called, so redirected or captured stderr gets it), or
    None when disabled. Call `.update(n)` as the work is done and `.close()` at the end."""
    if not enabled:
        return None
    # unit_scale reads 1437 images as "1.44k": only for counts large enough to need it.
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=total >= 10_000, leave=True,
                dynamic_ncols=True, file=sys.stderr, mininterval=0.5)


def each(items: Iterable[T], total: int, desc: str, enabled: bool = True, unit: str = "set",
         name: Callable[[T], str] | None = None) -> Iterator[T]:
    """Yield `items` under a bar counting them done: an item counts once the caller asks for the
    next one (its work is done), so the bar ends at `total` when the loop ends. `name(item)`
    shows the item in progress beside the bar. Disabled: `items` as they are."""
    bar = progress_bar(total, desc, enabled, unit)
    if bar is None:
        yield from items
        return
    try:
        for item in items:
            if name is not None:
                bar.set_postfix_str(name(item), refresh=True)
            yield item
            bar.update(1)
    finally:
        bar.close()
