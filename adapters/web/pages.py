"""HTML for the web page: templates (adapters/web/templates) filled with string.Template, every value escaped
unless it is Markup built here from escaped parts. Texts come from core.messages."""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from string import Template

from core.catalog.catalog import Meme
from core.messages import render
from core.service.worker import MemeFaces


class Markup(str):
    """HTML already escaped, inserted as it is."""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


@cache
def _template(name: str) -> Template:
    return Template(resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8"))


def fill(name: str, **values: object) -> str:
    return _template(name).substitute({k: v if isinstance(v, Markup) else esc(v) for k, v in values.items()})


def page(name: str, lang: str, title: str, assets: str, **values: object) -> str:
    """A whole page: the shared <head> (templates/head.html), then the page's own template."""
    head = Markup(fill("head.html", lang=lang, title=title, assets=assets))
    return fill(name, head=head, lang=lang, title=title, assets=assets, **values)


def hidden(flag: bool) -> Markup:
    return Markup(" hidden" if flag else "")


def texts(lang: str, *keys: str, **params: object) -> dict[str, str]:
    """{short name: text} for message keys 'web.x' / 'studio.x' -> 'x'."""
    return {key.split(".", 1)[1]: render(key, lang, **params) for key in keys}


def ranking(lang: str, rows: list[tuple[str, str, float]]) -> Markup:
    items = "".join(
        f'<li data-rank="{n}"><span class="score">{score:.3f}</span> {esc(caption)} <code>{esc(meme_id)}</code></li>'
        for n, (meme_id, caption, score) in enumerate(rows, 1)
    )
    label = esc(render("studio.score", lang))
    return Markup(f'<ol class="ranking" aria-label="{label}">{items}</ol>' if rows else "")


def _boxes(faces: MemeFaces) -> Markup:
    stroke = max(2, round(max(faces.width, faces.height) / 160))
    rects = []
    for n, (x1, y1, x2, y2) in enumerate(faces.boxes):
        kind = "face default" if n in faces.default else "face"
        rects.append(f'<rect class="{kind}" x="{x1}" y="{y1}" width="{x2 - x1}" height="{y2 - y1}" '
                     f'stroke-width="{stroke}"/><text x="{x1 + stroke}" y="{y1 - stroke}" '
                     f'font-size="{stroke * 8}" class="{kind}">{n}</text>')
    return Markup("".join(rects))


def card(lang: str, meme: Meme, faces: MemeFaces | None, version: str, csrf: str) -> str:
    if faces is None or not faces.boxes:
        swap_class, swap_key = "none", "studio.no_face"
    elif faces.sample_swaps is None:  # no sample face installed: nothing to say
        swap_class, swap_key = "none", ""
    else:
        swap_class, swap_key = ("yes", "studio.swaps") if faces.sample_swaps else ("no", "studio.no_swap")
    return fill(
        "card.html",
        id=meme.id, version=version, caption=meme.caption, csrf=csrf,
        width=faces.width if faces else 1, height=faces.height if faces else 1,
        boxes=_boxes(faces) if faces else Markup(""),
        swap_class=swap_class, swap_text=render(swap_key, lang) if swap_key else "",
        examples="\n".join(meme.examples), tags=", ".join(meme.tags), faces=", ".join(map(str, meme.faces)),
        caption_label=render("studio.caption", lang), examples_label=render("studio.examples", lang),
        tags_label=render("studio.tags", lang), faces_label=render("studio.faces", lang),
        save=render("studio.save", lang), delete=render("studio.delete", lang),
    )


def choices(items: tuple[tuple[str, str, int], ...], csrf: str, request_id: str) -> Markup:
    """A choice of memes: each picture is the button that picks it (a form, so it works without the script)."""
    return Markup("".join(
        f'<form class="choice" method="post" action="/pick"><input type="hidden" name="csrf" value="{esc(csrf)}">'
        f'<input type="hidden" name="request_id" value="{esc(request_id)}">'
        f'<input type="hidden" name="index" value="{esc(index)}">'
        f'<button type="submit"><img src="{esc(url)}" alt="{esc(caption)}"><span>{n}. {esc(caption)}</span></button>'
        f"</form>"
        for n, (url, caption, index) in enumerate(items, 1)))
