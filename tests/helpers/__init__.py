"""Helpers shared by the tests: writers of exact on-disk formats, tiny trained runs, paths."""

from pathlib import Path

# ../shared/data beside the checkout: the offline datasets (absent on some machines; tests that
# need them skip with a reason)
CHECKOUT_SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
