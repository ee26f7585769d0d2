"""The `fffusion` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import errno
import json
import logging
import os
import secrets
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from bot.app import check_start, make_store, serve, worker_config
from bot.config import ENV_PREFIX, Settings, env_name, load_settings, read_settings
from core.catalog.cache import DiskCache
from core.catalog.catalog import Catalog, load_captions, load_catalog
from core.catalog.check import check_catalog
from core.catalog.edit import add_meme
from core.catalog.prepare import prepare_catalog
from core.clips.media import CLIP_FORMATS, decode_clip, encode_clip, is_clip
from core.clips.media import format_for_path as clip_format_for_path
from core.clips.swap import finish_clip, swap_clip
from core.compute import runtime
from core.errors import ConfigError, FffusionError, InputError, explain
from core.faces.base import SourceFace
from core.faces.engines import choose_targets, load_engine
from core.images import FORMATS, decode_image, encode_image, format_for_path, read_file_capped, read_image_file
from core.loop import run as run_loop
from core.messages import pick_lang, render
from core.recommend.load import load_embedder
from core.recommend.recommender import Ranked, Recommender
from core.resources import sample_face
from core.service.schema import SCHEMA_VERSION
from core.subtitle import finish
from core.text import clean_sentence


@contextlib.contextmanager
def _cache(settings: Settings) -> Iterator[DiskCache]:
    cache = DiskCache(settings.cache_dir)
    try:
        yield cache
    finally:
        cache.close()


def _source_catalog(args: argparse.Namespace, settings: Settings) -> Catalog:
    if getattr(args, "captions", None):
        return load_captions(args.captions)
    return load_catalog(args.catalog or settings.catalog)


def cmd_recommend(args: argparse.Namespace, settings: Settings) -> int:
    catalog = _source_catalog(args, settings)
    # Validate the one sentence before loading anything heavy.
    if args.sentence is not None:
        clean_sentence(args.sentence, settings.limits)
    embedder = load_embedder(args.model or settings.recognition.model)
    with _cache(settings) as cache:
        recommender = Recommender(catalog, embedder, cache)
    as_int = catalog.root is None  # --captions: ids are line numbers

    def answer(sentence: str) -> None:
        ranked = recommender.rank(clean_sentence(sentence, settings.limits), top=args.top)
        if args.json:
            rows = [
                {
                    "id": int(r.meme_id) if as_int else r.meme_id,
                    "caption": r.caption,
                    "score": round(r.score, 4),
                }
                for r in ranked
            ]
            print(json.dumps(rows, ensure_ascii=False), flush=True)
        elif args.sentence is not None:
            for n, r in enumerate(ranked, 1):
                print(f"{n}. {r.caption}  [{r.meme_id}, {r.score:.3f}]")
        else:
            print(" | ".join(f"{r.meme_id}:{r.score:.3f}" for r in ranked), flush=True)

    if args.sentence is not None:
        answer(args.sentence)
        return 0
    failed = 0
    for line in sys.stdin:
        try:
            answer(line.rstrip("\n"))
        except InputError as err:
            # Keep one output line per input line so callers can zip them.
            failed += 1
            print("[]" if args.json else "", flush=True)
            print(render(err.key, pick_lang(settings.lang), **err.params), file=sys.stderr)
    return 2 if failed else 0


class ProgressBar:
    """`fffusion catalog build`'s progress on stderr: a bar redrawn in place in a terminal, and in a log (not a
    terminal) a plain line every tenth of the way."""

    WIDTH = 30

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._logged: tuple[str, int] = ("", -1)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.tty:
            filled = self.WIDTH * done // max(1, total)
            end = "\n" if done >= total else ""
            self.stream.write(f"\r{stage:>6} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total}{end}")
        else:
            tenth = 10 * done // max(1, total)
            if (stage, tenth) == self._logged:
                return
            self._logged = (stage, tenth)
            self.stream.write(f"{stage}: {done}/{total}\n")
        self.stream.flush()


def cmd_catalog_build(args: argparse.Namespace, settings: Settings) -> int:
    catalog = load_catalog(args.dir)
    embedder = load_embedder(args.model or settings.recognition.model)
    engine = load_engine(settings.recognition.face_backend, settings.recognition.models_dir, settings.limits)
    with _cache(settings) as cache:
        prepared = prepare_catalog(catalog, embedder, engine, cache, settings.limits, ProgressBar())
    recommender = prepared.recommender
    faces = sum(len(f) for f in prepared.targets.values())
    print(
        f"{len(catalog.memes)} memes, {recommender.text_count} texts "
        f"({recommender.freshly_embedded} embedded now, the rest from the cache) with {embedder.key}; "
        f"{faces} faces ({prepared.freshly_detected} images searched now) with {engine.key}"
    )
    if prepared.tracks:
        frames = sum(len(track) for track in prepared.tracks.values())
        seen = sum(face is not None for track in prepared.tracks.values() for face in track)
        print(f"{len(prepared.tracks)} animated memes: a face in {seen} of their {frames} frames")
    faceless = [m for m, found in prepared.targets.items() if not found]
    if faceless:
        print(f"no face found in: {', '.join(faceless)} (these are sent as they are)")
    return 0


def cmd_catalog_check(args: argparse.Namespace, settings: Settings) -> int:
    catalog = load_catalog(args.dir, check_images=False)
    embedder = load_embedder(args.model or settings.recognition.model)
    with _cache(settings) as cache:
        recommender = Recommender(catalog, embedder, cache)
    report = check_catalog(recommender, settings.limits.confusable_similarity)
    lang = pick_lang(settings.lang)
    if report.confusable:
        print(render("catalog.check.confusable", lang, count=len(report.confusable)))
    for pair in report.confusable:
        print(render("catalog.check.pair", lang, first=pair.first.id, second=pair.second.id,
                     similarity=f"{pair.similarity:.2f}", first_caption=pair.first.caption,
                     second_caption=pair.second.caption))
    if report.unreached:
        print(render("catalog.check.unreached", lang, count=len(report.unreached)))
    for miss in report.unreached:
        print(render("catalog.check.unreached_meme", lang, meme=miss.meme.id, caption=miss.meme.caption,
                     example=miss.example, other=miss.went_to.id, other_caption=miss.went_to.caption))
    if report.without_examples:
        ids = ", ".join(m.id for m in report.without_examples)
        print(render("catalog.check.no_examples", lang, count=len(report.without_examples), ids=ids))
    print(render("catalog.check.summary", lang, memes=len(catalog.memes), pairs=len(report.confusable),
                 unreached=len(report.unreached)))
    return 0


def _unwritable(path: Path, err: OSError) -> InputError:
    return InputError("file.unwritable", path=str(path), reason=err.strerror or type(err).__name__)


def _output_format(path: Path) -> str:
    """The output's format from its name (a still's, or a clip's: mp4, gif, webp); a folder is refused before
    any work is done."""
    fmt = clip_format_for_path(path)
    if fmt is None:
        try:
            fmt = format_for_path(path)
        except InputError:
            raise InputError("image.output_format", path=str(path),
                             supported=", ".join(sorted({*FORMATS, *CLIP_FORMATS}))) from None
    if path.is_dir():
        raise _unwritable(path, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)))
    return fmt


def _write_atomically(path: Path, data: bytes) -> None:
    """Nothing half-written: the file appears whole or not at all, and a failed write leaves nothing behind."""
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    created = False
    try:
        _output_format(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        created = True
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(partial, path)
    except OSError as err:
        if created:
            with contextlib.suppress(OSError):
                partial.unlink()
        raise _unwritable(path, err) from None


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    lang = pick_lang(settings.lang)
    sentence = clean_sentence(args.sentence, settings.limits)
    fmt = _output_format(args.output)
    # The photo is read (size checked first) and decoded before any model loads.
    face = read_image_file(args.face, settings.limits) if args.face else decode_image(sample_face(), settings.limits)
    config = dataclasses.replace(worker_config(settings), catalog_dir=args.catalog or settings.catalog)
    state = runtime.load_context(config)
    source, notices = state.engine.make_source(face)
    best = state.prepared.recommender.rank(sentence, top=1)[0]
    if fmt in ("mp4", "gif") or (fmt == "webp" and state.prepared.catalog.is_animated(
            state.prepared.catalog.by_id[best.meme_id])):
        return _demo_clip(args, settings, state, best, source, (*notices,), sentence)
    if state.prepared.catalog.is_animated(state.prepared.catalog.by_id[best.meme_id]):
        notices = (*notices, "clip.key_frame")
    outcome = runtime.compose(state, best.meme_id, source, args.target)
    image = outcome.image if outcome is not None else runtime.meme_image(state, best.meme_id)
    lines = runtime.subtitle_lines(state, best.meme_id, sentence if args.subtitle else "")
    image = runtime.finished(state, image, state.prepared.targets.get(best.meme_id, []), lines)
    data = encode_image(image, fmt, max_side=settings.limits.max_output_side, provenance=True)
    _write_atomically(args.output, data)
    for key in (*notices, *(outcome.notices if outcome else ("meme.no_swappable_face",))):
        print(render(key, lang), file=sys.stderr)
    print(f"{args.output}: {best.caption} [{best.meme_id}, {best.score:.3f}]")
    return 0


def _still_format(fmt: str, path: Path) -> str:
    """A still's format for an output name: an animation's own extension (.mp4, .gif) has none."""
    if fmt in ("mp4", "gif"):
        raise InputError("clip.still_meme", path=str(path))
    return fmt


def _demo_clip(args: argparse.Namespace, settings: Settings, state: runtime.Context, best: Ranked,
               source: SourceFace, notices: tuple[str, ...], sentence: str) -> int:
    """`fffusion demo -o meme.mp4`: the best meme as an animation (a still meme moved by the slow push-in)."""
    limits, prepared = settings.limits, state.prepared
    fmt = _output_format(args.output)
    meme = prepared.catalog.by_id[best.meme_id]
    if not prepared.catalog.is_animated(meme):
        notices = (*notices, "clip.from_still")
    clip = prepared.clip(best.meme_id, limits, still_motion="push-in")
    assert clip is not None
    try:
        outcome = swap_clip(clip, source, state.engine, limits, args.target, meme.faces or None,
                            prepared.tracks.get(best.meme_id))
        done, faces = outcome.clip, outcome.faces
        notices = (*notices, *outcome.notices)
    except InputError as err:  # nothing to swap: the meme as it is, said so
        done, faces = clip, ()
        notices = (*notices, err.key)
    lines = runtime.subtitle_lines(state, best.meme_id, sentence if args.subtitle else "")
    _write_atomically(args.output, encode_clip(finish_clip(done, faces, lines, limits), fmt))
    for key in notices:
        print(render(key, pick_lang(settings.lang)), file=sys.stderr)
    print(f"{args.output}: {best.caption} [{best.meme_id}, {best.score:.3f}], {len(done.frames)} frames, "
          f"{done.seconds:.2f} s")
    return 0


def cmd_swap(args: argparse.Namespace, settings: Settings) -> int:
    lang = pick_lang(settings.lang)
    limits = settings.limits
    fmt = _output_format(args.output)
    # Both pictures are checked before any model loads: a clip's limits from its headers.
    face = read_image_file(args.face, limits)
    data = read_file_capped(args.meme, max(limits.max_image_bytes, limits.clip_max_bytes))
    clip = decode_clip(data, limits) if is_clip(data) else None
    if clip is None:
        meme = decode_image(data, limits)
        _still_format(fmt, args.output)
    recognition = settings.recognition
    engine = load_engine(args.backend or recognition.face_backend, args.models or recognition.models_dir, limits)
    source, notices = engine.make_source(face)
    if clip is not None and fmt in CLIP_FORMATS.values():
        outcome = swap_clip(clip, source, engine, limits, args.target)
        done = finish_clip(outcome.clip, outcome.faces, (), limits)
        _write_atomically(args.output, encode_clip(done, fmt))
        for key in (*notices, *outcome.notices):
            print(render(key, lang), file=sys.stderr)
        print(f"{args.output}: {sum(outcome.swapped)} of {len(done.frames)} frame(s) swapped, {done.seconds:.2f} s")
        return 0
    if clip is not None:  # a still asked of a clip: its key frame
        meme = clip.key_frame
        notices = (*notices, "clip.key_frame")
    faces = engine.detect(meme)
    if not faces:
        raise InputError("swap.no_face_in_meme")
    targets = [faces[i] for i in choose_targets(faces, args.target)]
    outcome = engine.swap(meme, targets, source)
    image = finish(outcome.image, [f.bbox for f in faces], (), settings.limits)
    _write_atomically(args.output, encode_image(image, fmt, provenance=True))
    for key in (*notices, *outcome.notices):
        print(render(key, lang), file=sys.stderr)
    print(f"{args.output}: {len(outcome.swapped)} of {len(faces)} face(s) swapped")
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    logging.getLogger().setLevel(logging.DEBUG if args.debug else settings.log_level.upper())
    return run_loop(serve(settings))


def cmd_db_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Bring the store's schema up to the code's (safe to run on every deploy, from any number of machines)."""

    async def migrate() -> tuple[str, int]:
        store = make_store(settings)
        found = await store.open(upgrade=True)
        await store.close()
        return store.where, found

    where, found = run_loop(migrate())
    print(render("db.migrated", pick_lang(settings.lang), where=where, found=found, code=SCHEMA_VERSION))
    return 0


