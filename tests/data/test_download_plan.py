"""What `oe reproduce` says when data is missing (one line per set, then the command that gets
them all) and the plan `--download` prints, on a data root where some sets are present in their
exact on-disk layout and others are missing or half-downloaded."""

from __future__ import annotations

import pytest

from tests.helpers.datasets_on_disk import write_cifar10, write_svhn
from tests.helpers.isolation import isolated_registry  # noqa: F401 (a fixture)
from outlier_exposure.cli import main
from outlier_exposure.data.catalog import plan, preflight
from outlier_exposure.data.storage import roots
from outlier_exposure.errors import UserInputError
from outlier_exposure.training.presets import get_preset

pytestmark = pytest.mark.usefixtures("isolated_registry")


@pytest.fixture
def root(tmp_path):
    """cifar10 (train and test) and svhn's test file in place; the rest of cifar10-wrn's sets
    missing; 1.5 MB of places365's tar already downloaded."""
    root = tmp_path / "data"
    write_cifar10(root / "cifar10")
    write_svhn(root / "svhn" / "test_32x32.mat", 3)
    (root / "places365").mkdir()
    (root / "places365" / "test_256.tar.part").write_bytes(b"\0" * 1_500_000)
    return root


def _cifar10_wrn_specs() -> list[str]:
    p = get_preset("cifar10-wrn")
    return [p.train, p.test, p.outliers, *p.ood]


def test_the_missing_data_message_is_one_line_per_set(root, tmp_path, capsys):
    argv = ["reproduce", "cifar10-wrn", "--data-root", str(root), "--out", str(tmp_path / "out"),
            "--device", "cpu", "--quiet"]
    assert main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    flag = f"--data-root {root}"
    assert lines[:6] == [
        "oe reproduce: error: reproducing preset cifar10-wrn needs 5 datasets that are not in place:",
        f"  tinyimages-80m: tiny_images.bin, 80mn_cifar_idxs.txt (243.6 GB) -> oe datasets --download tinyimages-80m {flag}",
        f"  textures: dtd/images/ (625.2 MB) -> oe datasets --download textures {flag}",
        f"  places365: test_256.tar (4.4 GB) -> oe datasets --download places365 {flag}",
        "  lsun: test/ -> by hand (steps below)",
        f"  cifar100: cifar-100-python/test, cifar-100-python/meta (169.0 MB) -> oe datasets --download cifar100 {flag}",
    ]
    assert lines[6] == "By hand:"
    assert lines[7].startswith("  lsun: get the LSUN test set with the LSUN toolkit")
    steps = " ".join(lines[7:-2])
    assert f"`python3 data.py export test_lmdb --out_dir {root}/lsun/test --flat`" in steps
    assert lines[-2] == (f"Data root: {root} (from --data-root; point elsewhere with --data-root DIR "
                         "or env OE_DATA_ROOT).")
    assert lines[-1] == f"Get them all: oe reproduce cifar10-wrn --download {flag} (and lsun by hand, as above)"
    assert all(len(line) < 200 for line in lines)
    assert not (tmp_path / "out").exists()  # nothing trained


def test_without_a_job_command_the_last_line_is_one_oe_datasets_command(root):
    with roots.data_settings(root), pytest.raises(UserInputError) as err:
        preflight.require_data(["svhn:train", "textures", "cifar100:test", "lsun"], "--protocol x")
    lines = str(err.value).splitlines()
    assert lines[1] == ("  svhn: train_32x32.mat, extra_32x32.mat (1.5 GB) -> oe datasets --download "
                        f"svhn:train --data-root {root}")
    assert lines[-1] == (f"Get them all: oe datasets --download svhn:train textures cifar100 "
                         f"--data-root {root} (and lsun by hand, as above)")


