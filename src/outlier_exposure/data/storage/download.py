"""Downloads with checksums, safe archive extraction, and cached file digests.

- `fetch(url, dest, md5=..., sha256=..., size=...)` streams a URL (http, https or file) into
  `dest.part`, hashing as it goes, and renames it to `dest` only when the digest (and size) of
  the whole file match. A mismatch deletes the partial file and raises `UserInputError`: a bad
  download is never left where a reader could pick it up. A transfer cut short keeps
  `dest.part`, and the next call continues it where the server supports HTTP ranges
  (ranges.py), so a multi-GB download does not start again from zero.
  (torchvision's `download_url` keeps a corrupt file in place and only supports md5, so it
  does not fit here; its digests for the datasets it knows are reused in catalog/entries.py.)
- `extract(archive, dest)` unpacks .tar[.gz|.bz2|.xz], .tgz and .zip archives, refusing any
  member that would land outside `dest` (absolute paths, `..`, links out of the tree).
- `file_digest(path, algo)` hashes a file once per (size, mtime): the result is cached in
  memory and in `CACHE_ROOT/checksums.json`, so checking a 1 GB file on every load costs a
  stat after the first time.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import sys
import tarfile
import threading
import zipfile
from pathlib import Path
from typing import Callable

from ...errors import UserInputError
from .ranges import Opened, open_at

CACHE_ENV = "OE_CACHE_DIR"
CHUNK = 1 << 20

_memo: dict[tuple[str, str], tuple[int, int, str]] = {}
_memo_lock = threading.Lock()


def cache_root() -> Path:
    """Where derived files live: env OE_CACHE_DIR, else ~/.cache/outlier_exposure."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "outlier_exposure")


def expected_digest(md5: str | None, sha256: str | None) -> tuple[str, str] | None:
    """(algo, hex) of the strongest digest given, or None when none is."""
    if sha256:
        return "sha256", sha256.lower()
    if md5:
        return "md5", md5.lower()
    return None


