"""What the registered datasets of a job lack, said two ways, and getting it.

Before a long job (`oe reproduce`, an OpenOOD evaluation) the data it reads is checked at once
(preflight.py maps its specs to (name, split) pairs):

- `find_missing(needed)`: one `MissingSet` per dataset whose files are not in place: the files,
  the downloads that bring them (none: the set is got by hand), the `oe datasets --download`
  targets.
- `missing_message(...)`: the error when they are not there: one line per set,
  `  NAME: what is missing (size) -> the command`, then the steps of the sets got by hand
  (wrapped), the data root, and last the one command that gets them all.
- `plan_text(...)`: what `--download` is about to do: per file, its size, host and how it is
  checked (sha256, md5, size only, nothing); the sets to get by hand.
- `get_missing(...)`: the downloads (registry.download: checksums, resumable transfers), smallest
  first, after checking the disk has room; then one error naming the sets still to get by hand,
  so that nothing trains without them.
"""

from __future__ import annotations

import shutil
import textwrap
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ...errors import UserInputError
from ..storage.roots import DATA_ROOT_ENV, SHARED_DATA_ENV, resolve_data_root
from . import registry
from .inventory import human_size

WIDTH = 100  # the manual steps are wrapped to this many columns


@dataclass(frozen=True)
class MissingSet:
    """A dataset some of whose needed files are not in place.

    files: the missing files (a trailing '/' is a folder). downloads: what fetching them takes
    (empty: the set is got by hand, `manual` says how). targets: the `oe datasets --download`
    arguments that fetch exactly that.
    """

    name: str
    splits: tuple[str, ...]
    files: tuple[str, ...]
    folder: Path
    shared: bool
    downloads: tuple[registry.Download, ...]
    targets: tuple[str, ...]
    manual: str


def find_missing(needed: Iterable[tuple[str, str | None]]) -> tuple[list[MissingSet], list[str]]:
    """(the sets of `needed` not in place, the names of those that are), in `needed`'s order;
    `needed` holds (name, split or None for the default) pairs. Presence only: checksums are
    checked when loading."""
    wanted: dict[str, dict[str, list[str]]] = {}  # name -> {split: its missing files}
    for name, split in needed:
        split = registry.get(name).default_split if split is None else split
        if split not in wanted.setdefault(name, {}):
            # an unknown split stops here, naming the splits there are
            wanted[name][split] = registry.missing_files(name, split)
    missing, present = [], []
    for name, splits in wanted.items():
        lacking = tuple(s for s, files in splits.items() if files)
        if not lacking:
            present.append(name)
            continue
        ds = registry.get(name)
        folder = registry.dataset_dir(name)
        files = tuple(dict.fromkeys(f for s in lacking for f in splits[s]))
        downloads = tuple(dict.fromkeys(d for s in lacking for d in registry.downloads_for(name, s)))
        # One bare name when it fetches nothing more than needed (or the set has one split).
        whole = len(ds.splits) == 1 or set(downloads) == set(ds.downloads)
        targets = (name,) if whole else tuple(f"{name}:{s}" for s in lacking)
        manual = "" if downloads else (ds.manual.format(dir=folder) if ds.manual
                                       else f"put its files in {folder}")
        missing.append(MissingSet(name, lacking, files, folder, ds.shared, downloads, targets,
                                  manual))
    return missing, present


# ---------------------------------------------------------------------------------------------
# Sizes and sources


def _known_size(item: registry.Download) -> int | None:
    return item.size or item.approx_size


def set_size(m: MissingSet) -> str:
    """The download size of a set: "64.3 MB", "unknown", or "4.4 GB + unknown"."""
    sizes = [_known_size(d) for d in m.downloads]
    known = sum(s for s in sizes if s)
    if not known:
        return "size unknown"
    return human_size(known) + (" + unknown" if None in sizes else "")


def _host(url: str) -> str:
    return urllib.parse.urlparse(url).hostname or url


