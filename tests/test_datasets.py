"""rtlcnn.datasets: IDX reading (gz or raw, any folder), the project's MNIST split, digits."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from rtlcnn.compile import datasets


def _write_idx(path, array, ndim, gz):
    header = (0x800 + ndim).to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def _fake_mnist(folder, n_test=10000, n_train=0, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for prefix, n in (("t10k", n_test), ("train", n_train)):
        if not n:
            continue
        imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", imgs, 3, gz)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, 1, gz)
        out[prefix] = (imgs, labels)
    return out


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_any_folder_gz_or_raw(tmp_path, gz):
    made = _fake_mnist(tmp_path / "m", n_test=10000, gz=gz)
    images, labels = datasets.load_mnist(tmp_path / "m")
    assert images.dtype == np.uint8 and images.shape == (10000, 28, 28)
    np.testing.assert_array_equal(images, made["t10k"][0])
    np.testing.assert_array_equal(labels, made["t10k"][1])


def test_train_files_follow_t10k_and_join_training_split(tmp_path):
    made = _fake_mnist(tmp_path, n_test=10000, n_train=50, gz=False)
    images, labels = datasets.load_mnist(tmp_path)
    assert len(images) == 10050
    np.testing.assert_array_equal(images[10000:], made["train"][0])
    s = datasets.mnist_splits(tmp_path)
    assert s.train_images.shape == (8050, 1, 28, 28) and s.heldout_images.shape == (2000, 1, 28, 28)
    np.testing.assert_array_equal(s.heldout_labels, made["t10k"][1][8000:])
    assert len(datasets.mnist_splits(tmp_path, train_split=False).train_labels) == 8000


def test_env_var_sets_default_folder(tmp_path, monkeypatch):
    _fake_mnist(tmp_path, n_test=10000)
    monkeypatch.setenv("RTLCNN_MNIST_DIR", str(tmp_path))
    assert datasets.mnist_dir() == tmp_path
    assert datasets.load_mnist()[0].shape == (10000, 28, 28)


def test_missing_folder_names_folder_and_files(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        datasets.load_mnist(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(e.value) and "t10k-images-idx3-ubyte" in str(e.value)
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        datasets.load_mnist(tmp_path)


def test_half_pair_and_bad_magic_are_reported(tmp_path):
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28)), 3, gz=False)
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        datasets.load_mnist(tmp_path)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros((3, 28, 28)), 3, gz=False)
    with pytest.raises(ValueError, match="magic"):
        datasets.load_mnist(tmp_path)


def test_real_mnist_split(mnist_dir):
    s = datasets.mnist_splits(mnist_dir)
    assert s.train_images.shape == (8000, 1, 28, 28) and s.train_images.dtype == np.float32
    assert s.heldout_images.shape == (2000, 1, 28, 28)
    assert 0.0 <= s.train_images.min() and s.train_images.max() == 1.0
    images, labels = datasets.load_mnist(mnist_dir)
    np.testing.assert_array_equal(
        np.bincount(labels[:10000]), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )
    np.testing.assert_array_equal(s.heldout_images[:, 0], images[8000:10000] / np.float32(255))


def test_digits_split_is_fixed():
    s = datasets.load_digits()
    assert s.train_images.shape == (1437, 1, 8, 8) and s.heldout_images.shape == (360, 1, 8, 8)
    assert s.train_images.dtype == np.float32 and s.train_images.min() == 0.0 and s.train_images.max() == 1.0
    from sklearn.datasets import load_digits

    ref = load_digits()
    np.testing.assert_array_equal(s.heldout_labels, ref.target[-360:])
    np.testing.assert_array_equal(s.heldout_images[:, 0] * 16, ref.images[-360:])