def cmd_learning_reset(args: argparse.Namespace, settings: Settings) -> int:
    """Forget every vote of learning from use: the ranking is the catalog's own again, on every instance within
    FeedbackSettings.refresh_s (switching learning off is FFFUSION_LEARN_FROM_USE=false)."""

    async def reset() -> int:
        store = make_store(settings)
        await store.open()
        try:
            return await store.forget_votes()
        finally:
            await store.close()

    print(render("learning.reset", pick_lang(settings.lang), count=run_loop(reset())))
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run queue jobs (rank, register, compose) for every bot instance, until SIGINT or SIGTERM."""
    logging.getLogger().setLevel(logging.DEBUG if args.debug else settings.log_level.upper())
    if not settings.queue.redis_url:
        raise ConfigError("worker.needs_redis")
    check_start(settings)
    from core.compute.redis.common import HEARTBEAT_S
    from core.compute.redis.supervisor import run_worker

    async def beat(path: Path) -> None:
        """Touch the heartbeat file while the worker runs: a container's health check reads its age."""
        while True:
            path.touch()
            await asyncio.sleep(HEARTBEAT_S)

    async def work() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        processes = settings.queue.workers or len(os.sched_getaffinity(0)) or 1
        beating: list[asyncio.Task[None]] = []

        def ready(pids: list[int]) -> None:
            logging.getLogger("fffusion").info("fffusion worker: %d process(es) %s take jobs from the queue",
                                               processes, pids)
            if settings.queue.heartbeat is not None:
                beating.append(asyncio.create_task(beat(settings.queue.heartbeat), name="heartbeat"))

        try:
            await run_worker(worker_config(settings), settings.queue.redis_url, processes,
                             settings.limits.job_timeout_s, settings.queue.poll_s, stop, ready)
        finally:
            for task in beating:
                task.cancel()
            if settings.queue.heartbeat is not None:
                settings.queue.heartbeat.unlink(missing_ok=True)
        return 0

    return run_loop(work())
