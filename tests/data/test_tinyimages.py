"""80 Million Tiny Images (.bin records, CIFAR exclusion) and 300K Random Images (.npy), on small
files fabricated in the exact on-disk formats."""

import multiprocessing
import os
import pickle

import numpy as np
import pytest
import torch

from outlier_exposure.data.formats import lazy, tinyimages
from outlier_exposure.data.batches import OutlierStream
from outlier_exposure.data.placement import OutlierPrefetcher, place
from outlier_exposure.data.imageset import ImageSet
from outlier_exposure.data.spec import fit_to_shape
from outlier_exposure.data.formats.tinyimages import (
    KeptRecords, RecordImages, cifar_exclusion, load_300k, load_tinyimages,
)
from outlier_exposure.errors import UserInputError

N = 500


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, size=(N, 32, 32, 3), dtype=np.uint8)


def write_bin(path, images):
    """Each record is the image's bytes in column-major (Fortran) order, one after another."""
    with open(path, "wb") as f:
        for image in images:
            f.write(image.tobytes(order="F"))
    return path


@pytest.fixture(scope="module")
def bin_file(tmp_path_factory, images):
    return write_bin(tmp_path_factory.mktemp("80m") / "tiny_images.bin", images)


def seek_read(path, indices):
    """The reference's reader: one seek + read of 3072 bytes per record."""
    out = []
    with open(path, "rb") as f:
        for i in indices:
            f.seek(int(i) * 3072)
            out.append(np.frombuffer(f.read(3072), dtype=np.uint8).reshape(32, 32, 3, order="F"))
    return np.stack(out)


def test_the_fabricated_file_has_the_documented_layout(bin_file, images):
    # Byte h + 32 w + 1024 c of record i is pixel (h, w, c) of image i (column-major).
    raw = bin_file.read_bytes()
    assert len(raw) == N * 3072
    for i, h, w, c in [(0, 0, 0, 0), (3, 5, 7, 2), (N - 1, 31, 30, 1), (42, 31, 0, 2)]:
        assert raw[i * 3072 + h + 32 * w + 1024 * c] == images[i, h, w, c]


def test_round_trip_and_numpy_indexing(bin_file, images):
    x = RecordImages(bin_file)
    assert len(x) == N and x.shape == (N, 32, 32, 3) and x.dtype == np.uint8 and x.ndim == 4
    everything = x[:]
    assert everything.flags["C_CONTIGUOUS"] and everything.dtype == np.uint8
    np.testing.assert_array_equal(everything, images)
    np.testing.assert_array_equal(x[7], images[7])
    np.testing.assert_array_equal(x[-1], images[-1])
    np.testing.assert_array_equal(x[np.int64(9)], images[9])
    np.testing.assert_array_equal(x[10:40:3], images[10:40:3])
    np.testing.assert_array_equal(x[::-7], images[::-7])
    mask = np.arange(N) % 11 == 0
    np.testing.assert_array_equal(x[mask], images[mask])
    np.testing.assert_array_equal(x[torch.tensor([4, 2, -3])], images[[4, 2, -3]])
    assert x[np.array([], dtype=np.int64)].shape == (0, 32, 32, 3)
    np.testing.assert_array_equal(np.asarray(x), images)
    with pytest.raises(IndexError):
        x[N]
    with pytest.raises(IndexError):
        x[np.array([0, N])]


def test_random_batches_equal_one_seek_per_record(bin_file):
    x = RecordImages(bin_file)
    rng = np.random.default_rng(1)
    for _ in range(5):
        idx = rng.integers(0, N, size=256)  # with repeats, unsorted
        np.testing.assert_array_equal(x[idx], seek_read(bin_file, idx))


