"""Downloads with checksums, safe archive extraction, and cached file digests.

- `fetch(url, dest, md5=..., sha256=..., size=...)` streams a URL (http, https or file) into
  `dest.part`, hashing as it goes, and renames it to `dest` only when the digest (and size)
  match. A mismatch or a broken transfer deletes the partial file and raises
  `UserInputError`: a bad download is never left where a reader could pick it up.
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
import json
import os
import sys
import tarfile
import threading
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from ...errors import UserInputError

CACHE_ENV = "OE_CACHE_DIR"
CHUNK = 1 << 20
USER_AGENT = "outlier-exposure (python urllib)"

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


def _open_url(url: str):
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    return urllib.request.urlopen(request, timeout=60)


def _progress(total: int | None, name: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=name, unit="B", unit_scale=True, unit_divisor=1024,
                leave=False, dynamic_ncols=True, file=sys.stderr, mininterval=0.5)


def fetch(url: str, dest: str | Path, *, md5: str | None = None, sha256: str | None = None,
          size: int | None = None, progress: bool = True) -> Path:
    """Download `url` to `dest`, checking the digest (sha256 preferred, else md5) and size.

    The bytes go to `dest.part` and are hashed while they stream; `dest` appears only once
    they match. Any failure deletes `dest.part` and raises UserInputError naming the URL,
    the file and what to do. With no digest and no size the file is kept unverified.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    expected = expected_digest(md5, sha256)
    h = hashlib.new(expected[0]) if expected else None
    received = 0
    try:
        with _open_url(url) as response, open(part, "wb") as out:
            total = response.length if getattr(response, "length", None) else size
            bar = _progress(total, dest.name, progress)
            try:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    if h is not None:
                        h.update(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
    except (urllib.error.URLError, OSError, ValueError) as err:
        part.unlink(missing_ok=True)
        reason = getattr(err, "reason", None) or err
        raise UserInputError(
            f"download of {url} failed: {reason}. Check the network and retry, or fetch the "
            f"file by hand and save it as {dest}"
        ) from None
    if size is not None and received != size:
        part.unlink(missing_ok=True)
        raise UserInputError(
            f"download of {url} is {received} bytes, expected {size}; the partial file was "
            f"deleted. Retry, or fetch it by hand and save it as {dest}"
        )
    if expected is not None:
        got = h.hexdigest()
        if got != expected[1]:
            part.unlink(missing_ok=True)
            raise UserInputError(
                f"download of {url} has {expected[0]} {got}, expected {expected[1]}; the file "
                f"was deleted and not used. Retry later (the server may have sent an error "
                f"page), or fetch it by hand and save it as {dest}"
            )
    os.replace(part, dest)
    if expected is not None:
        st = dest.stat()  # remember the digest we just computed, so loading need not re-hash
        with _memo_lock:
            _memo[(str(dest.resolve()), expected[0])] = (st.st_size, st.st_mtime_ns, expected[1])
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