def test_the_download_plan_lists_each_file_its_size_source_and_check(root):
    with roots.data_settings(root):
        missing, present = plan.find_missing(preflight.registered_sets(_cifar10_wrn_specs()))
        text = plan.plan_text(missing, present, "reproducing preset cifar10-wrn")
    lines = text.splitlines()
    assert lines[:3] == ["Data for reproducing preset cifar10-wrn:",
                         "  in place: cifar10, svhn",
                         "  to download, in this order (4 sets, 5 files, 248.8 GB in all):"]
    rows = [line.split() for line in lines[3:9]]
    assert rows[0] == ["set", "file", "size", "from", "checked", "by"]
    # smallest first; the partial download of places365 is counted
    assert rows[1:] == [
        ["cifar100", "cifar-100-python.tar.gz", "169.0", "MB", "www.cs.toronto.edu", "md5"],
        ["textures", "dtd-r1.0.1.tar.gz", "625.2", "MB", "www.robots.ox.ac.uk", "md5"],
        ["places365", "test_256.tar", "4.4", "GB", "(1.5", "MB", "on", "disk)", "data.csail.mit.edu", "md5"],
        ["tinyimages-80m", "tiny_images.bin", "243.6", "GB", "archive.org", "size", "only"],
        ["80mn_cifar_idxs.txt", "1.2", "MB", "raw.githubusercontent.com", "sha256"],
    ]
    assert lines[9] == ("  warning: tiny_images.bin (tinyimages-80m) has no published checksum: it "
                        "is checked by its size only")
    assert lines[10] == ("  by hand (lsun): the downloads go ahead, then the run stops, and nothing "
                         "trains until it is in place:")
    assert lines[-1].startswith(f"  Data root: {root} (from --data-root")


def test_every_download_is_https_or_pinned_by_a_digest():
    """Plain HTTP only where the host has no HTTPS, and then the file is pinned by a digest,
    or (notMNIST) checked by size with a warning, as docs/datasets.md says."""
    from outlier_exposure.data.catalog import registry

    plain = {}
    for name, ds in registry.datasets().items():
        for item in ds.downloads:
            assert item.url.startswith(("https://", "http://")), item.url
            if item.url.startswith("http://"):
                plain[item.filename] = (name, item.checked_by)
    assert plain == {
        **{f: ("fashion-mnist", "md5") for f in ("train-images-idx3-ubyte.gz",
                                                  "train-labels-idx1-ubyte.gz",
                                                  "t10k-images-idx3-ubyte.gz",
                                                  "t10k-labels-idx1-ubyte.gz")},
        "notMNIST_small.tar.gz": ("notmnist", "size only"),
    }


def _toy_served(server_files: dict, name: str = "toy") -> None:
    """A registered set of one plain file, served by the test's server."""
    from outlier_exposure.data.catalog import registry
    from outlier_exposure.data.catalog.recipes import npz_reader

    registry.register(registry.Dataset(
        name, "toy", splits={"test": (registry.FileReq("toy.npz"),)}, default_split="test",
        read=npz_reader("toy.npz", "x", "y"),
        downloads=(registry.Download(server_files["url"], "toy.npz", sha256=server_files["sha256"],
                                     approx_size=server_files["size"]),)))


def _npz_bytes() -> bytes:
    import io

    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, x=np.zeros((3, 32, 32, 3), np.uint8), y=np.arange(3))
    return buf.getvalue()


def test_download_fetches_what_it_can_then_stops_for_the_sets_got_by_hand(tmp_path):
    import hashlib

    from tests.helpers.http_files import serving

    data = _npz_bytes()
    with serving({"toy.npz": data}) as server, roots.data_settings(tmp_path):
        _toy_served({"url": server.url("toy.npz"), "sha256": hashlib.sha256(data).hexdigest(),
                     "size": len(data)})
        lines = []
        with pytest.raises(UserInputError) as err:
            preflight.fetch_data(["toy", "icons50"], "job", progress=False, log=lines.append)
    text = str(err.value)
    assert text.startswith("icons50 cannot be downloaded: The downloads (toy) are done and kept. "
                           "Get it by hand, then run the same command again:\n  icons50: Icons-50 has")
    assert (tmp_path / "toy" / "toy.npz").read_bytes() == data
    assert lines[0].startswith("Data for job:\n  to download, in this order (1 set, 1 file, ")
    assert "  by hand (icons50): the downloads go ahead" in lines[0]


def test_download_refuses_before_the_first_byte_when_the_disk_is_too_small(tmp_path, monkeypatch):
    import collections
    import hashlib

    from tests.helpers.http_files import serving

    data = _npz_bytes()
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(plan.shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 100, 100))
    with serving({"toy.npz": data}) as server, roots.data_settings(tmp_path):
        _toy_served({"url": server.url("toy.npz"), "sha256": hashlib.sha256(data).hexdigest(),
                     "size": len(data)})
        with pytest.raises(UserInputError, match=rf"the downloads need {len(data) / 1000:.1f} KB but "
                                                 rf".* has 100 B free.*Nothing was downloaded"):
            preflight.fetch_data(["toy"], "job", progress=False, log=[].append)
        assert server.requests == []
