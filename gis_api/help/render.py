"""Markdown of docs/ rendered to HTML pages for /help (markdown-it-py, CommonMark + tables, raw HTML off).

Raw HTML in a document is shown as text, never interpreted, and the page loads nothing but /help/help.css, so
the pages live under the app's CSP unchanged. Headings get ids (links like ``rules.md#t1`` work); in
docs/rules.md every level-3 heading is a rule ID and its id is ``rule_anchor(ID)`` — the fragment the error
bodies' ``rule_url`` points to — and every ID in the first column of a table there gets an anchor too.
"""

from __future__ import annotations

import html
import posixpath
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from gis_api.help.anchors import rule_anchor

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
MANUALS = DOCS / "manuals"
MANUAL_IMAGES = MANUALS / "img"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
# Marker comments of the generated parts (scripts/docs/*): for the tools, not for the reader.
_MARKER = re.compile(r"^<!-- [a-z0-9 :_-]+ -->\n?", re.MULTILINE)
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:|^//|^#|^/", re.IGNORECASE)


@dataclass(frozen=True)
class Page:
    title: str
    body: str  # HTML of the document
    anchors: frozenset[str]


def _parser() -> MarkdownIt:
    # "commonmark" has html on by default; switch it off: a document's HTML is shown as text.
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def _text(inline: Token) -> str:
    return "".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline"))


def heading_slug(text: str) -> str:
    """GitHub's heading anchors (Chinese kept): lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _span(anchor: str) -> Token:
    tok = Token("html_inline", "", 0)
    tok.content = f'<span id="{html.escape(anchor)}"></span>'
    return tok


def _link(href: str, where: str) -> str:
    """A link of the document at repository path ``where`` (``docs/api.md``) as a /help URL: ``rules.md#t1`` →
    ``/help/rules#t1``, ``../README.md`` → ``/help/readme``, ``img/x.png`` of a manual → ``/help/manuals/img/x.png``;
    other targets (web addresses, anchors, files that are not served) unchanged."""
    if _EXTERNAL.match(href):
        return href
    path, sep, frag = href.partition("#")
    target = posixpath.normpath(posixpath.join(posixpath.dirname(where), path))
    if target == "README.md":
        return "/help/readme" + sep + frag
    for folder, url in (("docs/manuals/img/", "/help/manuals/img/"), ("docs/manuals/", "/help/manuals/"),
                        ("docs/", "/help/")):
        rest = target.removeprefix(folder)
        if rest != target and "/" not in rest:
            if folder != "docs/manuals/img/" and not rest.endswith(".md"):
                return href
            return url + rest.removesuffix(".md") + sep + frag
    return href


def _annotate(tokens: list[Token], rules: bool, where: str) -> set[str]:
    seen: set[str] = set()

    def unique(base: str) -> str:
        anchor, n = base or "section", 1
        while anchor in seen:
            n += 1
            anchor = f"{base}-{n}"
        seen.add(anchor)
        return anchor

    first_cell = False
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            text = _text(tokens[i + 1])
            tok.attrSet("id", unique(rule_anchor(text) if rules and tok.tag == "h3" else heading_slug(text)))
        elif tok.type == "tr_open":
            first_cell = True
        elif tok.type in ("td_open", "th_open"):
            inline = tokens[i + 1]
            if rules and first_cell and tok.type == "td_open" and inline.children:
                children: list[Token] = []
                for child in inline.children:
                    if child.type == "code_inline" and rule_anchor(child.content) not in seen:
                        children.append(_span(unique(rule_anchor(child.content))))
                    children.append(child)
                inline.children = children
            first_cell = False
        if tok.type == "inline":
            for child in tok.children or []:
                if child.type == "link_open":
                    child.attrSet("href", _link(str(child.attrGet("href") or ""), where))
                elif child.type == "image":
                    child.attrSet("src", _link(str(child.attrGet("src") or ""), where))
    return seen


def render_text(source: str, *, rules: bool = False, title: str = "", where: str = "docs/page.md") -> Page:
    """``source`` (markdown) as HTML; ``rules``: headings of level 3 and first-column IDs are rule anchors;
    ``where``: the document's path in the repository, against which relative links are resolved."""
    md = _parser()
    tokens = md.parse(_MARKER.sub("", source))
    anchors = _annotate(tokens, rules=rules, where=where)
    title = next((_text(tokens[i + 1]) for i, t in enumerate(tokens) if t.type == "heading_open"), title)
    return Page(title=title, body=md.renderer.render(tokens, md.options, {}), anchors=frozenset(anchors))


@lru_cache(maxsize=64)
def _render(path: Path, _mtime: float) -> Page:
    return render_text(path.read_text(encoding="utf-8"), rules=path == DOCS / "rules.md", title=path.stem,
                       where=path.relative_to(ROOT).as_posix())


def render(path: Path) -> Page:
    return _render(path, path.stat().st_mtime)


def documents() -> dict[str, Path]:
    """The top-level documents of docs/ by name (``rules`` → docs/rules.md), and README.md as ``readme``."""
    return {"readme": README} | {p.stem: p for p in sorted(DOCS.glob("*.md")) if NAME.match(p.stem)}


def manuals() -> dict[str, Path]:
    return {p.stem: p for p in sorted(MANUALS.glob("*.md")) if NAME.match(p.stem)} if MANUALS.is_dir() else {}


def page(title: str, body: str, *, home: str = "/help") -> str:
    """A whole HTML page: no script, one local stylesheet."""
    return (
        '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} · Diming 帮助</title>"
        '<link rel="stylesheet" href="/help/help.css"></head>\n'
        f'<body><nav><a href="{home}">帮助目录 Help index</a> · <a href="/">地图 Map</a> · '
        '<a href="/docs">API</a></nav>\n<main>\n'
        f"{body}</main></body></html>\n"
    )


def index_page() -> str:
    def items(docs: dict[str, Path], prefix: str) -> str:
        return "".join(
            f'<li><a href="{prefix}{name}">{html.escape(render(p).title)}</a> '
            f"<small>({html.escape(name)})</small></li>\n"
            for name, p in docs.items())

    body = (
        "<h1>Diming 地名 帮助 / Help</h1>\n"
        "<h2>操作手册 / User manuals</h2>\n"
        f"<ul>\n{items(manuals(), '/help/manuals/') or '<li>（暂无 / none yet）</li>'}</ul>\n"
        "<h2>文档 / Documentation</h2>\n"
        f"<ul>\n{items(documents(), '/help/')}</ul>\n"
    )
    return page("帮助 Help", body)


CSS = """\
body { font: 16px/1.6 "WenQuanYi Micro Hei", "Noto Sans CJK SC", sans-serif; margin: 0; color: #1b1b1b; }
nav { padding: .5em 1em; background: #f0f3f6; border-bottom: 1px solid #d0d7de; }
main { max-width: 60em; margin: 0 auto; padding: 1em 1.5em 4em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #d0d7de; padding: .25em .6em; vertical-align: top; text-align: left; }
code { background: #f3f4f6; padding: 0 .2em; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; }
pre code { background: none; padding: 0; }
img { max-width: 100%; border: 1px solid #d0d7de; }
h3 { border-top: 1px solid #eee; padding-top: .6em; }
:target { background: #fff8c5; }
"""
