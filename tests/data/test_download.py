"""Downloads against a file:// URL and a local HTTP server, with good and bad checksums; safe
extraction; the digest cache; and the registry's download of a whole dataset."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import tarfile
import threading
import zipfile

import pytest

from tests.helpers.datasets_on_disk import write_image
from outlier_exposure.data.storage import download as dl
from outlier_exposure.data.catalog import registry
from outlier_exposure.data.storage import roots
from outlier_exposure.data.catalog.recipes import folder_reader
from outlier_exposure.errors import UserInputError

PAYLOAD = b"outlier exposure " * 1000
MD5 = hashlib.md5(PAYLOAD).hexdigest()
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(dl.CACHE_ENV, str(tmp_path / "cache"))


@pytest.fixture
def served(tmp_path):
    """A folder served over HTTP on 127.0.0.1 (a free port), in a thread."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "blob.bin").write_bytes(PAYLOAD)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_file_url_good_md5(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(PAYLOAD)
    dest = dl.fetch(src.as_uri(), tmp_path / "out" / "blob.bin", md5=MD5, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "out" / "blob.bin.part").exists()


def test_file_url_bad_checksum_is_deleted(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(PAYLOAD)
    dest = tmp_path / "out" / "blob.bin"
    with pytest.raises(UserInputError, match=r"has md5 [0-9a-f]{32}, expected 0{32}; the file was deleted"):
        dl.fetch(src.as_uri(), dest, md5="0" * 32, progress=False)
    assert not dest.exists() and not dest.with_name("blob.bin.part").exists()


def test_http_good_sha256_and_digest_is_remembered(served, tmp_path, monkeypatch):
    _, base = served
    dest = dl.fetch(f"{base}/blob.bin", tmp_path / "blob.bin", sha256=SHA256, progress=False)
    assert dest.read_bytes() == PAYLOAD
    calls = []
    monkeypatch.setattr(dl, "hash_file", lambda p, a: calls.append(p) or "x")
    assert dl.check_file(dest, sha256=SHA256) is None  # fetch hashed it while streaming
    assert calls == []


def test_http_bad_sha256_is_deleted(served, tmp_path):
    _, base = served
    dest = tmp_path / "blob.bin"
    with pytest.raises(UserInputError, match=rf"{base}/blob.bin has sha256 {SHA256}, expected f{{64}}"):
        dl.fetch(f"{base}/blob.bin", dest, sha256="f" * 64, progress=False)
    assert list(tmp_path.glob("blob.bin*")) == []


def test_http_missing_file_and_wrong_size(served, tmp_path):
    _, base = served
    with pytest.raises(UserInputError, match=r"download of .*/nothing.bin failed: .*save it as"):
        dl.fetch(f"{base}/nothing.bin", tmp_path / "n.bin", progress=False)
    assert list(tmp_path.glob("n.bin*")) == []
    with pytest.raises(UserInputError, match=rf"is {len(PAYLOAD)} bytes, expected 10; the partial file was deleted"):
        dl.fetch(f"{base}/blob.bin", tmp_path / "s.bin", size=10, progress=False)
    assert list(tmp_path.glob("s.bin*")) == []


def test_unverified_download_is_kept(served, tmp_path):
    _, base = served
    assert dl.fetch(f"{base}/blob.bin", tmp_path / "u.bin", progress=False).read_bytes() == PAYLOAD


def test_digest_cache_follows_size_and_mtime(tmp_path, monkeypatch):
    f = tmp_path / "f.bin"
    f.write_bytes(b"abc")
    real = dl.hash_file
    calls = []
    monkeypatch.setattr(dl, "hash_file", lambda p, a: calls.append(1) or real(p, a))
    assert dl.file_digest(f, "md5") == hashlib.md5(b"abc").hexdigest()
    assert dl.file_digest(f, "md5") == hashlib.md5(b"abc").hexdigest()
    assert len(calls) == 1
    dl._memo.clear()  # a new process: the on-disk store answers
    assert dl.file_digest(f, "md5") == hashlib.md5(b"abc").hexdigest() and len(calls) == 1
    f.write_bytes(b"abcd")
    assert dl.file_digest(f, "md5") == hashlib.md5(b"abcd").hexdigest() and len(calls) == 2
    dl.file_digest(f, "md5", force=True)
    assert len(calls) == 3


def _tar_with(path, members: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_extract_tar_and_zip(tmp_path):
    _tar_with(tmp_path / "a.tar.gz", {"top/x.txt": b"x", "top/sub/y.txt": b"y"})
    dl.extract(tmp_path / "a.tar.gz", tmp_path / "out")
    assert (tmp_path / "out/top/sub/y.txt").read_bytes() == b"y"
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as zf:
        zf.writestr("z/q.txt", "q")
    dl.extract(tmp_path / "b.zip", tmp_path / "out")
    assert (tmp_path / "out/z/q.txt").read_text() == "q"


def test_extract_refuses_paths_outside(tmp_path):
    _tar_with(tmp_path / "evil.tar.gz", {"ok.txt": b"1", "../escaped.txt": b"2"})
    with pytest.raises(UserInputError, match=r"evil\.tar\.gz has a member outside its folder \('\.\./escaped\.txt'\)"):
        dl.extract(tmp_path / "evil.tar.gz", tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("../../escaped2.txt", "2")
    with pytest.raises(UserInputError, match="outside its folder"):
        dl.extract(tmp_path / "evil.zip", tmp_path / "out")
    (tmp_path / "cut.tar.gz").write_bytes((tmp_path / "evil.tar.gz").read_bytes()[:40])
    with pytest.raises(UserInputError, match=r"cannot extract .*cut\.tar\.gz.*damaged or truncated"):
        dl.extract(tmp_path / "cut.tar.gz", tmp_path / "out2")


# ---------------------------------------------------------------------------------------------
# The registry's download of a dataset


@pytest.fixture
def registry_snapshot():
    registry.datasets()
    saved = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


def _image_archive(tmp_path):
    folder = tmp_path / "src" / "pics"
    for k in range(3):
        write_image(folder / "cls" / f"{k}.png", (32, 32))
    archive = tmp_path / "www" / "pics.tar.gz"
    archive.parent.mkdir(exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="pics")
    return archive


def _toy(name, url, md5):
    return registry.register(registry.Dataset(
        name, "toy pictures", splits={"all": (registry.FileReq("pics/"),)}, default_split="all",
        read=folder_reader("pics", "crop", labelled=True),
        downloads=(registry.Download(url, "pics.tar.gz", md5=md5, extract_to=""),)))


def test_registry_download_verifies_unpacks_and_loads(tmp_path, registry_snapshot, served):
    www, base = served
    archive = _image_archive(tmp_path)
    (www / "pics.tar.gz").write_bytes(archive.read_bytes())
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    _toy("toy-pics", f"{base}/pics.tar.gz", md5)
    with roots.data_settings(tmp_path / "root"):
        assert registry.status("toy-pics").state == "missing"
        with pytest.raises(UserInputError, match=r"toy-pics.*not in .*toy-pics: missing pics/.*oe datasets --download toy-pics:all"):
            registry.load("toy-pics")
        folder = registry.download("toy-pics", progress=False, log=lambda m: None)
        assert (folder / "pics.tar.gz").is_file() and registry.status("toy-pics", verify=True).state == "present"
        images = registry.load("toy-pics", shape=(32, 32, 3))
        assert images.x.shape == (3, 32, 32, 3) and images.y.tolist() == [0, 0, 0]
        (folder / "pics.tar.gz").write_bytes(b"damaged")
        st = registry.status("toy-pics", verify=True)
        assert st.state == "bad checksum" and st.bad[0].startswith("pics.tar.gz: md5 is")


def test_registry_download_with_bad_checksum_leaves_nothing(tmp_path, registry_snapshot):
    archive = _image_archive(tmp_path)
    _toy("toy-bad", archive.as_uri(), "0" * 32)
    with roots.data_settings(tmp_path / "root"):
        with pytest.raises(UserInputError, match="expected 0{32}; the file was deleted and not used"):
            registry.download("toy-bad", progress=False, log=lambda m: None)
        folder = registry.dataset_dir("toy-bad")
        assert not (folder / "pics.tar.gz").exists() and not (folder / "pics").exists()
        assert registry.status("toy-bad").state == "missing"


def test_load_downloads_only_when_allowed(tmp_path, registry_snapshot):
    archive = _image_archive(tmp_path)
    _toy("toy-auto", archive.as_uri(), hashlib.md5(archive.read_bytes()).hexdigest())
    with roots.data_settings(tmp_path / "root"):
        with pytest.raises(UserInputError, match="missing pics/"):
            registry.load("toy-auto")
    with roots.data_settings(tmp_path / "root", download=True):
        import contextlib

        with contextlib.redirect_stdout(io.StringIO()):
            assert len(registry.load("toy-auto", shape=(32, 32, 3))) == 3
    assert roots._download_missing is False and roots._root_override is None


def test_manual_dataset_has_no_download():
    with pytest.raises(UserInputError, match=r"icons50 has no download; Icons-50 has no direct download link.*Icons-50/"):
        registry.download("icons50", progress=False)
