"""Kept resize pipelines give the pixels of a fresh resize, image after image."""

from __future__ import annotations

import pyvips

from proxy.render.resizer import MAX_PIPELINES, MAX_SOURCE_PIXELS, Resizers


def _photo(width: int, height: int, seed: int, bands: int = 3) -> pyvips.Image:
    noise = pyvips.Image.gaussnoise(width, height, sigma=40, mean=128, seed=seed)
    image = noise.bandjoin([noise.rot180().resize(1, vscale=1), noise.flip("horizontal")])
    image = image.cast("uchar")
    return (image.copy(interpretation="srgb") if bands == 3
            else image[0].copy(interpretation="b-w"))


def _jpeg(width: int, height: int, seed: int) -> bytes:
    return bytes(_photo(width, height, seed).jpegsave_buffer(Q=90))


def test_each_new_image_gives_the_pixels_of_its_own_resize() -> None:
    kept = Resizers()
    for seed in range(4):   # the same pipeline, fed a new avatar each time
        data = _jpeg(400, 400, seed)
        fresh = pyvips.Image.new_from_buffer(data, "", access="sequential").resize(
            220 / 400, vscale=220 / 400)
        ours = kept.resize(pyvips.Image.new_from_buffer(data, "", access="sequential"),
                           220, 220)
        assert ours is not None
        assert (ours.width, ours.height, ours.bands) == (220, 220, 3)
        assert ours.interpretation == "srgb"
        assert ours.write_to_memory() == fresh.write_to_memory(), seed


def test_grey_and_odd_sizes_match_a_fresh_resize() -> None:
    kept = Resizers()
    for width, height, box in ((333, 200, (97, 58)), (64, 64, (100, 100)), (501, 377, (250, 188))):
        for bands in (1, 3):
            source = _photo(width, height, width + bands, bands)
            fresh = source.resize(box[0] / width, vscale=box[1] / height)
            ours = kept.resize(source, *box)
            if (fresh.width, fresh.height) != box:
                assert ours is None           # resize rounds this size off: not this path
                continue
            assert ours is not None
            assert ours.write_to_memory() == fresh.write_to_memory(), (width, height, bands)


def test_what_may_not_take_the_path_is_refused_and_pipelines_are_bounded() -> None:
    kept = Resizers()
    rgba = _photo(40, 40, 1).bandjoin(255)
    assert kept.resize(rgba, 20, 20) is None                          # alpha
    assert kept.resize(_photo(40, 40, 1).cast("ushort"), 20, 20) is None  # 16-bit
    side = int(MAX_SOURCE_PIXELS ** 0.5) + 1
    assert kept.resize(pyvips.Image.black(side, side, bands=3).cast("uchar").copy(
        interpretation="srgb"), 20, 20) is None                       # too large to keep
    for k in range(MAX_PIPELINES + 3):
        assert kept.resize(_photo(30 + k, 30, k), 15, 15) is not None
    assert len(kept._kept) == MAX_PIPELINES