def test_imageset_of_records(bin_file, images):
    s = ImageSet(x=RecordImages(bin_file), y=None, name="tinyimages-80m")
    assert len(s) == N and s.shape == (32, 32, 3)
    assert "uint8" in repr(s)
    # Grey models: converted batch by batch as read, not all at once.
    grey = fit_to_shape(s, (32, 32, 1))
    assert isinstance(grey.x, lazy.LazyImages) and grey.x.shape == (N, 32, 32, 1)
    # exact: the sum in thousandths is an integer, and k + 0.5 is exact in float64
    luma = np.rint((images[[5, 1]].astype(np.int64) @ [299, 587, 114]) / 1000)
    np.testing.assert_array_equal(grey.x[[5, 1]][..., 0], luma)


def test_80m_for_mnist_is_resized_and_grey_batch_by_batch(tmp_path, images, monkeypatch):
    # mnist-convnet's outliers: tinyimages-80m through the registry at the model's (28, 28, 1).
    # The reference: ToPILImage, Resize(28), convert("L", (0.2989, 0.587, 0.114, 0)).
    import torchvision.transforms as T
    from PIL import Image

    from outlier_exposure.data.storage import roots
    from outlier_exposure.data.datasets import load_images

    (tmp_path / "tinyimages-80m").mkdir()
    write_bin(tmp_path / "tinyimages-80m" / "tiny_images.bin", images[:40])
    monkeypatch.setattr(lazy, "MATERIALISE_LIMIT_BYTES", 0)  # any attempt to read it whole fails
    gathered = []
    real = RecordImages._gather
    monkeypatch.setattr(RecordImages, "_gather", lambda self, idx: gathered.append(len(idx)) or real(self, idx))
    try:
        with roots.data_settings(tmp_path):
            s = load_images("tinyimages-80m", (28, 28, 1))
    finally:
        roots.set_data_root(None)
    assert isinstance(s.x, lazy.LazyImages) and s.x.shape == (40, 28, 28, 1) and gathered == []
    pick = [7, 3, 39, 0]
    got = s.x[pick]
    assert got.dtype == np.uint8 and got.shape == (4, 28, 28, 1) and gathered == [4]
    reference = np.stack([
        np.asarray(T.Resize(28)(Image.fromarray(images[i])).convert("L", (0.2989, 0.587, 0.114, 0)))
        for i in pick])
    assert np.abs(got[..., 0].astype(int) - reference).max() <= 1
    assert np.abs(got[..., 0].astype(int) - reference).mean() < 0.05  # mostly exact
    with pytest.raises(UserInputError, match="in batches"):
        np.asarray(s.x)
    # An in-memory set of another size is still refused, not silently resized.
    with pytest.raises(UserInputError, match="has 32x32 images but the model takes 28x28; resize them"):
        fit_to_shape(ImageSet(x=images[:3], y=None, name="small"), (28, 28, 1))


@pytest.mark.parametrize("excluded", [
    [0, 1, 2, 57, 58, 300, 499],            # runs at both ends and in the middle
    [499],
    list(range(0, 500, 2)),                 # every other record
    [],
])
def test_kept_records_equal_the_naive_mapping(excluded):
    mapping = KeptRecords(N, np.array(excluded, dtype=np.int64))
    kept = np.setdiff1d(np.arange(N), excluded)
    assert len(mapping) == len(kept)
    np.testing.assert_array_equal(mapping(np.arange(len(kept))), kept)


def test_kept_records_random_exclusions():
    rng = np.random.default_rng(2)
    for n in (1, 10, 1000):
        excluded = rng.choice(n, size=rng.integers(0, n), replace=False)
        kept = np.setdiff1d(np.arange(n), excluded)
        np.testing.assert_array_equal(KeptRecords(n, excluded)(np.arange(len(kept))), kept)


def test_excluded_view_reads_the_kept_records(bin_file, images):
    excluded = np.array([0, 3, 4, 5, 250, 499])
    x = RecordImages(bin_file, exclude=excluded)
    kept = np.setdiff1d(np.arange(N), excluded)
    assert len(x) == N - 6
    np.testing.assert_array_equal(x[:], images[kept])
    idx = np.random.default_rng(3).integers(0, len(x), size=100)
    np.testing.assert_array_equal(x[idx], seek_read(bin_file, kept[idx]))


