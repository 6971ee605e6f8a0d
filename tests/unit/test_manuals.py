"""The Chinese user manuals (docs/manuals/*.md) stay in step with the code:

- every picture a manual shows exists, and is one the browser tour (tests/browser/test_manual_screenshots.py)
  takes — so ``make manuals`` regenerates every one of them — and the tour takes no picture no manual shows;
- the pictures are small (at most 1280×800, under 3 MB together);
- every link to docs/rules.md lands on an anchor that exists there (the /help renderer's anchors);
- every other relative link points to a file of the repository;
- every **bold** phrase — the manuals bold exactly the words the screen shows: buttons, labels, choices — is a
  Chinese word of the map's dictionaries (map_ui/static/js/i18n.js and i18n/*.js), so a renamed button shows
  up here as a stale manual.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MANUALS = ROOT / "docs" / "manuals"
IMG = MANUALS / "img"
TOUR = ROOT / "tests" / "browser" / "test_manual_screenshots.py"
RULES = ROOT / "docs" / "rules.md"
ROLES = {"officer": "地名工作人员操作手册", "patrol": "界线巡查人员操作手册", "planner": "规划人员操作手册",
         "admin": "管理员操作手册"}

IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
BOLD = re.compile(r"\*\*([^*]+)\*\*")


def _manuals() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(MANUALS.glob("*.md"))}


def _tour_shots() -> list[str]:
    """The names the tour passes to ``shot(...)``, read from its source (no browser needed)."""
    tree = ast.parse(TOUR.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "shot"
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names.append(node.args[0].value)
    return names


def _images(text: str) -> list[str]:
    return [m for m in IMAGE.findall(text) if not m.startswith(("http:", "https:"))]


def test_one_manual_per_role_in_chinese() -> None:
    manuals = _manuals()
    assert set(manuals) == set(ROLES)
    for role, title in ROLES.items():
        assert manuals[role].splitlines()[0] == f"# {title}"


def test_every_picture_exists_and_is_taken_by_the_tour() -> None:
    shots = _tour_shots()
    assert len(shots) == len(set(shots)), "the tour takes a picture twice under one name"
    shown: set[str] = set()
    for role, text in _manuals().items():
        for ref in _images(text):
            assert ref.startswith("img/") and ref.endswith(".png"), f"{role}.md: {ref} is not img/<name>.png"
            name = ref[len("img/"):-len(".png")]
            assert name.startswith(f"{role}-"), f"{role}.md shows {ref}, a picture of another role"
            assert (MANUALS / ref).is_file(), f"{role}.md: {ref} does not exist (run make manuals)"
            assert name in shots, f"{role}.md: {ref} is not taken by the tour, so make manuals would not renew it"
            shown.add(name)
    assert set(shots) - shown == set(), f"the tour takes pictures no manual shows: {sorted(set(shots) - shown)}"
    on_disk = {p.stem for p in IMG.glob("*")}
    assert on_disk == set(shots), f"stale or missing files in docs/manuals/img: {sorted(on_disk ^ set(shots))}"


def test_pictures_are_small() -> None:
    from PIL import Image

    total = 0
    for path in sorted(IMG.glob("*.png")):
        with Image.open(path) as img:
            assert img.format == "PNG"
            assert img.width <= 1280 and img.height <= 800, (path.name, img.size)
        total += path.stat().st_size
    assert 0 < total < 3 * 1024 * 1024, total


def _rule_anchors() -> frozenset[str]:
    from gis_api.help.render import render_text

    return render_text(RULES.read_text(encoding="utf-8"), rules=True).anchors


def test_rule_links_land_on_an_entry_of_rules_md() -> None:
    links = [(role, link) for role, text in _manuals().items() for link in LINK.findall(text)
             if link.split("#")[0] == "../rules.md"]
    assert links, "the manuals cite no rule"
    anchors = _rule_anchors()
    for role, link in links:
        _, _, fragment = link.partition("#")
        if fragment:
            assert fragment in anchors, f"{role}.md links to {link}, but rules.md has no anchor #{fragment}"


def test_other_relative_links_point_to_files() -> None:
    for role, text in _manuals().items():
        for link in LINK.findall(text):
            if link.startswith(("http:", "https:", "#", "mailto:")):
                continue
            path = link.split("#")[0]
            assert (MANUALS / path).resolve().is_file(), f"{role}.md links to {link}, which does not exist"


def _ui_words() -> list[str]:
    """Every string of the Chinese half of the map's dictionaries."""
    js = ROOT / "map_ui" / "static" / "js"
    words: list[str] = []
    for path in [js / "i18n.js", *sorted((js / "i18n").glob("*.js"))]:
        source = path.read_text(encoding="utf-8")
        zh = re.search(r"\bzh: \{(.*?)\n  \},?\n  en:", source, re.S)
        assert zh, f"{path.name}: no zh block found"
        words += re.findall(r'"((?:[^"\\]|\\.)*)"', zh.group(1))
    return words


def test_bold_words_are_words_of_the_screen() -> None:
    words = _ui_words()
    missing = {role: [b for b in BOLD.findall(text) if not any(b in w for w in words)]
               for role, text in _manuals().items()}
    assert not any(missing.values()), f"bold words the interface does not show (renamed?): {missing}"