def _on_disk(m: MissingSet, item: registry.Download) -> int:
    """Bytes of `item` already there: the whole file (not unpacked yet) or a partial download."""
    for path in (m.folder / item.filename, m.folder / f"{item.filename}.part"):
        if path.is_file():
            return path.stat().st_size
    return 0


def _root_flag() -> str:
    root, origin = resolve_data_root(shared=False)
    return f" --data-root {root}" if origin == "--data-root" else ""


def _root_lines(missing: list[MissingSet]) -> list[str]:
    lines = []
    for shared in dict.fromkeys(m.shared for m in missing):
        root, origin = resolve_data_root(shared)
        env = SHARED_DATA_ENV if shared else DATA_ROOT_ENV
        lines.append(f"Data root{' of the offline sets' if shared else ''}: {root} (from {origin}; "
                     f"point elsewhere with --data-root DIR or env {env}).")
    return lines


def _files_text(files: tuple[str, ...]) -> str:
    if len(files) <= 2:
        return ", ".join(files)
    return f"{files[0]}, {files[1]} and {len(files) - 2} more"


_KEEP = "\x00"  # stands for a space that must not become a line break


def _steps(m: MissingSet) -> str:
    """The manual steps, wrapped; a `command in backticks` stays on one line, to be copied."""
    parts = m.manual.split("`")
    glued = "`".join(p.replace(" ", _KEEP) if k % 2 else p for k, p in enumerate(parts))
    text = textwrap.fill(glued, width=WIDTH, initial_indent=f"  {m.name}: ",
                         subsequent_indent="    ", break_long_words=False, break_on_hyphens=False)
    return text.replace(_KEEP, " ")


# ---------------------------------------------------------------------------------------------
# The two texts


def missing_message(missing: list[MissingSet], purpose: str, rerun: str | None = None) -> str:
    """The error text: one line per set, the steps by hand, the data root, then the one command
    that gets them all: `rerun` (the job's own command with --download, e.g. `oe reproduce
    cifar10-wrn --download`) when given, else `oe datasets --download` with every target."""
    n = len(missing)
    lines = [f"{purpose} needs {n} dataset{'s' if n > 1 else ''} that "
             f"{'are' if n > 1 else 'is'} not in place:"]
    for m in missing:
        if m.downloads:
            lines.append(f"  {m.name}: {_files_text(m.files)} ({set_size(m)}) -> "
                         f"oe datasets --download {' '.join(m.targets)}{_root_flag()}")
        else:
            lines.append(f"  {m.name}: {_files_text(m.files)} -> by hand (steps below)")
    by_hand = [m for m in missing if not m.downloads]
    if by_hand:
        lines.append("By hand:")
        lines += [_steps(m) for m in by_hand]
    lines += _root_lines(missing)
    fetchable = [m for m in missing if m.downloads]
    also = (f" (and {', '.join(m.name for m in by_hand)} by hand, as above)" if by_hand else "")
    if not fetchable:
        lines.append(f"{'None of them has' if n > 1 else 'It has no'} download: get "
                     f"{'them' if n > 1 else 'it'} by hand, as above.")
    elif rerun:
        lines.append(f"Get them all: {rerun}{_root_flag()}{also}")
    else:
        targets = " ".join(t for m in fetchable for t in m.targets)
        lines.append(f"Get them all: oe datasets --download {targets}{_root_flag()}{also}")
    return "\n".join(lines)


def _download_order(missing: list[MissingSet]) -> list[MissingSet]:
    """Smallest first, sizes unknown last: the quick sets are in place before a long one."""
    def size(m: MissingSet) -> float:
        sizes = [_known_size(d) for d in m.downloads]
        return float("inf") if None in sizes else sum(sizes)

    return sorted((m for m in missing if m.downloads), key=size)


