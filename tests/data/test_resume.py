"""Resumable downloads over a real local HTTP server: a connection cut mid-file keeps the bytes
received, and the next call continues from them where the server supports HTTP ranges (and
starts over, saying so, where it does not); either way the file ends byte for byte equal to the
served one, its digest checked on the whole file."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from tests.helpers.http_files import serving
from outlier_exposure.data.storage import download as dl
from outlier_exposure.errors import UserInputError

# 2.5 MiB: more than two of the downloader's 1 MiB reads, so the cut lands mid-stream
PAYLOAD = np.random.default_rng(11).integers(0, 256, 5 << 19, dtype=np.uint8).tobytes()
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
CUT = 1_300_000


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(dl.CACHE_ENV, str(tmp_path / "cache"))


def _cut_first(server, dest, notes, **check):
    with pytest.raises(UserInputError) as err:
        dl.fetch(server.url("blob.bin"), dest, progress=False, log=notes.append, **check)
    part = dest.with_name("blob.bin.part")
    assert part.read_bytes() == PAYLOAD[:CUT] and not dest.exists()
    return str(err.value)


def test_a_cut_download_resumes_from_the_bytes_on_disk(tmp_path):
    dest, notes = tmp_path / "blob.bin", []
    with serving({"blob.bin": PAYLOAD}, ranges=True, cut_after=CUT) as server:
        message = _cut_first(server, dest, notes, sha256=SHA256)
        assert f"stopped after {CUT:,} of {len(PAYLOAD):,} bytes" in message
        assert f"The {CUT:,} bytes already in {dest}.part are kept" in message
        assert dl.fetch(server.url("blob.bin"), dest, sha256=SHA256, progress=False,
                        log=notes.append) == dest
    assert dest.read_bytes() == PAYLOAD and not (tmp_path / "blob.bin.part").exists()
    assert server.requests == [("blob.bin", None), ("blob.bin", f"bytes={CUT}-")]
    assert notes == [f"blob.bin: resuming after the {CUT:,} bytes already downloaded"]
    # the whole file's digest was computed across the two transfers: loading need not re-hash
    assert dl.check_file(dest, sha256=SHA256) is None


def test_a_server_without_ranges_starts_over_and_says_so(tmp_path):
    dest, notes = tmp_path / "blob.bin", []
    with serving({"blob.bin": PAYLOAD}, ranges=False, cut_after=CUT) as server:
        _cut_first(server, dest, notes, md5=hashlib.md5(PAYLOAD).hexdigest(), size=len(PAYLOAD))
        dl.fetch(server.url("blob.bin"), dest, md5=hashlib.md5(PAYLOAD).hexdigest(),
                 size=len(PAYLOAD), progress=False, log=notes.append)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[1] == ("blob.bin", f"bytes={CUT}-")  # asked, answered with 200
    assert notes == ["blob.bin: 127.0.0.1 does not support resuming (it ignores HTTP Range "
                     "requests); downloading it again from the start"]


def test_a_resumed_file_with_a_wrong_digest_is_deleted(tmp_path):
    # a partial file from another version of the file: the whole file's digest cannot match
    dest = tmp_path / "blob.bin"
    dest.with_name("blob.bin.part").write_bytes(b"\0" * CUT)
    with serving({"blob.bin": PAYLOAD}) as server:
        with pytest.raises(UserInputError) as err:
            dl.fetch(server.url("blob.bin"), dest, sha256=SHA256, progress=False, log=[].append)
    text = str(err.value)
    wrong = hashlib.sha256(b"\0" * CUT + PAYLOAD[CUT:]).hexdigest()
    assert f"{server.url('blob.bin')} has sha256 {wrong}, expected {SHA256}" in text
    assert "continued from an earlier partial download" in text and "starts from zero" in text
    assert list(tmp_path.glob("blob.bin*")) == []


def test_a_whole_partial_file_is_checked_without_downloading_again(tmp_path):
    dest = tmp_path / "blob.bin"
    with serving({"blob.bin": PAYLOAD}) as server:
        dest.with_name("blob.bin.part").write_bytes(PAYLOAD)  # size known: no request at all
        dl.fetch(server.url("blob.bin"), dest, sha256=SHA256, size=len(PAYLOAD), progress=False)
        assert server.requests == [] and dest.read_bytes() == PAYLOAD
        dest.unlink()
        dest.with_name("blob.bin.part").write_bytes(PAYLOAD)  # size unknown: the server's 416
        dl.fetch(server.url("blob.bin"), dest, sha256=SHA256, progress=False)
        assert server.requests == [("blob.bin", f"bytes={len(PAYLOAD)}-")]
    assert dest.read_bytes() == PAYLOAD


def test_a_cut_file_without_a_digest_still_resumes_to_the_same_bytes(tmp_path, monkeypatch):
    dest = tmp_path / "blob.bin"
    with serving({"blob.bin": PAYLOAD}, cut_after=CUT) as server:
        _cut_first(server, dest, [])  # no digest, no size: the server's Content-Length tells
        dl.fetch(server.url("blob.bin"), dest, progress=False, log=[].append)
    assert dest.read_bytes() == PAYLOAD
    # unverified, but its sha256 was computed while it streamed and is remembered (no re-hash)
    monkeypatch.setattr(dl, "hash_file", lambda *a: pytest.fail("hashed the file again"))
    assert dl.file_digest(dest) == SHA256


def test_the_resumed_download_bar_starts_at_the_bytes_on_disk_and_ends_at_100(tmp_path, capsys):
    dest, notes = tmp_path / "blob.bin", []
    with serving({"blob.bin": PAYLOAD}, ranges=True, cut_after=CUT) as server:
        _cut_first(server, dest, notes, sha256=SHA256)
        capsys.readouterr()
        dl.fetch(server.url("blob.bin"), dest, sha256=SHA256, progress=True, log=notes.append)
    frames = capsys.readouterr().err.split("\r")
    first, last = frames[1], frames[-1].strip()
    assert "blob.bin:  50%" in first and "1.24M/2.50M" in first  # 1,300,000 of 2,621,440 B
    assert last.startswith("blob.bin: 100%") and "2.50M/2.50M" in last
