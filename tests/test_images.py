"""rtlcnn.read_images: one loader for image files, pixels scaled by their real bit depth."""

from __future__ import annotations

import numpy as np
import pytest

import rtlcnn
from rtlcnn import InputError
from rtlcnn.board.images import array_images, read_png

Image = pytest.importorskip("PIL.Image")


@pytest.fixture
def gray(tmp_path):
    g = np.random.default_rng(0).integers(0, 256, (6, 5)).astype(np.uint8)
    Image.fromarray(g, "L").save(tmp_path / "g8.png")
    Image.fromarray(g.astype(np.uint16) * 257).save(tmp_path / "g16.png")  # mode I;16
    return g


def test_8_and_16_bit_pngs_of_one_picture_give_the_same_values(tmp_path, gray):
    a, b = read_png(tmp_path / "g8.png", 1), read_png(tmp_path / "g16.png", 1)
    assert np.array_equal(a, gray / np.float32(255)) and np.array_equal(a, b)
    assert b.dtype == np.float32 and b.max() <= 1.0


def test_every_png_mode_is_scaled_by_its_full_scale(tmp_path, gray):
    want = gray.astype(np.float32) / 255
    Image.fromarray(np.dstack([gray] * 3 + [np.full_like(gray, 9)]), "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(np.dstack([gray, np.full_like(gray, 9)]), "LA").save(tmp_path / "la.png")
    Image.fromarray(gray, "L").convert("P").save(tmp_path / "p.png")
    for name in ("rgba", "la", "p"):
        assert np.array_equal(read_png(tmp_path / f"{name}.png", 1), want), name
    Image.fromarray(gray > 127).save(tmp_path / "b1.png")  # 1-bit: 0 and 1
    assert set(np.unique(read_png(tmp_path / "b1.png", 1))) == {0.0, 1.0}
    rgb = read_png(tmp_path / "g16.png", 3)  # gray replicated for a 3-channel program
    assert rgb.shape == (6, 5, 3) and np.array_equal(rgb[..., 2], want)


def test_arrays_are_scaled_by_their_dtype():
    u16 = np.full((2, 1, 3, 3), 65535, np.uint16)
    assert array_images(u16, (1, 3, 3)).max() == 1.0
    assert array_images(np.full((3, 3), 255, np.uint8), (1, 3, 3)).shape == (1, 1, 3, 3)
    with pytest.raises(InputError, match="dtype int64 is not accepted"):
        array_images(np.zeros((1, 1, 3, 3), np.int64), (1, 3, 3))


def test_read_images_takes_a_program_and_names_bad_files(tmp_path, gray):
    prog = rtlcnn.models.load("digits")  # 1 x 8 x 8
    x = np.zeros((3, 8, 8), np.uint8)
    np.save(tmp_path / "x.npy", x)
    images, names = rtlcnn.read_images(tmp_path / "x.npy", prog)
    assert images.shape == (3, 1, 8, 8) and names == ["x.npy[0]", "x.npy[1]", "x.npy[2]"]
    with pytest.raises(InputError, match="g8.png is 5x6 pixels but the program expects 8x8"):
        rtlcnn.read_images([tmp_path / "g8.png"], prog)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(InputError, match="bad.png: not a readable PNG"):
        rtlcnn.read_images([tmp_path / "bad.png"], prog)


def test_rtlcnn_run_gives_the_same_answers_for_8_and_16_bit_pngs(tmp_path, mnist_dir, capsys):
    """lenet5_mnist on held-out MNIST digits saved both ways: same predictions (16-bit PNGs
    used to come out binary after Pillow's conversion: 99.3 % became 92.3 %)."""
    from rtlcnn.cli import main
    from rtlcnn.compile import datasets

    images, labels = datasets.load_mnist(mnist_dir)
    d8, d16 = tmp_path / "8", tmp_path / "16"
    d8.mkdir()
    d16.mkdir()
    for i in range(24):
        img = np.asarray(images[-1 - i]).reshape(28, 28)
        if img.dtype != np.uint8:
            img = np.rint(img * 255).astype(np.uint8)
        Image.fromarray(img, "L").save(d8 / f"{i:02d}.png")
        Image.fromarray(img.astype(np.uint16) * 257).save(d16 / f"{i:02d}.png")
    outs = []
    for d in (d8, d16):
        assert main(["run", "lenet5_mnist", str(d), "--board", "reference", "-q"]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] and outs[0].count("\n") == 24