def _table(rows: list[tuple[str, ...]], indent: str = "    ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows]


def plan_text(missing: list[MissingSet], present: list[str], purpose: str) -> str:
    """What `--download` will do for `purpose`: the sets in place, then per file to fetch its
    size (and the part already on disk), host and check; then the sets to get by hand."""
    lines = [f"Data for {purpose}:"]
    if present:
        lines.append(f"  in place: {', '.join(present)}")
    fetchable = _download_order(missing)
    if fetchable:
        rows = [("set", "file", "size", "from", "checked by")]
        for m in fetchable:
            for k, item in enumerate(m.downloads):
                size = _known_size(item)
                text = human_size(size) if size else "unknown"
                done = _on_disk(m, item)
                if done:
                    text += f" ({human_size(done)} on disk)"
                rows.append((" ".join(m.targets) if k == 0 else "", item.filename, text,
                             _host(item.url), item.checked_by))
        files = sum(len(m.downloads) for m in fetchable)
        lines.append(f"  to download, in this order ({len(fetchable)} set"
                     f"{'s' if len(fetchable) > 1 else ''}, {files} file{'s' if files > 1 else ''}"
                     f", {_total_text(fetchable)}):")
        lines += _table(rows)
        for m in fetchable:
            for item in m.downloads:
                if item.checked_by in ("size only", "nothing"):
                    lines.append(f"  warning: {item.filename} ({m.name}) has no published "
                                 f"checksum: it is checked by {'its size only' if item.size else 'nothing'}")
    by_hand = [m for m in missing if not m.downloads]
    if by_hand:
        them = "they are" if len(by_hand) > 1 else "it is"
        lines.append(f"  by hand ({', '.join(m.name for m in by_hand)}): the downloads go ahead, "
                     f"then the run stops, and nothing trains until {them} in place:")
        lines += ["  " + line for m in by_hand for line in _steps(m).splitlines()]
    lines += ["  " + line for line in _root_lines(missing)]
    return "\n".join(lines)


def _total_text(fetchable: list[MissingSet]) -> str:
    sizes = [_known_size(d) for m in fetchable for d in m.downloads]
    known = sum(s for s in sizes if s)
    unknown = sizes.count(None)
    text = f"{human_size(known)} in all" if known else "sizes unknown"
    return text + (f", {unknown} of unknown size" if known and unknown else "")


# ---------------------------------------------------------------------------------------------
# Getting them


def _free_bytes(folder: Path) -> int | None:
    for path in (folder, *folder.parents):
        if path.exists():
            try:
                return shutil.disk_usage(path).free
            except OSError:
                return None
    return None


def _check_room(fetchable: list[MissingSet]) -> None:
    """Refuse before the first byte when the known sizes do not fit on the disk."""
    need = sum(max(0, (_known_size(d) or 0) - _on_disk(m, d)) for m in fetchable for d in m.downloads)
    if not fetchable or not need:
        return
    where = fetchable[0].folder.parent
    free = _free_bytes(where)
    if free is not None and need > free:
        raise UserInputError(
            f"the downloads need {human_size(need)} but {where} has {human_size(free)} free "
            "(and archives need room to be unpacked too); free some space, or put the data "
            "elsewhere with --data-root DIR. Nothing was downloaded."
        )


def get_missing(missing: list[MissingSet], *, progress: bool = True,
                log: Callable[[str], None] = print) -> None:
    """Download every set of `missing` that has a download (smallest first; checksums checked,
    cut transfers resumed by the next call), then raise one UserInputError naming the sets that
    must be got by hand, if any: the downloads are kept, nothing else is done."""
    fetchable = _download_order(missing)
    _check_room(fetchable)
    for m in fetchable:
        for target in m.targets:
            name, _, split = target.partition(":")
            registry.download(name, split or None, progress=progress, log=log)
    by_hand = [m for m in missing if not m.downloads]
    if by_hand:
        steps = "\n".join(_steps(m) for m in by_hand)
        got = (f"The downloads ({', '.join(m.name for m in fetchable)}) are done and kept. "
               if fetchable else "")
        raise UserInputError(
            f"{', '.join(m.name for m in by_hand)} cannot be downloaded: {got}Get "
            f"{'them' if len(by_hand) > 1 else 'it'} by hand, then run the same command again:\n"
            f"{steps}\n" + "\n".join(_root_lines(by_hand))
        )
