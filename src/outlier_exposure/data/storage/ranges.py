"""Open a URL at a byte offset, so that an interrupted download continues where it stopped.

A server that supports ranges answers `Range: bytes=N-` with 206 Partial Content and
`Content-Range: bytes N-LAST/TOTAL`; one that does not may ignore the header and send the whole
file with 200 (HTTP allows that); one asked for bytes at or past the end answers 416 with
`Content-Range: bytes */TOTAL`. Only a 206 that starts exactly at N is appended: any other
answer means starting over, since a body that does not start at N would corrupt the file (and
only a digest would notice). file:// URLs ignore ranges and so always start over.

`open_at` says which case it was (`Opened.note` is the reason a partial file was not continued),
so that the downloader can tell the user; the downloader (download.py `fetch`) does the rest.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

USER_AGENT = "outlier-exposure (python urllib)"
TIMEOUT_S = 60

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIABLE = re.compile(r"bytes\s+\*/(\d+)")


@dataclass
class Opened:
    """An open response and where its body starts in the file.

    response: None when the partial file is already whole (the server's 416 says its size is
    exactly the offset). offset: bytes of the partial file to keep (0: write from the start).
    total: the whole file's size as the server states it, when it does. note: why a partial
    file could not be continued ("" when it was, or when there was none).
    """

    response: Any
    offset: int
    total: int | None
    note: str = ""


def _request(url: str, offset: int):
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)


def _length(response) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value and value.strip().isdigit() else None


def _from_start(url: str, note: str) -> Opened:
    response = _request(url, 0)
    return Opened(response, 0, _length(response), note)


def open_at(url: str, offset: int) -> Opened:
    """Open `url` for the bytes from `offset` on, or from the start when the server cannot.

    Raises what urllib raises (URLError, HTTPError, OSError) for a failed request.
    """
    if offset <= 0:
        return _from_start(url, "")
    host = urllib.parse.urlparse(url).hostname or "this URL"
    try:
        response = _request(url, offset)
    except urllib.error.HTTPError as err:
        if err.code != 416:
            raise
        found = _UNSATISFIABLE.match(err.headers.get("Content-Range", "") or "")
        err.close()
        if found and int(found.group(1)) == offset:
            return Opened(None, offset, offset)  # every byte is already on disk
        return _from_start(url, f"{host} refused to continue it (the file on the server is "
                                "smaller than the partial one: it may have changed)")
    if getattr(response, "status", None) == 206:
        found = _CONTENT_RANGE.match(response.headers.get("Content-Range", "") or "")
        if found and int(found.group(1)) == offset:
            total = None if found.group(3) == "*" else int(found.group(3))
            return Opened(response, offset, total)
        response.close()
        return _from_start(url, f"{host} answered with another range than the one asked for")
    # 200 (or a file:// URL): the whole file, which is what starting over needs anyway
    return Opened(response, 0, _length(response),
                  f"{host} does not support resuming (it ignores HTTP Range requests)")