def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    logging.getLogger().setLevel(logging.DEBUG if args.debug else settings.log_level.upper())
    lang = pick_lang(settings.lang)

    def started(address: str) -> None:
        print(render("web.serving", lang, url=address), flush=True)
        if settings.web.studio_token:
            print(render("web.serving_studio", lang, url=address + "studio"), flush=True)

    return run_loop(serve(settings, chat=False, started=started))


def cmd_catalog_add(args: argparse.Namespace, settings: Settings) -> int:
    meme = add_meme(args.dir, args.image, args.caption, meme_id=args.id, examples=args.example, tags=args.tag,
                    limits=settings.limits)
    print(f"added {meme.id} ({meme.where}); run `fffusion catalog build {args.dir}` to prepare it")
    return 0


def _display(value: object) -> str:
    if value is None:
        return ""
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value).lower() if isinstance(
        value, bool) else str(value)


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    """Every setting by the name people set (FFFUSION_*), its effective value (secrets masked) and where it came
    from: the default, the settings file or the environment."""
    loaded = read_settings(args.config)
    lang = pick_lang(settings.lang)
    rows = [(env_name(name), _display(value), loaded.origins[name]) for name, value in loaded.settings.masked().items()]
    width = min(48, max(len(f"{name}={value}") for name, value, _ in rows))
    for name, value, origin in rows:
        where = render(f"config.from.{origin}", lang)
        if origin == "file":
            where += f" {loaded.path}"
        print(f"{name}={value}".ljust(width) + f"  # {where}")
    return 0


