"""The render pipeline's memoisation never changes a pixel."""

from __future__ import annotations

from pathlib import Path

import proxy.render  # noqa: F401  (fonts are set up before any text renders)
from proxy.render import RenderJob, RenderMemo, render
from proxy.render.pipeline import HOT_AFTER
from proxy.spec import OutputOptions
from proxy.template.registry import Registry
from proxy.template.values import coerce

ROOT = Path(__file__).resolve().parents[2]


def card(memo: RenderMemo, name: str, fmt: str = "png") -> bytes:
    template = Registry(ROOT / "templates").get("social-card")
    values = coerce(template, {"name": name, "title": "Same title every time", "badge": "Hi"})
    return render(RenderJob(template=template, values=values,
                            output=OutputOptions(format=fmt)), memo).data


def test_warm_memo_renders_the_same_bytes_as_a_cold_one() -> None:
    memo = RenderMemo()
    for i in range(HOT_AFTER + 2):  # the title and badge become part of the base canvas
        card(memo, f"Warm {i}")
    assert card(memo, "Target") == card(RenderMemo(), "Target")
    assert card(memo, "Target", "jpeg") == card(RenderMemo(), "Target", "jpeg")


def test_memo_hits_and_bound() -> None:
    memo = RenderMemo(max_bytes=50_000_000)
    card(memo, "One")
    card(memo, "Uno")       # the title and badge come back: kept from their second render
    misses = memo.misses
    card(memo, "Two")
    # only the new name was drawn: its place in the flowed group and the group's layout (its
    # text, new to the layer, is drawn without the memo)
    assert memo.misses == misses + 2
    assert memo.hits > 0


def test_a_value_new_to_its_layer_is_drawn_and_kept_once_it_comes_back() -> None:
    # One person's name and avatar come once in a batch: kept in the memo, each pushed an
    # older patch out (a shrinking name's card spent 0.15 ms a render freeing them). A value
    # that comes back in the layer's window is kept from its second render on.
    memo = MakeLog()
    name = "Maximilian Konstantinopoulou-Wolfeschlegel"

    def drawn() -> list[object]:
        return [key for key in memo.made if key[0] == "layer" and name in repr(key)]

    card(memo, "One")
    first = card(memo, name)
    assert drawn() == []
    second = card(memo, name)
    assert len(drawn()) == 1
    third = card(memo, name)
    assert len(drawn()) == 1                        # a memo hit
    assert first == second == third == card(RenderMemo(), name)


def test_tiny_and_stretched_outputs_have_the_exact_size() -> None:
    template = Registry(ROOT / "templates").get("social-card")
    # found by fuzzing: at w=50 text was laid out below a pixel and cairo refused it (a 500)
    values = coerce(template, {
        "name": "&", "title": "WW\u2028{\ufdfa>{\u202e\u0301<",
        "badge": "{\u0639\x7f\t\U0001d54f{\\<\ufdfaa\x00 }\U0001f469\u200d\U0001f469\u200d"
                 "\U0001f467\u202e\x7faW'<}\U0001d54f\U0001d54f+"})
    for width, height in ((50, 400), (16, None), (1, 1), (1200, 31), (37, 913)):
        rendered = render(RenderJob(template=template, values=values,
                                    output=OutputOptions(format="png", width=width,
                                                         height=height)), RenderMemo())
        expected_h = height or max(1, round(630 * width / 1200))
        assert (rendered.width, rendered.height) == (width, expected_h)
        import pyvips

        image = pyvips.Image.new_from_buffer(rendered.data, "")
        assert (image.width, image.height) == (width, expected_h)