def hash_file(path: Path, algo: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in chunks (no caching: see `file_digest`)."""
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _digest_store() -> Path:
    return cache_root() / "checksums.json"


def _read_store() -> dict:
    try:
        return json.loads(_digest_store().read_text())
    except (OSError, ValueError):
        return {}


def _write_store(entries: dict) -> None:
    store = _digest_store()
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_name(f"{store.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entries, indent=0, sort_keys=True))
        os.replace(tmp, store)
    except OSError:
        pass  # a cache that cannot be written only costs time


def file_digest(path: str | Path, algo: str = "sha256", *, force: bool = False) -> str:
    """Hex digest of a file, recomputed only when its size or mtime changed (or `force`)."""
    path = Path(path).resolve()
    st = path.stat()
    key = (str(path), algo)
    stamp = (st.st_size, st.st_mtime_ns)
    if not force:
        with _memo_lock:
            hit = _memo.get(key)
        if hit is not None and hit[:2] == stamp:
            return hit[2]
        stored = _read_store().get(f"{algo}:{path}")
        if stored is not None and tuple(stored[:2]) == stamp:
            with _memo_lock:
                _memo[key] = (*stamp, stored[2])
            return stored[2]
    digest = hash_file(path, algo)
    with _memo_lock:
        _memo[key] = (*stamp, digest)
    # drop the entries of files that are gone, so the store does not grow without bound
    entries = {k: v for k, v in _read_store().items() if os.path.exists(k.partition(":")[2])}
    entries[f"{algo}:{path}"] = [*stamp, digest]
    _write_store(entries)
    return digest


def check_file(path: str | Path, md5: str | None = None, sha256: str | None = None, *,
               force: bool = False) -> str | None:
    """None when the file matches its expected digest (or none is known); else a reason."""
    expected = expected_digest(md5, sha256)
    if expected is None:
        return None
    algo, want = expected
    got = file_digest(path, algo, force=force)
    if got != want:
        return f"{algo} is {got}, expected {want}"
    return None


def _progress(total: int | None, name: str, enabled: bool, initial: int = 0):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=name, unit="B", unit_scale=True,
                unit_divisor=1024, leave=True, dynamic_ncols=True, file=sys.stderr,
                mininterval=0.5)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


# What a broken transfer raises: URLError/HTTPError and socket errors are OSErrors, a body cut
# short of its Content-Length is http.client.IncompleteRead (an HTTPException).
_TRANSFER_ERRORS = (OSError, http.client.HTTPException, ValueError)


def _hash_part(h, part: Path, size: int, progress: bool) -> None:
    """Feed the bytes already downloaded to `h`, so the digest covers the whole file."""
    bar = _progress(size, f"{part.name} (checking the bytes on disk)", progress and size > 64 * CHUNK)
    with open(part, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            if bar is not None:
                bar.update(len(chunk))
    if bar is not None:
        bar.close()


def _kept(part: Path) -> str:
    size = part.stat().st_size if part.is_file() else 0
    return (f" The {size:,} bytes already in {part} are kept: the same command continues from "
            "there where the server allows it." if size else "")


def fetch(url: str, dest: str | Path, *, md5: str | None = None, sha256: str | None = None,
          size: int | None = None, progress: bool = True,
          log: Callable[[str], None] | None = None) -> Path:
    """Download `url` to `dest`, continuing an interrupted download; check digest and size.

    The bytes go to `dest.part`. When a `.part` is already there (an earlier download was cut),
    the server is asked for the rest (HTTP Range, ranges.py) and the bytes are appended; a
    server that cannot do that sends the whole file, and `log` says it starts over. The digest
    (sha256 preferred, else md5) and `size` are checked on the whole file; `dest` appears only
    when they match. A mismatch deletes `.part` and raises UserInputError naming the URL and
    both digests; a cut transfer keeps `.part` for the next call and raises UserInputError
    saying so. With no digest and no size the file is kept unverified (its sha256 is still
    computed while it streams, and remembered, so `file_digest(dest)` costs nothing).
    `log` (default: stderr) gets the one-line notes on resuming.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    say = log or _to_stderr
    expected = expected_digest(md5, sha256)
    algo = expected[0] if expected else "sha256"
    offset = part.stat().st_size if part.is_file() else 0
    if size is not None and offset > size:
        say(f"{part.name} holds {offset:,} bytes, more than the {size:,} of {dest.name}: "
            "starting again")
        offset = 0
    try:
        if offset and offset == size:  # the last call got every byte but stopped before the check
            opened = Opened(None, offset, size)
        else:
            opened = open_at(url, offset)
    except _TRANSFER_ERRORS as err:
        reason = getattr(err, "reason", None) or err
        raise UserInputError(
            f"download of {url} failed: {reason}. Check the network and retry, or fetch the "
            f"file by hand and save it as {dest}.{_kept(part)}"
        ) from None
    if size is not None and opened.total is not None and opened.total != size:
        # another file than the one recorded (or an error page): refused before its bytes come
        if opened.response is not None:
            opened.response.close()
        part.unlink(missing_ok=True)
        raise UserInputError(
            f"download of {url} is {opened.total} bytes, expected {size}; the partial file was "
            f"deleted. Retry, or fetch it by hand and save it as {dest}"
        )
    if opened.note and offset:
        say(f"{dest.name}: {opened.note}; downloading it again from the start")
    elif opened.offset:
        say(f"{dest.name}: resuming after the {opened.offset:,} bytes already downloaded")
    total = size if size is not None else opened.total
    h = hashlib.new(algo)
    if opened.offset:
        _hash_part(h, part, opened.offset, progress)
    received = opened.offset
    if opened.response is not None:
        bar = _progress(total, dest.name, progress, initial=opened.offset)
        try:
            with opened.response as response, open(part, "ab" if opened.offset else "wb") as out:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    h.update(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
        except _TRANSFER_ERRORS as err:
            reason = ("the connection closed early" if isinstance(err, http.client.IncompleteRead)
                      else getattr(err, "reason", None) or err or err.__class__.__name__)
            of = f" of {total:,}" if total else ""
            raise UserInputError(
                f"download of {url} stopped after {received:,}{of} bytes ({reason}).{_kept(part)}"
            ) from None
        finally:
            if bar is not None:
                bar.close()
    if total is not None and received < total:  # the server closed early without an error
        raise UserInputError(
            f"download of {url} stopped after {received:,} of {total:,} bytes.{_kept(part)}")
    if size is not None and received != size:
        part.unlink(missing_ok=True)
        raise UserInputError(
            f"download of {url} is {received} bytes, expected {size}; the partial file was "
            f"deleted. Retry, or fetch it by hand and save it as {dest}"
        )
    got = h.hexdigest()
    if expected is not None and got != expected[1]:
        part.unlink(missing_ok=True)
        resumed = (" It was continued from an earlier partial download: the file may have "
                   "changed on the server since; the next try starts from zero."
                   if opened.offset else "")
        raise UserInputError(
            f"download of {url} has {expected[0]} {got}, expected {expected[1]}; the file "
            f"was deleted and not used. Retry later (the server may have sent an error "
            f"page), or fetch it by hand and save it as {dest}.{resumed}"
        )
    os.replace(part, dest)
    st = dest.stat()  # remember the digest just computed, so loading need not re-hash
    with _memo_lock:
        _memo[(str(dest.resolve()), algo)] = (st.st_size, st.st_mtime_ns, got)
    return dest


# ---------------------------------------------------------------------------------------------
# Archives


def _inside(root: Path, target: Path) -> bool:
    try:
        target.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def _extract_tar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if not _inside(dest, dest / member.name):
                raise UserInputError(
                    f"archive {archive} has a member outside its folder ({member.name!r}); "
                    "refusing to extract it (delete the archive and download it again)"
                )
        # The "data" filter also rejects links pointing out of dest and device files.
        tar.extractall(dest, filter="data")


def _extract_zip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            if not _inside(dest, dest / name):
                raise UserInputError(
                    f"archive {archive} has a member outside its folder ({name!r}); "
                    "refusing to extract it (delete the archive and download it again)"
                )
        zf.extractall(dest)


def extract(archive: str | Path, dest: str | Path) -> Path:
    """Unpack a .tar/.tar.gz/.tgz/.tar.bz2/.tar.xz or .zip archive into `dest`."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    name = archive.name.lower()
    try:
        if name.endswith(".zip"):
            _extract_zip(archive, dest)
        elif name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
            _extract_tar(archive, dest)
        else:
            raise UserInputError(f"cannot extract {archive}: not a .tar[.gz|.bz2|.xz], .tgz or .zip")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as err:
        raise UserInputError(
            f"cannot extract {archive}: {err} (the archive is damaged or truncated; delete it "
            "and download it again)"
        ) from None
    return dest