def test_cifar_exclusion_list(tmp_path):
    path = tmp_path / "80mn_cifar_idxs.txt"
    path.write_text("5\n1\n\n5\n500\n 17 \n")  # 1-based, a duplicate, a blank line, spaces
    np.testing.assert_array_equal(cifar_exclusion(path, N), [0, 4, 16, 499])
    path.write_text("5\n0\n")
    with pytest.raises(UserInputError, match="1..500"):
        cifar_exclusion(path, N)
    path.write_text("5\n501\n")
    with pytest.raises(UserInputError, match="1..500"):
        cifar_exclusion(path, N)
    path.write_text("5\n12x\n7\n")
    with pytest.raises(UserInputError, match="line 2"):
        cifar_exclusion(path, N)
    path.write_text("\n")
    with pytest.raises(UserInputError, match="no indices"):
        cifar_exclusion(path, N)
    with pytest.raises(UserInputError, match="raw.githubusercontent.com"):
        cifar_exclusion(tmp_path / "missing.txt")


def test_load_tinyimages_from_a_folder(tmp_path, images):
    write_bin(tmp_path / "tiny_images.bin", images)
    full = load_tinyimages(tmp_path)
    assert full.name == "tinyimages-80m" and len(full) == N and full.y is None
    with pytest.raises(UserInputError, match="80mn_cifar_idxs.txt"):
        load_tinyimages(tmp_path, exclude_cifar=True)
    (tmp_path / "80mn_cifar_idxs.txt").write_text("1\n3\n3\n")
    no_cifar = load_tinyimages(tmp_path / "tiny_images.bin", exclude_cifar=True)
    assert len(no_cifar) == N - 2
    np.testing.assert_array_equal(no_cifar.x[:2], images[[1, 3]])


def test_truncated_or_foreign_file_is_refused(tmp_path, images):
    bad = write_bin(tmp_path / "tiny_images.bin", images[:3])
    with open(bad, "ab") as f:
        f.write(b"\0" * 100)
    with pytest.raises(UserInputError, match="truncated or not a tiny_images.bin") as err:
        RecordImages(bad)
    assert str(bad) in str(err.value)
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(UserInputError, match="truncated"):
        load_tinyimages(tmp_path / "empty.bin")
    with pytest.raises(UserInputError, match="not found"):
        load_tinyimages(tmp_path / "nope")


def test_full_size_file_checks_the_authors_list_count(tmp_path):
    # A sparse file of the real size: 244 GB apparent, no blocks written.
    path = tmp_path / "tiny_images.bin"
    with open(path, "wb") as f:
        f.truncate(tinyimages.TINY_IMAGES_RECORDS * 3072)
    try:
        if os.stat(path).st_blocks * 512 > 2**20:
            pytest.skip("this file system does not keep sparse files sparse")
        idxs = tmp_path / "80mn_cifar_idxs.txt"
        wanted = np.arange(1, 2 * tinyimages.CIFAR_EXCLUSION_UNIQUE, 2)[: tinyimages.CIFAR_EXCLUSION_UNIQUE]
        idxs.write_text("\n".join(map(str, np.concatenate([wanted, wanted[:10]]))) + "\n")
        s = load_tinyimages(tmp_path, exclude_cifar=True)
        assert len(s) == tinyimages.TINY_IMAGES_RECORDS - tinyimages.CIFAR_EXCLUSION_UNIQUE
        assert s.x[[0, len(s) - 1]].shape == (2, 32, 32, 3)  # zeros, but read
        idxs.write_text("1\n2\n")
        with pytest.raises(UserInputError, match="132409"):
            load_tinyimages(tmp_path, exclude_cifar=True)
    finally:
        path.unlink()


def test_pickled_copies_open_their_own_file(bin_file, images):
    x = RecordImages(bin_file)
    x[0]  # opens the memmap in this process
    copy = pickle.loads(pickle.dumps(x))
    assert copy._mm is None  # the path travelled, not the mapping
    np.testing.assert_array_equal(copy[[3, 2]], images[[3, 2]])