def _top(value: str) -> int:
    top = int(value)
    if not 1 <= top <= 100:
        raise argparse.ArgumentTypeError("must be between 1 and 100")
    return top


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fffusion", description="무한짤봇: the meme that fits, with your face.")
    parser.add_argument("--config", type=Path, help="TOML settings file (FFFUSION_CONFIG)")
    parser.add_argument("--debug", action="store_true", help="log details, tracebacks included")
    sub = parser.add_subparsers(dest="command", required=True)

    rec = sub.add_parser("recommend", help="rank memes for a sentence (or one sentence per stdin line)")
    source = rec.add_mutually_exclusive_group()
    source.add_argument("--catalog", type=Path, help="catalog folder (default: the bundled demo)")
    source.add_argument("--captions", type=Path, help="file with one caption per line; ids are line numbers")
    rec.add_argument("--top", type=_top, default=3)
    rec.add_argument("--json", action="store_true", help="a JSON list of {id, caption, score} per line")
    rec.add_argument("--model", help="sentence model: 'default' or a sentence-transformers name/path")
    rec.add_argument("sentence", nargs="?")
    rec.set_defaults(func=cmd_recommend)

    cat = sub.add_parser("catalog", help="prepare or extend a meme catalog").add_subparsers(
        dest="catalog_command", required=True
    )
    build = cat.add_parser("build", help="embed captions and detect faces once, cached by content")
    build.add_argument("dir", type=Path)
    build.add_argument("--model")
    build.set_defaults(func=cmd_catalog_build)
    check = cat.add_parser("check", help="memes the recommender confuses, and memes no example sentence reaches")
    check.add_argument("dir", type=Path)
    check.add_argument("--model")
    check.set_defaults(func=cmd_catalog_check)
    add = cat.add_parser("add", help="add one meme to a catalog folder")
    add.add_argument("dir", type=Path)
    add.add_argument("image", type=Path)
    add.add_argument("caption")
    add.add_argument("--id")
    add.add_argument("--example", action="append", default=[], help="a sentence people would type (repeatable)")
    add.add_argument("--tag", action="append", default=[])
    add.set_defaults(func=cmd_catalog_add)

    demo = sub.add_parser("demo", help="the best meme for a sentence with a face swapped in, written to a file")
    demo.add_argument("--face", type=Path, help="photo of the face to use (default: a sample face)")
    demo.add_argument("--catalog", type=Path, help="catalog folder (default: the bundled demo)")
    demo.add_argument("--target", default="default", help="which meme faces: default, all, largest or a number")
    demo.add_argument("-o", "--output", type=Path, required=True, help="output file: .jpg, .png or .webp")
    demo.add_argument("--subtitle", "--자막", action="store_true", help="the sentence itself as the 자막")
    demo.add_argument("sentence")
    demo.set_defaults(func=cmd_demo)

    swap = sub.add_parser("swap", help="put the face from one picture onto the faces of a meme")
    swap.add_argument("--face", type=Path, required=True, help="photo of the face to use")
    swap.add_argument("--meme", type=Path, required=True, help="the meme: a picture, an animated GIF / WebP or a clip")
    swap.add_argument("-o", "--output", type=Path, required=True,
                      help="output file: .jpg, .png, .webp, or .mp4 / .gif / .webp for an animated meme")
    swap.add_argument("--target", default="default",
                      help="which meme faces: default (the largest), all, largest or a number (0 = largest)")
    swap.add_argument("--backend", choices=("auto", "mesh", "dlib", "insightface"), help="face engine (face_backend)")
    swap.add_argument("--models", type=Path, help="insightface models folder (models_dir)")
    swap.set_defaults(func=cmd_swap)

    run = sub.add_parser("run", help="run the bot on every platform whose token is set")
    run.set_defaults(func=cmd_run)

    work = sub.add_parser("worker", help="run the CPU jobs of every bot instance from the Redis queue")
    work.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="the store's database").add_subparsers(dest="db_command", required=True)
    migrate = db.add_parser("migrate", help="apply the schema migrations the code has and the database lacks")
    migrate.set_defaults(func=cmd_db_migrate)
    learning = sub.add_parser("learning", help="what the bot learned from people's picks").add_subparsers(
        dest="learning_command", required=True)
    forget = learning.add_parser("reset", help="forget every vote (the ranking is the catalog's own again)")
    forget.set_defaults(func=cmd_learning_reset)
    page = sub.add_parser("web", help="serve the web page alone (try page, and the studio with its token)")
    page.set_defaults(func=cmd_web)

    conf = sub.add_parser("config", help="print the effective settings (secrets masked)")
    conf.set_defaults(func=cmd_config)
    return parser


def run_command(func: Callable[[argparse.Namespace, Settings], int], args: argparse.Namespace) -> int:
    lang = pick_lang(os.environ.get(ENV_PREFIX + "LANG"))  # for an error in the settings themselves
    try:
        settings = load_settings(args.config)
        lang = pick_lang(settings.lang)
        return func(args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        print(explain(err, lang), file=sys.stderr)
        return err.exit_code if isinstance(err, FffusionError) else 1


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8", errors="replace")
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
