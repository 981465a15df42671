"""Where datasets live on disk, and whether a missing one may be downloaded: decided here only.

Shared by the image catalog (catalog/registry.py) and the text sets (text/registry.py,
text/download.py), so `--data-root DIR` and the environment mean the same for both.

- public datasets: `--data-root DIR` (commands call `set_data_root`, or `data_settings` for the
  length of a command), else env OE_DATA_ROOT, else `~/.cache/outlier_exposure/data`.
- the project's offline sets (`shared=True`): `--data-root`, else env OE_SHARED_DATA, else the
  `shared/data` folder next to a development checkout, else the public root.

Downloads happen only when asked (`--download`, i.e. `data_settings(download=True)`).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

DATA_ROOT_ENV = "OE_DATA_ROOT"
SHARED_DATA_ENV = "OE_SHARED_DATA"
DEFAULT_DATA_ROOT = Path("~/.cache/outlier_exposure/data")

# Process-wide settings of the running command (the CLI sets them around one command).
_root_override: Path | None = None
_download_missing = False


def set_data_root(path: str | Path | None) -> None:
    """Use `path` as the root of every dataset (None: back to the environment / defaults)."""
    global _root_override
    _root_override = None if path is None else Path(path).expanduser()


def set_download_missing(enabled: bool) -> None:
    """Let loading download a missing dataset that has a download (off by default)."""
    global _download_missing
    _download_missing = bool(enabled)


def download_missing() -> bool:
    """Whether loading may download a missing dataset (`set_download_missing`)."""
    return _download_missing


@contextmanager
def data_settings(data_root: str | Path | None = None, download: bool = False) -> Iterator[None]:
    """Within the block: datasets under `data_root` (if given) and downloads allowed if asked."""
    saved = (_root_override, _download_missing)
    if data_root is not None:
        set_data_root(data_root)
    set_download_missing(download)
    try:
        yield
    finally:
        set_data_root(saved[0])
        set_download_missing(saved[1])


def _checkout_shared_data() -> Path:
    # src/outlier_exposure/data/storage/roots.py -> the repository root is parents[3].parent
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def resolve_data_root(shared: bool = False) -> tuple[Path, str]:
    """The data root and where it came from: the one place roots are decided."""
    if _root_override is not None:
        return _root_override, "--data-root"
    if shared:
        if os.environ.get(SHARED_DATA_ENV):
            return Path(os.environ[SHARED_DATA_ENV]).expanduser(), f"env {SHARED_DATA_ENV}"
        if _checkout_shared_data().is_dir():
            return _checkout_shared_data(), "the shared/data folder next to this checkout"
    if os.environ.get(DATA_ROOT_ENV):
        return Path(os.environ[DATA_ROOT_ENV]).expanduser(), f"env {DATA_ROOT_ENV}"
    return DEFAULT_DATA_ROOT.expanduser(), "default"


def data_root(shared: bool = False) -> Path:
    """Root of the public datasets, or (shared=True) of the project's offline sets."""
    return resolve_data_root(shared)[0]
