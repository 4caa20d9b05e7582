"""proxy/check.py and `picstream check`: validation, worst-case fitting, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.check import check_all, check_files, check_template
from proxy.cli import main
from proxy.template.load import load_template
from proxy.template.registry import Registry
from tests.conftest import ROOT

SHIPPED = ROOT / "templates"

NARROW = """
size = [400, 100]
background = "#ffffff"

[variables.name]
type = "text"
max_length = 40
default = "Ann"

[[layers]]
type = "text"
box = [10, 10, 200, 40]
text = "{name}"
font = "Inter Bold"
size = 32
min_size = 16
max_lines = 1
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def test_box_too_small_for_max_length_is_a_warning_with_layer_and_size(tmp_path: Path) -> None:
    report = check_template(load_template(_write(tmp_path, "narrow", NARROW)))
    assert report.ok
    warnings = [p for p in report.problems if p.severity == "warning"]
    wide = next(p for p in warnings if 'of "W"' in p.message)
    assert wide.where == "narrow.toml: layers[0]"
    assert wide.message.startswith('"name" at max_length 40 of "W" is cut at 16px (')
    assert "max_lines 1" in wide.message
    assert any(n.case == "defaults" and n.size == 32 and not n.cut for n in report.fits)


def test_quick_check_renders_only_the_defaults(tmp_path: Path) -> None:
    report = check_template(load_template(_write(tmp_path, "narrow", NARROW)), quick=True)
    assert report.renders == 1 and report.problems == []


def test_missing_font_is_an_error_per_file(tmp_path: Path) -> None:
    _write(tmp_path, "bad-font", NARROW.replace('"Inter Bold"', '"Comic Sans MS"'))
    _write(tmp_path, "good", NARROW)
    bad, good = check_files(sorted(tmp_path.glob("*.toml")))
    assert [(p.severity, p.where) for p in bad.problems] == [
        ("error", "bad-font.toml: layers[0].font")]
    assert good.ok


def test_missing_font_is_an_error_even_when_loaded_without_a_font_check(tmp_path: Path) -> None:
    template = load_template(_write(tmp_path, "bad-font",
                                    NARROW.replace('"Inter Bold"', '"Comic Sans MS"')))
    report = check_template(template, quick=True)
    assert not report.ok and report.renders == 0
    assert report.problems[0].where == "bad-font.toml: layers[0].font"


def test_undefined_variable_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "undefined", NARROW.replace('"{name}"', '"{nickname}"'))
    (report,) = check_files([tmp_path / "undefined.toml"])
    assert not report.ok
    assert "undefined variable {nickname}" in report.problems[0].message
    assert report.problems[0].where == "undefined.toml: layers[0].text"


def test_unused_variable_is_a_warning(tmp_path: Path) -> None:
    text = NARROW + '\n[variables.spare]\ntype = "text"\ndefault = "x"\n'
    report = check_template(load_template(_write(tmp_path, "spare", text)), quick=True)
    assert report.ok
    assert [(p.severity, p.where) for p in report.problems] == [
        ("warning", "spare.toml: variables.spare")]


def test_choice_that_is_not_a_colour_is_an_error(tmp_path: Path) -> None:
    text = NARROW.replace('background = "#ffffff"', 'background = "{tone}"') + (
        '\n[variables.tone]\ntype = "choice"\nchoices = ["#ffffff", "blue-ish"]\n'
        'default = "#ffffff"\n')
    report = check_template(load_template(_write(tmp_path, "tone", text)), quick=True)
    assert [p.message for p in report.problems if p.severity == "error"] == [
        "choice 'blue-ish' of {tone} is not a colour"]


def test_shipped_templates_pass_with_pictures(tmp_path: Path) -> None:
    reports = check_files(sorted(SHIPPED.glob("*.toml")), out_dir=tmp_path)
    assert len(reports) >= 3
    for report in reports:
        assert report.ok, [str(p) for p in report.problems]
        assert report.pictures and all(p.stat().st_size > 0 for p in report.pictures)
    assert (tmp_path / "social-card-wide.png").is_file()


def test_startup_check_of_the_registry_is_clean() -> None:
    assert [p for p in check_all(Registry(SHIPPED), quick=True) if p.severity == "error"] == []


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    _write(folder, "narrow", NARROW)
    assert main(["check", "--templates-dir", str(folder)]) == 0
    assert main(["check", "--templates-dir", str(folder), "--strict"]) == 1
    out = tmp_path / "out"
    assert main(["check", "--templates-dir", str(folder), "--quick", "--out", str(out)]) == 0
    assert (out / "narrow-defaults.png").is_file()
    _write(folder, "broken", NARROW.replace('"{name}"', '"{nickname}"'))
    assert main(["check", "--templates-dir", str(folder)]) == 1
    assert main(["check", str(folder / "narrow.toml")]) == 0
    printed = capsys.readouterr().out
    assert "broken.toml: error" in printed
    assert "error: broken.toml: layers[0].text: references undefined variable {nickname}" in printed


GROUPED = """
size = [600, 200]
background = "#ffffff"

[variables.name]
type = "text"
max_length = 60
default = "Ann"

[variables.badge]
type = "text"
max_length = 10
optional = true

[[layers]]
type = "group"
box = [20, 20, 300, 160]
direction = "column"

[[layers.children]]
type = "text"
text = "{badge}"
when = "badge"
size = 20

[[layers.children]]
type = "text"
text = "{name}"
font = "Inter Bold"
size = 40
min_size = 20
max_lines = 1
"""


def test_text_cut_inside_a_group_is_a_warning_naming_the_child(tmp_path: Path) -> None:
    # Cut text in a group was not reported at all: the note named the group, not a text layer.
    report = check_template(load_template(_write(tmp_path, "grouped", GROUPED)))
    assert report.ok
    cut = [p for p in report.problems if p.severity == "warning" and "is cut" in p.message]
    assert cut, report.problems
    # with the badge hidden the name is the group's first drawn child, else its second
    assert {p.where for p in cut} <= {"grouped.toml: layers[0].children[0]",
                                      "grouped.toml: layers[0].children[1]"}
    assert all(p.message.startswith('"name" at max_length 60') for p in cut)
    assert all("max_lines 1 in the room the group gives it" in p.message for p in cut)
