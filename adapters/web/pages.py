"""HTML for the web page: templates (adapters/web/templates) filled with string.Template, every value escaped
unless it is Markup built here from escaped parts. Texts come from core.messages."""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from string import Template

from core.messages import render
from core.service.chat import CheckReport, Meme, MemeFaces, subtitle_text


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


def ranking(lang: str, rows: list[tuple[str, str, float]], version: str) -> Markup:
    """The sentence test's top memes, each with its thumbnail (a link to its card below)."""
    items = "".join(
        f'<li data-rank="{n}"><a href="#m-{esc(meme_id)}"><img src="/studio/image/{esc(meme_id)}?v={esc(version)}" '
        f'alt="" loading="lazy"></a><span><span class="score">{score:.3f}</span> {esc(caption)} '
        f'<code>{esc(meme_id)}</code></span></li>'
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


_WHY = {"swap.pose_mismatch": "studio.why.pose", "swap.target_too_small": "studio.why.small"}


def _swap_badge(lang: str, meme: Meme, faces: MemeFaces | None) -> tuple[str, str]:
    """The card's badge (class, text): no face at all, or whether the sample face swaps and, if not, why."""
    if faces is None or not faces.boxes:
        return "no", render("studio.no_face", lang)
    beyond = [i for i in meme.faces if i >= len(faces.boxes)]
    if beyond:  # the catalog names faces the picture does not have: the largest is swapped instead
        return "no", render("studio.why.faces", lang, faces=", ".join(map(str, beyond)), count=len(faces.boxes))
    if faces.sample_swaps is None:  # no sample face installed: nothing to say
        return "none", ""
    if faces.sample_swaps:
        return "yes", render("studio.swaps", lang)
    why = next((_WHY[key] for key in faces.sample_notices if key in _WHY), "studio.no_swap")
    return "no", render(why, lang)


def card(lang: str, meme: Meme, faces: MemeFaces | None, version: str, csrf: str, note: str = "") -> str:
    """One meme of the studio's grid; `note` says what was just done to it (saved, added)."""
    swap_class, swap_text = _swap_badge(lang, meme, faces)
    return fill(
        "card.html",
        id=meme.id, version=version, caption=meme.caption, csrf=csrf, note=note, note_hidden=hidden(not note),
        edit=render("studio.edit", lang), delete_confirm=render("studio.delete_confirm", lang),
        delete_yes=render("studio.delete_yes", lang),
        width=faces.width if faces else 1, height=faces.height if faces else 1,
        boxes=_boxes(faces) if faces else Markup(""),
        swap_class=swap_class, swap_text=swap_text,
        examples="\n".join(meme.examples), subtitle=subtitle_text(meme.subtitle),
        subtitle_label=render("studio.subtitle", lang), tags=", ".join(meme.tags),
        faces=", ".join(map(str, meme.faces)),
        caption_label=render("studio.caption", lang), examples_label=render("studio.examples", lang),
        tags_label=render("studio.tags", lang), faces_label=render("studio.faces", lang),
        save=render("studio.save", lang), delete=render("studio.delete", lang),
    )


def check_report(lang: str, report: CheckReport, memes: int) -> Markup:
    """`fffusion catalog check` in the studio: the pairs the recommender confuses and the memes no example
    reaches, each linked to its card."""

    def link(meme: Meme) -> str:
        return f'<a href="#m-{esc(meme.id)}"><code>{esc(meme.id)}</code></a> {esc(meme.caption)}'

    summary = render("catalog.check.summary", lang, memes=memes, pairs=len(report.confusable),
                     unreached=len(report.unreached))
    parts = [f'<p class="hint">{esc(summary)}</p>']
    if report.confusable:
        items = "".join(f'<li>{link(p.first)}<br>↔ {link(p.second)} <span class="score">{p.similarity:.2f}</span></li>'
                        for p in report.confusable)
        title = render("catalog.check.confusable", lang, count=len(report.confusable))
        parts.append(f'<h3>{esc(title)}</h3><ul class="check">{items}</ul>')
    if report.unreached:
        items = "".join(f"<li>{link(u.meme)}<br>“{esc(u.example)}” → {link(u.went_to)}</li>" for u in report.unreached)
        title = render("catalog.check.unreached", lang, count=len(report.unreached))
        parts.append(f'<h3>{esc(title)}</h3><ul class="check">{items}</ul>')
    return Markup("".join(parts))


def choices(items: tuple[tuple[str, str, int], ...], csrf: str, request_id: str) -> Markup:
    """A choice of memes: each picture is the button that picks it (a form, so it works without the script)."""
    return Markup("".join(
        f'<form class="choice" method="post" action="/pick"><input type="hidden" name="csrf" value="{esc(csrf)}">'
        f'<input type="hidden" name="request_id" value="{esc(request_id)}">'
        f'<input type="hidden" name="index" value="{esc(index)}">'
        f'<button type="submit"><img src="{esc(url)}" alt="{esc(caption)}"><span>{n}. {esc(caption)}</span></button>'
        f"</form>"
        for n, (url, caption, index) in enumerate(items, 1)))
