"""Image data: digits, the 8x8 MNIST pipeline, the IDX reader, the cache and downloads.

No test reads shared data or touches the network: MNIST files are tiny fakes written here.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import stat
import sys
import types
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

import innlab.data._mnist_raw as mnist_raw
import innlab.data.images as images_module
from innlab.data import DIGITS_LEVELS, MNIST_LEVELS, digits, downsample_mnist, mnist8x8
from innlab.data._mnist_raw import read_idx

from .fake_mnist import idx_bytes, write_idx_files


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("INNLAB_CACHE", str(tmp_path / "user-cache"))
    monkeypatch.delenv("INNLAB_DATA", raising=False)
    monkeypatch.setitem(sys.modules, "torchvision", None)  # as if not installed


def _fake_mnist(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


def _write_mnist(root: Path, gz: bool, train: bool = True, n: int = 7) -> tuple[np.ndarray, ...]:
    images, labels = _fake_mnist(n, seed=int(train))
    write_idx_files(root, images, labels, train=train, gz=gz)
    return images, labels


def _fail(*args, **kwargs):
    raise AssertionError("the raw files were read again")


def _lanczos_matrix(n_in: int, n_out: int, a: int = 3) -> np.ndarray:
    """Rows: normalised Lanczos-3 weights of a downscaling resize (PIL's definition)."""
    scale = n_in / n_out
    x = (np.arange(n_in)[None, :] + 0.5 - (np.arange(n_out)[:, None] + 0.5) * scale) / scale
    w = np.sinc(x) * np.sinc(x / a) * (np.abs(x) < a)
    return w / w.sum(1, keepdims=True)


# ------------------------------------------------------------------ digits


def test_digits_split():
    x_train, y_train = digits("train")
    x_test, y_test = digits("test")
    assert x_train.shape == (1437, 64) and x_test.shape == (360, 64)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    both = torch.cat([x_train, x_test])
    assert torch.equal(both, both.round()) and both.min() == 0 and both.max() == DIGITS_LEVELS - 1
    counts_train = torch.bincount(y_train, minlength=10)
    counts_test = torch.bincount(y_test, minlength=10)
    assert ((counts_test - 0.2 * (counts_train + counts_test)).abs() <= 1).all()  # stratified
    assert torch.equal(digits("test")[0], x_test)  # fixed split
    assert not torch.equal(digits("test", seed=1)[0], x_test)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"split": "val"}, ValueError), ({"test_size": 1.0}, ValueError), ({"seed": -1}, ValueError)],
)
def test_digits_bad_arguments(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        digits(**kwargs)


# ------------------------------------------------------------------ the 28x28 -> 8x8 pipeline


@pytest.mark.parametrize("value", [0, 37, 255])
def test_constant_image_stays_constant(value):
    out = downsample_mnist(np.full((2, 28, 28), value, dtype=np.uint8))
    assert out.shape == (2, 64) and out.dtype == np.uint8
    assert (out == value).all()


def test_pipeline_matches_lanczos_reference():
    # a block, a single pixel and a horizontal ramp; PIL resizes horizontally, then vertically,
    # rounding to uint8 after each pass, then the central 8x8 of the 10x10 result is kept
    patterns = np.zeros((3, 28, 28), dtype=np.uint8)
    patterns[0, 10:18, 6:12] = 255
    patterns[1, 3, 20] = 200
    patterns[2] = np.arange(28)[None, :] * 9
    weights = _lanczos_matrix(28, 10)
    for image, got in zip(patterns, downsample_mnist(patterns), strict=True):
        rows = np.clip(np.round(image @ weights.T), 0, 255)
        expected = np.clip(np.round(weights @ rows), 0, 255)[1:9, 1:9]
        assert np.abs(got.reshape(8, 8).astype(int) - expected).max() <= 1
    ramp = downsample_mnist(patterns[2:]).reshape(8, 8).astype(int)
    assert (np.diff(ramp, axis=1) > 0).all() and (np.diff(ramp, axis=0) == 0).all()  # row-major


def test_downsample_rejects_bad_images():
    with pytest.raises(TypeError, match="uint8"):
        downsample_mnist(np.zeros((2, 28, 28)))


# ------------------------------------------------------------------ IDX files and mnist8x8


@pytest.mark.parametrize("gz", [False, True])
def test_mnist8x8_reads_idx_files(tmp_path, gz):
    images, labels = _write_mnist(tmp_path, gz=gz, train=True)
    test_images, test_labels = _write_mnist(tmp_path, gz=gz, train=False, n=3)
    x, y = mnist8x8(root=tmp_path, progress=False)
    assert x.shape == (7, 64) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(x, torch.from_numpy(downsample_mnist(images)).float())
    assert torch.equal(y, torch.from_numpy(labels).long())
    x_test, y_test = mnist8x8(root=str(tmp_path), train=False, progress=False)
    assert torch.equal(x_test, torch.from_numpy(downsample_mnist(test_images)).float())
    assert torch.equal(y_test, torch.from_numpy(test_labels).long())
    assert MNIST_LEVELS == 256 and x.min() >= 0 and x.max() <= 255


def test_read_idx_rejects_bad_files(tmp_path):
    good = idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3))
    (tmp_path / "ok").write_bytes(good)
    assert read_idx(tmp_path / "ok").tolist() == [[0, 1, 2], [3, 4, 5]]
    for name, data in [("magic", b"\x01" + good[1:]), ("short", good[:-1]), ("long", good + b"0")]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=name if name == "magic" else "header"):
            read_idx(tmp_path / name)
    (tmp_path / "broken.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="could not read"):
        read_idx(tmp_path / "broken.gz")


def test_cache_is_reused(tmp_path, monkeypatch):
    _write_mnist(tmp_path, gz=True)
    x, y = mnist8x8(root=tmp_path, progress=False)
    assert len(list((tmp_path / "MNIST" / "innlab").glob("mnist8x8-train-*.npz"))) == 1

    monkeypatch.setattr(images_module, "load_raw", _fail)
    x2, y2 = mnist8x8(root=tmp_path, progress=False)
    assert torch.equal(x, x2) and torch.equal(y, y2)


def test_broken_cache_file_is_rebuilt(tmp_path):
    _write_mnist(tmp_path, gz=True)
    x, _ = mnist8x8(root=tmp_path, progress=False)
    (cached,) = (tmp_path / "MNIST" / "innlab").glob("*.npz")
    cached.write_bytes(cached.read_bytes()[:100])
    with pytest.warns(UserWarning, match="unreadable cache file"):
        assert torch.equal(mnist8x8(root=tmp_path, progress=False)[0], x)
    assert torch.equal(mnist8x8(root=tmp_path, progress=False)[0], x)


def test_read_only_data_folder_uses_the_user_cache(tmp_path, monkeypatch):
    _write_mnist(tmp_path, gz=False)
    mnist = tmp_path / "MNIST"
    mnist.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        x, _ = mnist8x8(root=tmp_path, progress=False)
        assert not (mnist / "innlab").exists()
        assert len(list((tmp_path / "user-cache").glob("mnist8x8-train-*.npz"))) == 1
        monkeypatch.setattr(images_module, "load_raw", _fail)
        assert torch.equal(mnist8x8(root=tmp_path, progress=False)[0], x)
    finally:
        mnist.chmod(0o755)


def test_root_from_environment_then_cwd(tmp_path, monkeypatch):
    images, _ = _write_mnist(tmp_path / "elsewhere", gz=True)
    monkeypatch.setenv("INNLAB_DATA", str(tmp_path / "elsewhere"))
    expected = torch.from_numpy(downsample_mnist(images)).float()
    assert torch.equal(mnist8x8(progress=False)[0], expected)
    monkeypatch.delenv("INNLAB_DATA")
    _write_mnist(tmp_path / "data", gz=True)
    monkeypatch.chdir(tmp_path)
    assert torch.equal(mnist8x8(progress=False)[0], expected)


def test_missing_files_name_the_expected_paths(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        mnist8x8(root=tmp_path, train=False, progress=False)
    message = str(info.value)
    assert str(tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte[.gz]") in message
    assert "t10k-labels-idx1-ubyte[.gz]" in message and "download=True" in message


def test_bad_mnist_arguments(tmp_path):
    with pytest.raises(TypeError, match="train"):
        mnist8x8(root=tmp_path, train="yes")
    with pytest.raises(TypeError, match="root"):
        mnist8x8(root=5)


# ------------------------------------------------------------------ downloads, without network


class _Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_download_checks_md5_and_tries_the_next_mirror(tmp_path, monkeypatch):
    images, labels = _fake_mnist(4, seed=5)
    payloads = {
        "train-images-idx3-ubyte": gzip.compress(idx_bytes(images)),
        "train-labels-idx1-ubyte": gzip.compress(idx_bytes(labels)),
    }
    md5s = {stem: hashlib.md5(data).hexdigest() for stem, data in payloads.items()}
    monkeypatch.setattr(mnist_raw, "RESOURCES", {**mnist_raw.RESOURCES, **md5s})
    urls = []

    def fake_urlopen(request, timeout):
        urls.append(request.full_url)
        if request.full_url.startswith(mnist_raw.MIRRORS[0]):
            raise urllib.error.URLError("mirror down")
        return _Response(payloads[request.full_url.rsplit("/", 1)[1].removesuffix(".gz")])

    monkeypatch.setattr(mnist_raw.urllib.request, "urlopen", fake_urlopen)
    x, y = mnist8x8(root=tmp_path, download=True, progress=False)
    assert torch.equal(x, torch.from_numpy(downsample_mnist(images)).float())
    assert torch.equal(y, torch.from_numpy(labels).long())
    assert len(urls) == 4 and (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file()

    monkeypatch.setattr(mnist_raw, "RESOURCES", {**mnist_raw.RESOURCES, **dict.fromkeys(md5s, "0")})
    with pytest.raises(RuntimeError, match="MD5 mismatch"):
        mnist8x8(root=tmp_path / "other", download=True, progress=False)


def test_download_through_torchvision_when_installed(tmp_path, monkeypatch):
    images, labels = _fake_mnist(3, seed=6)
    calls = []

    class FakeMNIST:
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            self.data, self.targets = torch.from_numpy(images), torch.from_numpy(labels).long()

    datasets = types.ModuleType("torchvision.datasets")
    datasets.MNIST = FakeMNIST
    monkeypatch.setitem(sys.modules, "torchvision", types.ModuleType("torchvision"))
    monkeypatch.setitem(sys.modules, "torchvision.datasets", datasets)
    x, y = mnist8x8(root=tmp_path, train=False, download=True, progress=False)
    assert calls == [(str(tmp_path), False, True)]
    assert torch.equal(x, torch.from_numpy(downsample_mnist(images)).float())
    assert torch.equal(y, torch.from_numpy(labels).long())