def _child_reads(x, idx, queue):
    queue.put((x[idx], x._pid == os.getpid()))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_forked_worker_reopens_the_file(bin_file, images):
    x = RecordImages(bin_file)
    x[0]  # the parent's mapping exists before the fork
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_reads, args=(x, np.array([9, 4]), queue))
    child.start()
    got, reopened = queue.get(timeout=30)
    child.join(timeout=30)
    np.testing.assert_array_equal(got, images[[9, 4]])
    assert reopened


def test_materialising_a_huge_set_is_refused(bin_file, monkeypatch):
    monkeypatch.setattr(lazy, "MATERIALISE_LIMIT_BYTES", 1000)
    with pytest.raises(UserInputError, match="in batches"):
        np.asarray(RecordImages(bin_file))


def test_lazy_outliers_are_read_ahead_in_the_order_of_the_stream(bin_file, images):
    s = ImageSet(x=RecordImages(bin_file), y=None, name="tinyimages-80m")
    assert place(s, torch.device("cpu")) is None  # never loaded whole
    prefetch = OutlierPrefetcher(s.x, OutlierStream(N, 64, torch.Generator().manual_seed(0)),
                                 torch.device("cpu"), depth=3)
    expected_order = torch.randperm(N, generator=torch.Generator().manual_seed(0))
    for k in range(4):
        batch = prefetch.next()
        assert batch.dtype == torch.uint8
        np.testing.assert_array_equal(batch.numpy(), images[expected_order[64 * k:64 * (k + 1)]])
    # the batches asked for but not used yet travel in the state, in order
    pending = prefetch.state_dict()["pending"]
    assert [p.tolist() for p in pending] == [expected_order[64 * k:64 * (k + 1)].tolist()
                                             for k in range(4, 7)]
    prefetch.close()
    in_memory = place(ImageSet(x=images[:4], y=None, name="small"), torch.device("cpu"))
    assert isinstance(in_memory, torch.Tensor)


# ---------------------------------------------------------------------------------------------
# 300K Random Images


def test_300k_full_size_npy(tmp_path):
    path = tmp_path / "300K_random_images.npy"
    x = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=tinyimages.RANDOM_300K_SHAPE)
    x[12345] = 7
    x[-1, 31, 31, 2] = 200
    del x
    try:
        s = load_300k(tmp_path)  # the folder
        assert s.name == "300k-random-images" and len(s) == 300_000
        assert isinstance(s.x, np.memmap)  # not loaded
        assert (s.x[12345] == 7).all() and s.x[-1, 31, 31, 2] == 200
    finally:
        path.unlink()


def test_300k_shape_and_dtype_errors(tmp_path):
    path = tmp_path / "300K_random_images.npy"
    np.save(path, np.zeros((10, 32, 32, 3), dtype=np.uint8))
    with pytest.raises(UserInputError, match=r"\(300000, 32, 32, 3\)"):
        load_300k(path)
    assert len(load_300k(path, expected_count=None)) == 10
    np.save(path, np.zeros((10, 32, 32, 3), dtype=np.float32))
    with pytest.raises(UserInputError, match="float32"):
        load_300k(path, expected_count=None)
    np.save(path, np.zeros((10, 3, 32, 32), dtype=np.uint8))
    with pytest.raises(UserInputError, match="shape"):
        load_300k(path, expected_count=None)
    path.write_bytes(b"not an npy")
    with pytest.raises(UserInputError, match="not a readable .npy"):
        load_300k(path)
    with pytest.raises(UserInputError, match="people.eecs.berkeley.edu"):
        load_300k(tmp_path / "elsewhere")