def test_animated_source_draws_its_first_frame() -> None:
    import pyvips

    from proxy.config import Sources
    from proxy.sources.sniff import check_image
    from proxy.template.load import load_template

    frames = [(pyvips.Image.black(40, 40, bands=3) + colour).cast("uchar")
              for colour in ([220, 20, 20], [20, 220, 20], [20, 20, 220])]
    strip = pyvips.Image.arrayjoin(frames, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", 40)
    gif = bytes(strip.gifsave_buffer())
    limits = Sources()
    # the default frame limit admits a short animation; its first frame is what is drawn
    assert check_image(gif, allowed={"gif"}, max_pixels=limits.max_pixels,
                       max_frames=limits.max_frames) == "gif"
    template = load_template(ROOT / "tests" / "fixtures" / "templates" / "photo.toml")
    url = "https://images.example/animated.gif"
    values = coerce(template, {"photo": url})
    rendered = render(RenderJob(template=template, values=values, images={url: gif},
                                output=OutputOptions(format="png")), RenderMemo())
    pixel = pyvips.Image.new_from_buffer(rendered.data, "")(100, 150)
    assert pixel[0] > 180 and pixel[1] < 60 and pixel[2] < 60


def test_thin_source_as_a_cover_avatar_at_dpr_4_costs_about_a_normal_avatar() -> None:
    # issue #13: a 1 x 2000 PNG covering a 220 px box at dpr 4 was resized to 880 x 1,760,000
    # before the crop (10 s of CPU, 74 s on a loaded machine); the crop window is now taken
    # first. CPU time of this process, not wall time: other jobs on the machine do not count.
    import time

    import pyvips

    template = Registry(ROOT / "templates").get("social-card")
    memo = RenderMemo()
    # the background and the layers but the avatar are drawn once, outside the measured renders
    render(RenderJob(template=template, values=coerce(template, {"name": "Warm"}),
                     output=OutputOptions(format="jpeg", dpr=4)), memo)
    for width, height in ((1, 2000), (2000, 1)):
        thin = (pyvips.Image.black(width, height) + [200, 30, 30]).cast("uchar")
        png = bytes(thin.copy(interpretation="srgb").pngsave_buffer())
        url = "https://images.example/thin.png"
        values = coerce(template, {"name": "Warm", "avatar": url})
        cpu_s = time.process_time()
        rendered = render(RenderJob(template=template, values=values, images={url: png},
                                    output=OutputOptions(format="jpeg", dpr=4)), memo)
        assert time.process_time() - cpu_s < 2.0     # measured about 0.1 s
        image = pyvips.Image.new_from_buffer(rendered.data, "")
        assert (image.width, image.height) == (4800, 2520)
        # the avatar's centre (box 80,150 220x220 at dpr 4) is the source's colour
        red, green, _ = image(4 * 190, 4 * 260)
        assert red > 150 and green < 80


def test_a_stretch_far_from_the_aspect_draws_within_the_output_limits(tmp_path: Path) -> None:
    # Found by tests/render/test_fuzz.py: a 1x403 canvas asked as 408x1007 at dpr 2.39 was
    # drawn at the width's scale, 975 x 392,925 px, for 25 s. Now drawn at the height's.
    import time

    import pyvips

    from proxy.template.load import load_template

    path = tmp_path / "thin.toml"
    path.write_text('size = [1, 403]\nbackground = "#ff000080"\n[[layers]]\ntype = "rect"\n'
                    'box = [0, 0, 1, 200]\nfill = "#0000ff"\n')
    template = load_template(path)
    started = time.monotonic()
    rendered = render(RenderJob(template=template, values=coerce(template, {}),
                                output=OutputOptions(format="png", width=408, height=1007,
                                                     dpr=2.390258928944675)), RenderMemo())
    assert time.monotonic() - started < 2
    image = pyvips.Image.new_from_buffer(rendered.data, "")
    assert (image.width, image.height) == (975, 2407)
    assert image(500, 100)[2] > 200 and image(500, 2300)[0] > 200   # blue top, red bottom


class CountingMemo(RenderMemo):
    """A memo that counts how often a base canvas had to be drawn."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(max_bytes)
        self.canvases = 0

    def get_or_make(self, key, make, nbytes):  # type: ignore[no-untyped-def, override]
        if key[0] != "canvas":
            return super().get_or_make(key, make, nbytes)

        def counted():  # type: ignore[no-untyped-def]
            self.canvases += 1
            return make()

        return super().get_or_make(key, counted, nbytes)


def test_titles_that_merely_come_back_do_not_churn_the_base_canvas() -> None:
    # The real workload: 10,000 rows over a few dozen titles. Counting returns made every
    # title "hot", each its own 1200x630 base canvas; they evicted one another from the memo
    # and most renders drew the whole base again (cards/s fell by half as the memo filled).
    template = Registry(ROOT / "templates").get("social-card")
    memo = CountingMemo(max_bytes=16 * 1024 * 1024)
    titles = [f"Title number {k} at a company" for k in range(12)]
    for i in range(240):
        values = coerce(template, {"name": f"Person {i}", "title": titles[i % len(titles)]})
        render(RenderJob(template=template, values=values,
                         output=OutputOptions(format="jpeg")), memo)
    assert memo.canvases <= 2


def test_a_title_shared_by_the_whole_batch_joins_the_base_and_keeps_the_pixels() -> None:
    template = Registry(ROOT / "templates").get("social-card")
    memo = CountingMemo(max_bytes=64 * 1024 * 1024)
    for i in range(40):
        values = coerce(template, {"name": f"Person {i}", "title": "The one title"})
        render(RenderJob(template=template, values=values, output=OutputOptions(format="png")),
               memo)
    before = memo.canvases
    values = coerce(template, {"name": "Target", "title": "The one title"})
    warm = render(RenderJob(template=template, values=values,
                            output=OutputOptions(format="png")), memo).data
    # the pinned base, the base with the repeating layers, then with the title too
    assert memo.canvases == before == 3
    assert warm == render(RenderJob(template=template, values=values,
                                    output=OutputOptions(format="png")), RenderMemo()).data


class MakeLog(RenderMemo):
    """A memo that notes the key of everything it had to make."""

    def __init__(self) -> None:
        super().__init__()
        self.made: list[object] = []

    def get_or_make(self, key, make, nbytes):  # type: ignore[no-untyped-def, override]
        def noted():  # type: ignore[no-untyped-def]
            self.made.append(key)
            return make()

        return super().get_or_make(key, noted, nbytes)


def test_a_title_below_names_of_different_sizes_is_laid_out_and_prepared_once() -> None:
    # The flow moves the title up when the name shrinks: the same text, in another place.
    # It was laid out again for every height the name left, and its planes made again for
    # every place (most real-workload titles were drawn twice or more).
    template = Registry(ROOT / "templates").get("social-card")
    memo = MakeLog()
    title = "Head of design at the city library"
    for name in ("Ann Lee", "Maximilian Konstantinopoulou-Wolfeschlegel", "Bo Wu",
                 "Bartholomew Abernathy-Castellano"):
        values = coerce(template, {"name": name, "title": title})
        render(RenderJob(template=template, values=values,
                         output=OutputOptions(format="jpeg")), memo)
    texts = [key for key in memo.made if key[0] == "group-text" and key[1].text == title]
    placed = [key for key in memo.made if key[0] == "layer" and isinstance(key[4], tuple)
              and key[4][1].text == title]
    assert len(texts) == 1
    assert len(placed) == 1


def test_a_title_moved_to_a_new_place_each_render_is_kept_once_it_comes_back() -> None:
    # Names of four sizes put the title at four heights: new in each place, but the same
    # patch (kept without its place). Counted by place it was new every render and its
    # planes were made again each time instead of coming from the memo.
    template = Registry(ROOT / "templates").get("social-card")
    memo = MakeLog()
    title = "Head of design at the city library"
    names = ("Ann Lee", "Christopher Venkataraghavan", "Wilhelmina Elizabeth Smith",
             "Alexandra Konstantinopoulou 00042")
    sizes = set()
    for name in names:
        values = coerce(template, {"name": name, "title": title})
        fits = render(RenderJob(template=template, values=values,
                                output=OutputOptions(format="jpeg")), memo).fits
        sizes.add(next(fit.size for fit in fits if fit.part == ".children[0]"))
    assert len(sizes) == len(names)
    placed = [key for key in memo.made if key[0] == "layer" and isinstance(key[4], tuple)
              and key[4][1].text == title]
    assert len(placed) == 1      # drawn in the first place, kept from the second on


def test_renders_on_many_threads_sharing_a_memo_keep_their_own_canvas() -> None:
    # Each thread blends into its own reused canvas buffer (RenderMemo.canvas): renders on
    # four threads at once give the bytes of a render alone.
    from concurrent.futures import ThreadPoolExecutor

    memo = RenderMemo()
    names = [f"Thread Person {i}" for i in range(16)]
    with ThreadPoolExecutor(4) as pool:
        shared = list(pool.map(lambda name: card(memo, name, "jpeg"), names))
    for name, data in zip(names, shared, strict=True):
        assert data == card(RenderMemo(), name, "jpeg")


def test_a_reused_canvas_keeps_nothing_of_the_render_before() -> None:
    # The thread's canvas buffer puts back only what the last render blended: a short name
    # after a long one, and a base changed in between (another accent), leave no trace.
    template = Registry(ROOT / "templates").get("social-card")

    def render_one(memo: RenderMemo, name: str, accent: str) -> bytes:
        values = coerce(template, {"name": name, "title": f"Title for {name}",
                                   "accent": accent})
        return render(RenderJob(template=template, values=values,
                                output=OutputOptions(format="png")), memo).data

    memo = RenderMemo()
    steps = [("A much longer name than the next", "#38bdf8"), ("Al", "#38bdf8"),
             ("Bea Long-Surname-Here", "#ff0000"), ("Cy", "#38bdf8"), ("Di", "#38bdf8")]
    for name, accent in steps:
        assert render_one(memo, name, accent) == render_one(RenderMemo(), name, accent), name


def test_avatars_on_many_threads_sharing_a_memo_each_get_their_own_pixels() -> None:
    # Each thread keeps its own resize pipeline (resizer.py) and canvas buffer: unique JPEG
    # avatars rendered on four threads at once give the bytes of each card rendered alone.
    from concurrent.futures import ThreadPoolExecutor

    import pyvips

    template = Registry(ROOT / "templates").get("social-card")

    def photo(seed: int) -> bytes:
        noise = pyvips.Image.gaussnoise(400, 400, sigma=50, mean=128, seed=seed)
        rgb = noise.bandjoin([noise.flip("horizontal"), noise.flip("vertical")]).cast("uchar")
        return bytes(rgb.copy(interpretation="srgb").jpegsave_buffer(Q=85))

    avatars = {f"https://avatars.example/{i}.jpg": photo(i) for i in range(12)}

    def one(memo: RenderMemo, url: str) -> bytes:
        values = coerce(template, {"name": f"Person {url[-6:]}", "avatar": url})
        return render(RenderJob(template=template, values=values,
                                output=OutputOptions(format="png"),
                                images={url: avatars[url]}), memo).data

    memo = RenderMemo()
    with ThreadPoolExecutor(4) as pool:
        shared = list(pool.map(lambda url: one(memo, url), list(avatars) * 2))
    alone = {url: one(RenderMemo(), url) for url in avatars}
    for url, data in zip(list(avatars) * 2, shared, strict=True):
        assert data == alone[url], url
