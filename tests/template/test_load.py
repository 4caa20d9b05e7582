"""Template loading: every bad file names the file, the layer or variable, and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.errors import TemplateError
from proxy.template.load import load_template
from proxy.template.model import ImageLayer, TextLayer
from proxy.template.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
GOOD = """
size = [400, 200]
background = "#112233"
[variables.name]
type = "text"
max_length = 20
default = "Ann"
[[layers]]
type = "text"
box = [10, 10, 380, 60]
text = "Hi {name}"
font = "Inter Bold"
size = 40
"""


def write(tmp_path: Path, body: str, name: str = "card") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(body)
    return path


def test_shipped_templates_load() -> None:
    registry = Registry(ROOT / "templates")
    assert {"social-card", "product-mockup-v2", "email-header"} <= set(registry.names())
    card = registry.get("social-card")
    assert card.size == (1200, 630)
    assert any(isinstance(layer, ImageLayer) and layer.mask == "circle" for layer in card.layers)


def test_good_template_parses(tmp_path: Path) -> None:
    t = load_template(write(tmp_path, GOOD))
    assert t.name == "card" and t.variables["name"].default == "Ann"
    assert isinstance(t.layers[0], TextLayer) and t.layers[0].size == 40


@pytest.mark.parametrize(("body", "where", "reason"), [
    (GOOD.replace('text = "Hi {name}"', 'text = "Hi {nmae}"'), "layers[0].text",
     "undefined variable {nmae}"),
    (GOOD.replace("box = [10, 10, 380, 60]", "box = [10, 10, 900, 60]"), "layers[0].box",
     "not inside"),
    (GOOD.replace('type = "text"\nbox', 'type = "blob"\nbox'), "layers[0].type",
     "unknown layer type"),
    (GOOD.replace('type = "text"\nmax_length', 'type = "txt"\nmax_length'), "variables.name.type",
     "unknown type"),
    (GOOD.replace('default = "Ann"', 'default = "' + "A" * 30 + '"'), "variables.name.default",
     "longer than 20"),
    (GOOD.replace('background = "#112233"', 'background = "#12345"'), "background",
     "not a colour"),
    (GOOD.replace("size = 40", "size = 40\nsizee = 3"), "layers[0].sizee", "unknown key"),
    (GOOD.replace("[variables.name]", "[variables.w]").replace("{name}", "{w}"), "variables.w",
     "reserved"),
    (GOOD + '[[layers]]\ntype = "image"\nbox = [0,0,10,10]\nsrc = "art/missing.png"\n',
     "layers[1].src", "file not found"),
    (GOOD + '[[layers]]\ntype = "image"\nbox = [0,0,10,10]\nsrc = "../../etc/passwd"\n',
     "layers[1].src", "outside the templates folder"),
    (GOOD + '[[layers]]\ntype = "rect"\nbox = [0,0,10,10]\nfill = "{name}"\nwhen = "nope"\n',
     "layers[1].when", "undefined variable"),
    ("size = [400, 200]\n[[layers]]\ntype = 'text'\n", "layers[0].box", "expected [x, y"),
    ("size = [400, 200\n", "card.toml", "invalid TOML"),
    (GOOD.replace("size = 40", "size = 40\nanchor = 'top'"), "layers[0].anchor",
     "is not one of fill"),
    (GOOD + '[variables.f]\ntype = "choice"\nchoices = ["cover", "tile"]\ndefault = "cover"\n'
     '[variables.img]\ntype = "image"\n'
     '[[layers]]\ntype = "image"\nbox = [0,0,10,10]\nsrc = "{img}"\nfit = "{f}"\n',
     "layers[1].fit", "choice 'tile' of {f} is not one of cover"),
    (GOOD + '[variables.img]\ntype = "image"\n[[layers]]\ntype = "image"\n'
     'box = [0,0,10,10]\nsrc = "{img}"\ngravity = "{name}"\n', "layers[1].gravity",
     "one {choice_variable}"),
    (GOOD + '[[layers]]\ntype = "qr"\nbox = [0,0,10,10]\nvalue = "x"\nerror = "Z"\n',
     "layers[1].error", "not one of L, M, Q, H"),
    (GOOD + '[[layers]]\ntype = "barcode"\nbox = [0,0,10,10]\nvalue = "x"\n'
     'symbology = "upc"\n', "layers[1].symbology", "not one of ean13, code128"),
    (GOOD.replace("size = [400, 200]", "size = [400, 200]\nfollow = 1"), "follow",
     "expected true or false"),
])
def test_bad_template_names_place_and_reason(tmp_path: Path, body: str, where: str,
                                             reason: str) -> None:
    with pytest.raises(TemplateError) as info:
        load_template(write(tmp_path, body))
    message = str(info.value)
    assert message.startswith("card.toml"), message
    assert where in message and reason in message, message


def test_unknown_font_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"card.toml: layers\[0\].font: font 'Comic Sans'"):
        load_template(write(tmp_path, GOOD.replace("Inter Bold", "Comic Sans")),
                      font_ok=lambda f: f.startswith("Inter"))


def test_version_changes_with_file_and_art(tmp_path: Path) -> None:
    art = tmp_path / "art"
    art.mkdir()
    (art / "a.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>')
    body = GOOD + '[[layers]]\ntype = "svg"\nbox = [0,0,10,10]\nsrc = "art/a.svg"\n'
    v1 = load_template(write(tmp_path, body)).version
    assert load_template(write(tmp_path, body)).version == v1
    (art / "a.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="5" height="5"/>')
    v2 = load_template(write(tmp_path, body)).version
    assert v2 != v1
    assert load_template(write(tmp_path, body + "\n# edit\n")).version != v2


def test_registry_reloads_changed_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    registry = Registry(tmp_path, reload=True, poll_s=0)
    v1 = registry.get("card").version
    path.write_text(GOOD.replace("size = 40", "size = 44"))
    assert registry.get("card").version != v1
    # a broken edit keeps serving the last good version and records the error
    path.write_text("size = [")
    assert registry.get("card").version != v1
    assert "card" in registry.errors


def test_templates_with_gradients_got_a_new_version_when_angles_became_css(
        tmp_path: Path) -> None:
    import hashlib

    from proxy.template.load import DRAWING_EPOCH

    def without_marker(body: bytes) -> str:
        return hashlib.sha256(body + DRAWING_EPOCH).hexdigest()[:16]

    plain = write(tmp_path, GOOD, "plain")
    assert load_template(plain).version == without_marker(plain.read_bytes())
    body = GOOD + ('[[layers]]\ntype = "rect"\nbox = [0, 0, 10, 10]\n'
                   'gradient = { angle = 135, stops = [[0, "#000"], [1, "#fff"]] }\n')
    graded = write(tmp_path, body, "graded")
    # the same file draws differently since the change: its version is not the old one
    assert load_template(graded).version != without_marker(body.encode())


def test_every_version_changed_with_the_script_fonts(tmp_path: Path) -> None:
    import hashlib

    # Korean names drew tofu before the fonts shipped: a version made from the file alone
    # would let the disk cache serve those images after the upgrade
    plain = write(tmp_path, GOOD, "plain")
    assert load_template(plain).version != hashlib.sha256(plain.read_bytes()).hexdigest()[:16]