def test_record_sets_describe_both(tmp_path, images):
    sets = tinyimages.RECORD_SETS
    assert set(sets) == {"tinyimages-80m", "300k-random-images"}
    files = sets["tinyimages-80m"]["files"]
    assert files["tiny_images.bin"]["bytes"] == 79_302_017 * 3072
    assert files["80mn_cifar_idxs.txt"]["unique_indices"] == 132_409
    # 80M itself has no known digest (its size is checked); the CIFAR index list's sha256 was
    # computed from the authors' file, 300K Random Images has pytorch-ood's md5
    assert files["tiny_images.bin"]["sha256"] is None and "md5" not in files["tiny_images.bin"]
    assert len(files["80mn_cifar_idxs.txt"]["sha256"]) == 64 and files["80mn_cifar_idxs.txt"]["bytes"] == 1_170_875
    assert len(sets["300k-random-images"]["files"]["300K_random_images.npy"]["md5"]) == 32
    assert "withdrawn" in sets["tinyimages-80m"]["note"].lower()
    write_bin(tmp_path / "tiny_images.bin", images[:20])
    (tmp_path / "80mn_cifar_idxs.txt").write_text("2\n")
    assert len(sets["tinyimages-80m"]["load"](tmp_path, "no-cifar")) == 19
    assert len(sets["tinyimages-80m"]["load"](tmp_path, None)) == 20


def test_oe_training_with_a_lazy_outlier_file(tmp_path, bin_file, monkeypatch):
    # A registered name that loads the .bin, as the dataset registry does for tinyimages-80m;
    # the model takes 32x32 grey, so the records are also converted lazily, batch by batch.
    from outlier_exposure.training.config import config_from_preset
    from outlier_exposure.data import datasets
    from outlier_exposure.training.loop import train_run

    monkeypatch.setitem(datasets.BUILTIN, "tiny80", lambda split, shape, seed: load_tinyimages(bin_file))
    rng = np.random.default_rng(4)
    data = tmp_path / "grey.npz"
    np.savez(data, x=rng.integers(0, 256, size=(60, 32, 32, 1), dtype=np.uint8),
             y=np.arange(60) % 3)
    cfg = config_from_preset("quickstart", "oe-scratch", train=f"npz:{data}", test=f"npz:{data}",
                             outliers="tiny80", image_shape=(32, 32, 1), epochs=1, batch_size=30,
                             oe_batch_size=40, model_kwargs={"width": 4})
    run = train_run(cfg, tmp_path / "run", progress=False)
    assert (run / "model.pt").exists()


def test_resume_with_lazy_outliers_gives_the_same_weights(tmp_path, bin_file, monkeypatch):
    # The read-ahead batches are part of the checkpoint: an interrupted run ends as one that was not.
    from outlier_exposure.training.config import config_from_preset
    from outlier_exposure.data import datasets
    from outlier_exposure.training.loop import train_run

    monkeypatch.setitem(datasets.BUILTIN, "tiny80", lambda split, shape, seed: load_tinyimages(bin_file))
    rng = np.random.default_rng(5)
    data = tmp_path / "rgb.npz"
    np.savez(data, x=rng.integers(0, 256, size=(60, 32, 32, 3), dtype=np.uint8), y=np.arange(60) % 3)

    def cfg():
        return config_from_preset("quickstart", "oe-scratch", train=f"npz:{data}",
                                  test=f"npz:{data}", outliers="tiny80", image_shape=(32, 32, 3),
                                  mean=(0.5,) * 3, std=(0.5,) * 3, epochs=3, batch_size=20,
                                  oe_batch_size=45, model_kwargs={"width": 4})

    full = train_run(cfg(), tmp_path / "full", progress=False)

    class Stop(Exception):
        pass

    def interrupt(step):
        if step == 4:  # second epoch (3 steps per epoch)
            raise Stop

    with pytest.raises(Stop):
        train_run(cfg(), tmp_path / "cut", progress=False, on_step=interrupt)
    train_run(None, tmp_path / "cut", resume=True, progress=False)
    a = torch.load(full / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)
    for key in a:
        assert torch.equal(a[key], b[key]), key
