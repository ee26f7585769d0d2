"""The seam between the bot and its workers: every job as one frozen request whose type names its answer, and
the answers. Both sides import this module and nothing heavier: the bot never loads OpenCV, onnxruntime or dlib
(tests/test_architecture.py), and a reader follows a request across the pool by its types.

A job is registered by subclassing `Job[Answer]` with its name and settings; core/compute/runtime.py runs it in
a worker, core/compute/client.py is the only caller of a pool."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from core.limits import Limits
from core.recommend.confidence import Calibration, Decision

if TYPE_CHECKING:  # the answer and the votes load numpy and the recommender, which the contract need not
    from core.catalog.check import CheckReport  # noqa: F401 (named in a string, in CheckJob's base)
    from core.recommend.feedback import Votes

A = TypeVar("A", covariant=True)


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker process loads: the catalog, its models, and the limits the jobs keep to."""

    catalog_dir: Path
    cache_dir: Path
    model: str = "default"
    face_backend: str = "auto"
    models_dir: Path | None = None
    limits: Limits = field(default_factory=Limits)
    decoded_memes: int = 64  # decoded meme images each worker keeps
    #: catalog versions each worker keeps prepared beside the one it serves: instances that serve different
    #: versions for a while (one edited in the studio, another not yet) cost no re-prepare per job
    prepared_catalogs: int = 1


@dataclass(frozen=True)
class JobSettings:
    """How a job is run wherever it runs. None: the deploy's setting (Limits.job_timeout_s, Limits.job_tries)."""

    timeout_s: float | None = None
    tries: int | None = None

    def timeout_or(self, default: float) -> float:
        return self.timeout_s if self.timeout_s is not None else default

    def tries_or(self, default: int) -> int:
        return max(1, self.tries if self.tries is not None else default)


#: every job by name: what a job is called on a queue, and its settings
JOBS: dict[str, type[Job[Any]]] = {}


