"""`oe reproduce PRESET --download` end to end over a real local HTTP server: the registry's URLs
of mnist-convnet's sets point at 127.0.0.1, serving files fabricated in their exact formats (IDX
.gz files, the CIFAR-10 python tarball, 80M Tiny Images records and the CIFAR index list) whose
digests the test computes. The first call is cut mid-file and stops; the second resumes the cut
file, checks every checksum, unpacks, and runs the preset on what it fetched."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.datasets_on_disk import write_cifar10, write_mnist
from tests.helpers.http_files import serving
from tests.helpers.isolation import isolated_registry  # noqa: F401 (a fixture)
from outlier_exposure.cli import main
from outlier_exposure.data.catalog import registry
from outlier_exposure.data.storage import roots

pytestmark = pytest.mark.usefixtures("isolated_registry", "one_thread")

TINY_RECORDS = 300


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fabricate(src: Path) -> dict[str, bytes]:
    """The served files, named as their registry downloads, by dataset."""
    files = {}
    for name in ("mnist", "fashion-mnist"):
        write_mnist(src / name, n_train=60, n_test=40)
        files[name] = {p.name: p.read_bytes() for p in sorted((src / name).iterdir())}
    write_cifar10(src / "cifar10", per_batch=4, n_test=40)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src / "cifar10" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    files["cifar10"] = {"cifar-10-python.tar.gz": buf.getvalue()}
    records = np.random.default_rng(5).integers(0, 256, (TINY_RECORDS, 3072), dtype=np.uint8)
    files["tinyimages-80m"] = {"tiny_images.bin": records.tobytes(),
                               "80mn_cifar_idxs.txt": b"1\n7\n7\n"}
    return files


def _point_registry_at(server, files: dict, src: Path) -> None:
    """Every download of the four sets from the server, with the fabricated files' digests
    (the archive by sha256, the IDX files by md5, 80M by its size only as the real entry)."""
    for name, served in files.items():
        ds = registry.get(name)
        downloads = []
        for item in ds.downloads:
            data = served[item.filename]
            if name == "cifar10":
                check = dict(md5=None, sha256=_sha256(data))
            elif item.filename == "tiny_images.bin":
                check = dict(md5=None, sha256=None, size=len(data))
            elif item.filename == "80mn_cifar_idxs.txt":
                check = dict(md5=None, sha256=_sha256(data), size=len(data))
            else:
                check = dict(md5=_md5(data), sha256=None)
            downloads.append(replace(item, url=server.url(f"{name}/{item.filename}"),
                                     approx_size=len(data), **check))

        def digest(req):  # what loading checks: the unpacked files too
            if name == "cifar10":
                return replace(req, md5=_md5((src / "cifar10" / req.path).read_bytes()))
            data = served.get(req.path)
            if req.sha256 and data is not None:
                return replace(req, sha256=_sha256(data))
            return replace(req, md5=_md5(data)) if req.md5 else req

        splits = {s: tuple(digest(r) for r in reqs) for s, reqs in ds.splits.items()}
        registry.register(replace(ds, downloads=tuple(downloads), splits=splits))


def test_reproduce_download_fetches_resumes_verifies_and_runs(tmp_path, capsys):
    files = _fabricate(tmp_path / "src")
    served = {f"{name}/{f}": data for name, named in files.items() for f, data in named.items()}
    root, out = tmp_path / "data", tmp_path / "out"
    argv = ["reproduce", "mnist-convnet", "--download", "--data-root", str(root), "--out", str(out),
            "--epochs", "1", "--ood", "noise:gaussian", "fashion-mnist:test", "cifar10:test",
            "--ood-draw-size", "exact", "--quiet", "--device", "cpu"]
    cut = 100_000  # tiny_images.bin (921,600 bytes) is cut here the first time
    with serving(served, ranges=True, cut_after=None) as server:
        _point_registry_at(server, files, tmp_path / "src")
        server.cut_after = cut
        server.cut = {name for name in served if name != "tinyimages-80m/tiny_images.bin"}
        assert main(argv) == 2
        first = capsys.readouterr()
        assert "stopped after 100,000 of 921,600 bytes" in first.err
        assert "the same command continues from there" in first.err
        assert not (out / "baseline").exists()  # nothing trained

        assert main(argv) == 0
        second = capsys.readouterr().out
    # the plan: every set, its size, its source and its check, smallest first
    plan = second[second.index("Data for reproducing preset mnist-convnet:"):].splitlines()
    assert plan[1] == "  in place: mnist, fashion-mnist, cifar10"  # fetched by the first call
    assert plan[2] == "  to download, in this order (1 set, 2 files, 921.6 KB in all):"
    assert plan[4].split() == ["tinyimages-80m", "tiny_images.bin", "921.6", "KB", "(100.0", "KB",
                               "on", "disk)", "127.0.0.1", "size", "only"]
    assert "tinyimages-80m: tiny_images.bin: resuming after the 100,000 bytes already downloaded" in second
    assert "tinyimages-80m: warning: tiny_images.bin has no published checksum: it is checked " \
           "by its size only (921,600 bytes)" in second
    # the first call's plan: every file of the four sets, smallest set first, how each is checked
    first_plan = first.out.splitlines()
    assert first_plan[1].startswith("  to download, in this order (4 sets, 9 files, ")
    table = [line for line in first_plan[2:12]]
    assert [line[4:].split()[0] for line in table if line[4] != " "] == [
        "set", "fashion-mnist:test", "mnist", "cifar10", "tinyimages-80m"]
    assert [line.split()[-1] for line in table[1:]] == ["md5"] * 6 + ["sha256", "only", "sha256"]
    # every file asked for once (fashion-mnist's train files never: only its test split is read);
    # the cut one twice, the second time for the bytes after the cut
    asked = [(name, None) for name in served if not name.startswith("fashion-mnist/train")]
    asked.append(("tinyimages-80m/tiny_images.bin", f"bytes={cut}-"))
    assert sorted(map(str, server.requests)) == sorted(map(str, asked))

    # every file is byte for byte the served one, and what reads them agrees
    assert (root / "tinyimages-80m" / "tiny_images.bin").read_bytes() == served["tinyimages-80m/tiny_images.bin"]
    for name in ("mnist", "fashion-mnist", "cifar10", "tinyimages-80m"):
        assert not list((root / name).glob("*.part")), name
    with roots.data_settings(root):
        assert registry.status("mnist", verify=True).state == "verified"
        assert registry.status("cifar10", verify=True).state == "verified"
        assert registry.status("fashion-mnist").splits_present == ["test"]  # its test files only
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"baseline", "oe"}
    assert set(results["oe"]["ood"]) >= {"fashion-mnist", "cifar10"}


def test_download_of_a_text_preset_points_to_the_text_downloader(tmp_path, capsys):
    assert main(["reproduce", "sst", "--download", "--out", str(tmp_path / "sst")]) == 2
    err = capsys.readouterr().err
    assert "sst is a text preset" in err and "python -m outlier_exposure.text.download" in err
    assert not (tmp_path / "sst").exists()