class Job(Generic[A]):
    """A job request; `Job[Answer]` is the type of what a worker answers to it. Subclasses register themselves:
    `class RankJob(Job[Ranking], name="rank")`, optionally with `settings=JobSettings(...)`."""

    name: ClassVar[str]
    settings: ClassVar[JobSettings]

    def __init_subclass__(cls, *, name: str, settings: JobSettings | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name in JOBS:
            raise TypeError(f"job name {name!r} is registered twice")
        cls.name, cls.settings = name, settings or JobSettings()
        JOBS[name] = cls

    def __repr__(self) -> str:
        # arq formats every job's arguments for its log line even when the line is not logged, and a face
        # record's repr costs milliseconds: the name says enough
        return f"<{self.name} job>"


# answers


@dataclass(frozen=True)
class Ranking:
    """The best memes for a sentence, best first, ranked on the catalog version `catalog`; `stale` when the
    worker needs the votes to rank with (nothing ranked then)."""

    memes: tuple[tuple[str, float], ...]
    catalog: str = ""
    stale: bool = False


@dataclass(frozen=True)
class Registered:
    record: bytes  # the face record the swaps use
    crop_jpeg: bytes  # the aligned crop, to show the person
    notices: tuple[str, ...]  # message keys
    engine: str


@dataclass(frozen=True)
class Upgraded:
    """A person's face record re-analysed by this worker's engine from one an older engine made. It goes back with
    the answer and the service stores it in place of the old one: it costs once, and no worker keeps a face."""

    record: bytes
    engine: str


@dataclass(frozen=True)
class Kept:
    """Where a worker on the queue put a result image instead of answering with its bytes: the shared results
    cache (core/compute/redis/results.py) under `key`, which every bot instance reads, so the image crosses the
    queue once."""

    key: str
    size: int  # bytes


@dataclass(frozen=True)
class Composed:
    image: bytes  # JPEG; empty when `kept` says where it is
    swapped: bool  # whether a face was swapped in
    notices: tuple[str, ...]  # message keys about faces left as they were
    upgraded: Upgraded | None = None  # the record that was swapped in, when it had to be re-analysed
    kept: Kept | None = None


@dataclass(frozen=True)
class Made:
    """A request's ranking, the meme chosen from it and that meme composed (MakeJob); only the ranking while it
    is stale, or when the `decision` asked for is not Decision.ONE (a choice follows, or nothing fits)."""

    ranking: Ranking
    meme_id: str = ""
    composed: Composed | None = None
    decision: Decision | None = None  # how sure the ranking is, when the job asked (MakeJob.decide)

    @property
    def stale(self) -> bool:
        return self.ranking.stale


@dataclass(frozen=True)
class MemeFaces:
    """What the studio shows of one meme: its size, the faces found (x1, y1, x2, y2; largest first), the ones
    swapped by default, and whether a sample face was swapped in (None: no sample face given)."""

    meme_id: str
    width: int
    height: int
    boxes: tuple[tuple[int, int, int, int], ...]
    default: tuple[int, ...]
    sample_swaps: bool | None
    sample_notices: tuple[str, ...] = ()  # why the sample face did not swap (message keys), when it did not


@dataclass(frozen=True)
class PictureSwapped:
    image: bytes  # JPEG
    faces: int  # faces found in the picture
    swapped: int  # of them, how many now wear the person's face
    notices: tuple[str, ...]  # message keys about faces left as they were


@dataclass(frozen=True)
class GroupComposed:
    image: bytes  # JPEG
    slots: int  # faces there were to fill
    placed: tuple[int, ...]  # indices of the records that are in the picture
    notices: tuple[str, ...]


def result_key(record: bytes | None, meme_id: str, target: str) -> str:
    """What names a result wherever it is kept (results caches, uploads, a person's history): the face record, the
    meme and what else decides its pixels."""
    face = hashlib.sha256(record).hexdigest() if record else "original"
    return hashlib.sha256(f"{face}\0{meme_id}\0{target}".encode()).hexdigest()[:32]


def meme_result_key(record: bytes | None, meme_id: str, target: str, catalog: str, subtitle: str) -> str:
    """A composed meme's result key: the catalog version is part of it (an edit may change which faces of a meme
    are swapped), and so is the 자막 drawn."""
    return result_key(record, meme_id, f"{target}\0{catalog}\0{subtitle}")


# requests. `catalog`: the catalog version the bot serves (a worker that has another one prepares it first);
# `generation` and `votes`: the votes the ranking learns from (core.recommend.feedback); `keep_s`: how long a
# worker on the queue keeps the result image in the shared results cache and answers with where (Composed.kept;
# 0: the answer carries the bytes, as in the in-process pool, which always answers so).


@dataclass(frozen=True, repr=False)
class RankJob(Job[Ranking], name="rank"):
    text: str
    top: int
    generation: str | None
    votes: Votes | None = None
    catalog: str = ""


@dataclass(frozen=True, repr=False)
class MakeJob(Job[Made], name="make"):
    """A whole request in one job (one trip through a queue instead of two): the ranking, then the best-ranked
    meme not in `recent`, composed with `record`. `subtitle`: the person's sentence as the 자막 ("" for the
    meme's own); `decide`: how sure the ranking must be (core.recommend.confidence) for a meme to be composed
    (None: always the best one): the decision is made here, once, and comes back with the answer."""

    rank: RankJob
    record: bytes | None
    recent: tuple[str, ...]
    subtitle: str = ""
    decide: Calibration | None = None
    keep_s: int = 0


def stale_generation(job: Job[Any], answer: object) -> str | None:
    """The generation of votes a worker has to learn to answer `job`, when its `answer` says it has not (else
    None): the pool that ran it hands the votes over and runs it again there, so it costs no second queue trip."""
    rank = job.rank if isinstance(job, MakeJob) else job
    if isinstance(answer, Ranking | Made) and answer.stale and isinstance(rank, RankJob):
        return rank.generation
    return None


def with_votes(job: Job[Any], votes: Votes) -> Job[Any]:
    """The job with the votes its ranking learns from (RankJob, MakeJob; any other job as it is)."""
    if isinstance(job, MakeJob):
        return dataclasses.replace(job, rank=dataclasses.replace(job.rank, votes=votes))
    if isinstance(job, RankJob):
        return dataclasses.replace(job, votes=votes)
    return job


@dataclass(frozen=True, repr=False)
class RegisterJob(Job[Registered], name="register"):
    """A photo -> the face record, the aligned crop to show, notices. The photo is dropped."""

    image: bytes


@dataclass(frozen=True, repr=False)
class ComposeJob(Job[Composed], name="compose"):
    meme_id: str
    record: bytes | None
    target: str = "default"
    catalog: str = ""
    subtitle: str = ""
    keep_s: int = 0


@dataclass(frozen=True, repr=False)
class InspectJob(Job[tuple[MemeFaces, ...]], name="inspect"):
    """Every meme's faces, and whether the sample face (a face record) swaps onto it (the studio's grid)."""

    catalog: str
    sample: bytes | None


@dataclass(frozen=True, repr=False)
class CheckJob(Job["CheckReport"], name="check"):
    """The catalog's confusable pairs and unreached memes (core/catalog/check.py)."""

    catalog: str
    too_close: float


@dataclass(frozen=True, repr=False)
class SwapPictureJob(Job[PictureSwapped], name="swap_picture"):
    """The person's face onto the chosen faces of any picture (target: all | largest | a number)."""

    image: bytes
    record: bytes
    target: str


@dataclass(frozen=True, repr=False)
class ComposeGroupJob(Job[GroupComposed], name="compose_group"):
    """records[k] onto the meme's k-th face in fill order; records past the last face are left out."""

    meme_id: str
    records: tuple[bytes, ...]
    catalog: str = ""
    subtitle: str = ""
