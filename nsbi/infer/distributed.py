r"""Neyman belts on Dask: chunks of pseudo-experiments as tasks, checkpointed and resumable.

A belt run is a *plan*: the workspace (path and SHA-256), the measurement, the POI grid, the
toys per grid point, the seed, the construction, the chunk size and the generation point of
every grid value (:func:`~nsbi.infer.belt.generation_points`, fitted once on the observed data
in the client). Chunk ``c`` of grid point ``g`` is toys ``c * chunk_size`` up to the next chunk
of the stream ``(seed, g)`` (:mod:`nsbi.infer.toys`): a pure function of the plan, so it runs
on any worker, in any order, and gives the same :math:`t_\mu` wherever it runs.

Every finished chunk is written, atomically, to ``checkpoints/g{g}_c{c}.npz`` (the toys'
:math:`t_\mu` and the count of iminuit fallbacks; read back with ``allow_pickle=False``) beside
``manifest.json``, the plan. A run started again with ``resume=True`` checks the manifest
against its own plan, loads the finished chunks and computes only the others, so a run killed
at any moment and resumed gives the belt of an uninterrupted run with the same seed.

Workers rebuild the model from the workspace path (a shared filesystem on a remote cluster) and
keep it for the following chunks in a per-process cache keyed by path, measurement and the
file's SHA-256; a workspace edited during a run is an error, not a silently mixed belt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from nsbi.exceptions import NSBIError
from nsbi.infer.belt import (
    DEFAULT_CL,
    Belt,
    conditional_fits,
    generation_points,
    learned_observed_statistics,
    learned_toy_statistics,
    observed_statistics,
    toy_statistics,
)
from nsbi.infer.fit_health import FitCounts
from nsbi.io import atomic_path, write_json

__all__ = [
    "BeltPlan",
    "Checkpoints",
    "make_client",
    "dask_client",
    "belt_checkpoints",
    "run_belt",
]

MANIFEST = "manifest.json"


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class BeltPlan:
    """Everything that determines a belt's toys; two runs with equal plans give equal belts."""

    workspace: str
    workspace_sha256: str
    measurement: str | None
    interpolation: dict[str, str]
    statistic: str | None
    statistic_sha256: str | None
    grid: tuple[float, ...]
    toys: int
    seed: int
    construction: str
    chunk_size: int
    points: tuple[tuple[float, ...], ...]

    @property
    def chunks(self) -> list[tuple[int, int, int, int]]:
        """``(g, c, start, stop)`` of every chunk."""
        return [
            (g, c, start, min(start + self.chunk_size, self.toys))
            for g in range(len(self.grid))
            for c, start in enumerate(range(0, self.toys, self.chunk_size))
        ]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["grid"] = list(self.grid)
        out["points"] = [list(p) for p in self.points]
        return out


class Checkpoints:
    """The checkpoint folder of one belt run (see the module docstring).

    Opening a folder that holds another plan's manifest, or any manifest when ``resume`` is
    false, is an error naming the folder and the fix.
    """

    def __init__(self, directory: str | Path, plan: BeltPlan, resume: bool):
        self.directory = Path(directory)
        manifest = self.directory / MANIFEST
        if manifest.exists():
            if not resume:
                raise NSBIError(
                    f"{self.directory} already holds checkpoints of a belt run; pass --resume "
                    "(resume=True) to continue it, or remove the folder to start again"
                )
            stored = json.loads(manifest.read_text())
            mismatched = [
                key
                for key, value in plan.to_dict().items()
                if key != "points" and stored.get(key) != value
            ]
            if mismatched:
                raise NSBIError(
                    f"{manifest}: the checkpoints were made with other settings "
                    f"({', '.join(f'{k}: {stored.get(k)!r} there' for k in mismatched)}); "
                    "rerun with the same ones, or remove the folder to start again"
                )
            self.points = np.array(stored["points"], dtype=np.float64)
        else:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_json(manifest, plan.to_dict())
            self.points = np.array(plan.points, dtype=np.float64)

    def path(self, g: int, c: int) -> Path:
        return self.directory / f"g{g}_c{c}.npz"

    def done(self, g: int, c: int) -> bool:
        return self.path(g, c).exists()

    def load(self, g: int, c: int) -> tuple[np.ndarray, FitCounts]:
        """A finished chunk; its SHA-256 (of the statistic's bytes) is verified, and a file
        that cannot be read or does not match is an error naming it."""
        path = self.path(g, c)
        try:
            with np.load(path, allow_pickle=False) as data:
                t = np.asarray(data["t"], dtype=np.float64)
                failed = int(data["failed"]) if "failed" in data.files else 0
                counts = FitCounts(int(data["fallbacks"]), failed)
                stored = str(data["sha256"]) if "sha256" in data.files else None
        except (OSError, ValueError, KeyError, EOFError) as error:
            raise NSBIError(
                f"{path}: a damaged belt checkpoint ({error}); delete it and rerun with "
                "--resume (only this chunk is recomputed)"
            ) from None
        if stored is not None and stored != _digest(t, counts):
            raise NSBIError(
                f"{path}: the checkpoint's checksum does not match its numbers (it was modified "
                "or damaged); delete it and rerun with --resume (only this chunk is recomputed)"
            )
        return t, counts

    def save(self, g: int, c: int, t: np.ndarray, counts: FitCounts) -> None:
        with atomic_path(self.path(g, c)) as tmp:
            with open(tmp, "wb") as handle:
                t = np.asarray(t, dtype=np.float64)
                np.savez(
                    handle,
                    t=t,
                    fallbacks=np.int64(counts.fallbacks),
                    failed=np.int64(counts.failed),
                    sha256=np.str_(_digest(t, counts)),
                )


def _digest(t: np.ndarray, counts: FitCounts) -> str:
    """SHA-256 of a chunk's statistic and counts, stored with it."""
    digest = hashlib.sha256(np.ascontiguousarray(t, dtype=np.float64).tobytes())
    digest.update(f"{counts.fallbacks},{counts.failed}".encode())
    return digest.hexdigest()


# per-process cache of models built from workspace files:
# {(path, measurement, interpolation items, sha256, statistic): model or (source, statistic)}
_MODELS: dict = {}


def _cache_key(path, measurement, interpolation, sha256, statistic) -> tuple:
    return (path, measurement, tuple(sorted(interpolation.items())), sha256, statistic)


def _load_model(
    path: str,
    measurement: str | None,
    interpolation: dict[str, str],
    sha256: str,
    statistic: str | None = None,
    allow_stale: bool = False,
):
    """The model (or, with a learned ``statistic`` folder, the pair of its
    :class:`~nsbi.sets.WorkspaceSource` and the statistic) of a belt run, built once per
    process."""
    key = _cache_key(path, measurement, interpolation, sha256, statistic)
    if key not in _MODELS:
        if file_digest(path) != sha256:
            raise NSBIError(
                f"{path} changed since the belt run started (SHA-256 differs); rerun it"
            )
        _MODELS.clear()
        _MODELS[key] = _build(path, measurement, interpolation, statistic, allow_stale)
    return _MODELS[key]


def _build(
    path: str,
    measurement: str | None,
    interpolation: dict,
    statistic: str | None,
    allow_stale: bool = False,
):
    from nsbi.model import Model
    from nsbi.workspace import Workspace

    if statistic is None:
        workspace = Workspace.load(path)
        return Model.from_workspace(workspace, measurement, interpolation, allow_stale=allow_stale)
    from nsbi.sets import WorkspaceSource, load_statistic

    source = WorkspaceSource.from_workspace(path, measurement, interpolation,
                                            allow_stale=allow_stale)  # fmt: skip
    learned = load_statistic(statistic)
    if tuple(learned.observables) != tuple(source.observables):
        raise NSBIError(
            f"{statistic}: the learned statistic reads {list(learned.observables)} but "
            f"{path} channel {source.channel.name!r} has {list(source.observables)}; train it "
            "on this workspace (`nsbi train-statistic`)"
        )
    if learned.poi != source.poi:
        raise NSBIError(
            f"{statistic}: the learned statistic tests {learned.poi!r}, the workspace's POI is "
            f"{source.poi!r}; train it on this workspace (`nsbi train-statistic`)"
        )
    return source, learned


def _chunk(
    path: str,
    measurement: str | None,
    interpolation: dict[str, str],
    sha256: str,
    statistic: str | None,
    point: list[float],
    start: int,
    stop: int,
    key: tuple[int, int],
    allow_stale: bool = False,
) -> tuple[np.ndarray, FitCounts]:
    """One Dask task: the statistic of toys ``start..stop`` of stream ``key`` at ``point``."""
    loaded = _load_model(path, measurement, interpolation, sha256, statistic, allow_stale)
    if statistic is not None:
        return learned_toy_statistics(*loaded, np.asarray(point), start, stop, key)
    return toy_statistics(loaded, np.asarray(point), start, stop, key)


def make_client(scheduler: str | None, workers: int | None = None):
    """A Dask client: ``"local"`` starts a local cluster of ``workers`` single-threaded
    processes (default: one per CPU core), anything else is a scheduler address
    (``tcp://host:8786``, e.g. of a dask-jobqueue cluster); ``None`` or ``"serial"`` is no
    client (everything in this process)."""
    if scheduler in (None, "serial"):
        return None
    from dask.distributed import Client, LocalCluster

    if scheduler == "local":
        return Client(
            LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
        )
    return Client(scheduler)


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None = None):
    """:func:`make_client` as a context: the client (or ``None``) closed on the way out.

    Example:
        >>> with dask_client("serial") as client:
        ...     print(client)
        None
    """
    client = make_client(scheduler, workers)
    try:
        yield client
    finally:
        if client is not None:
            client.close()


def belt_checkpoints(workspace: str | Path, output: str | Path | None = None) -> Path:
    """Where a belt's checkpoints go by default: beside its JSON output
    (``OUTPUT.checkpoints``), else ``WORKSPACE-stem_belt.checkpoints`` in the current folder.

    Example:
        >>> belt_checkpoints("ws/analysis.json").as_posix()
        'analysis_belt.checkpoints'
        >>> belt_checkpoints("ws/analysis.json", "out/belt.json").as_posix()
        'out/belt.checkpoints'
    """
    stem = Path(output).with_suffix("") if output else Path(f"{Path(workspace).stem}_belt")
    return Path(f"{stem}.checkpoints")


def run_belt(
    workspace: str | Path,
    grid: Sequence[float],
    toys: int,
    *,
    measurement: str | None = None,
    interpolation: dict[str, str] | None = None,
    statistic: str | Path | None = None,
    cl: Sequence[float] = DEFAULT_CL,
    seed: int = 0,
    construction: str = "profile",
    chunk_size: int = 250,
    checkpoints: str | Path,
    resume: bool = False,
    client=None,
    progress: bool = False,
    on_chunk: Callable[[int, int], None] | None = None,
    allow_stale: bool = False,
) -> Belt:
    r"""The Neyman belt of the workspace's POI, its chunks checkpointed under ``checkpoints``
    and run on the Dask ``client`` (``None``: in this process).

    ``interpolation`` maps modifier types to pyhf interpolation codes (e.g.
    ``{"normsys": "code1"}``; default: pyhf's code4 and code4p). ``statistic``: the folder of
    a learned statistic (:func:`nsbi.sets.save_statistic`) to order the toys by instead of
    :math:`t_\mu`; the toys are still drawn at the profiled points, but not fitted.
    ``on_chunk(g, c)`` is called after each chunk is checkpointed. Ratio models trained on
    other events than the workspace's are refused unless ``allow_stale``. Returns the belt with the
    observed statistic; ``belt.fallbacks`` counts the toy fits iminuit had to finish and
    ``belt.failed_fits`` the fits that are not valid.

    Example:
        >>> import json, tempfile, pathlib, pyhf
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> from nsbi.workspace.simplemodels import uncorrelated_background_spec
        >>> spec = uncorrelated_background_spec([10.0], [50.0], [7.0], observed=[60])
        >>> _ = (folder / "ws.json").write_text(json.dumps(spec))
        >>> belt = run_belt(folder / "ws.json", [0.0, 1.0, 2.0], 100, checkpoints=folder / "c")
        >>> belt.toys.shape, sorted(p.name for p in (folder / "c").iterdir())[:2]
        ((3, 100), ['g0_c0.npz', 'g1_c0.npz'])
    """
    path = str(Path(workspace).resolve())
    sha256 = file_digest(path)
    interpolation = dict(interpolation or {})
    statistic = None if statistic is None else str(Path(statistic).resolve())
    if statistic is None:
        model = _build(path, measurement, interpolation, None, allow_stale)
    else:
        source, learned = loaded = _build(path, measurement, interpolation, statistic, allow_stale)
        model = source.model
    grid = np.asarray(grid, dtype=np.float64)
    if toys < 1 or chunk_size < 1:
        raise NSBIError(f"toys ({toys}) and chunk_size ({chunk_size}) must be positive")
    poi = model.parameters.poi
    if poi is None:
        raise NSBIError(f"{path}: the measurement has no POI; a belt is built for the POI")
    lo, hi = model.parameters.bounds[model.parameters.poi_index]
    if grid.min() < lo or grid.max() > hi:
        raise NSBIError(
            f"{path}: the grid [{grid.min():g}, {grid.max():g}] leaves the bounds "
            f"[{lo:g}, {hi:g}] of the POI {poi!r}; narrow the grid or widen the bounds "
            "(measurements[].config.parameters[].bounds)"
        )
    conditional = conditional_fits(model, grid)
    plan = BeltPlan(
        workspace=path,
        workspace_sha256=sha256,
        measurement=measurement,
        interpolation=interpolation,
        statistic=statistic,
        statistic_sha256=None if statistic is None else _statistic_digest(statistic),
        grid=tuple(float(v) for v in grid),
        toys=int(toys),
        seed=int(seed),
        construction=construction,
        chunk_size=int(chunk_size),
        points=tuple(
            tuple(float(v) for v in p)
            for p in generation_points(model, grid, construction, conditional)
        ),
    )
    store = Checkpoints(checkpoints, plan, resume)
    points = store.points
    results: dict[tuple[int, int], tuple[np.ndarray, FitCounts]] = {}
    todo = []
    for g, c, start, stop in plan.chunks:
        if store.done(g, c):
            results[g, c] = store.load(g, c)
        else:
            todo.append((g, c, start, stop))

    bar = None
    if progress:
        from nsbi.progress import progress_bar

        bar = progress_bar(total=len(grid) * toys, unit="toy", desc="belt")
        bar.update(sum(len(t) for t, _ in results.values()))

    def finish(g: int, c: int, start: int, stop: int, value: tuple[np.ndarray, FitCounts]) -> None:
        store.save(g, c, *value)
        results[g, c] = value
        if bar is not None:
            bar.update(stop - start)
        if on_chunk is not None:
            on_chunk(g, c)

    def arguments(g: int, start: int, stop: int) -> tuple:
        """What a chunk task needs: plain data, so it pickles cheaply to Dask workers."""
        where = (path, measurement, interpolation, sha256, statistic)
        return (*where, points[g].tolist(), start, stop, (seed, g), allow_stale)

    try:
        if client is None:
            _MODELS.clear()
            key = _cache_key(path, measurement, interpolation, sha256, statistic)
            _MODELS[key] = model if statistic is None else loaded
            for g, c, start, stop in todo:
                finish(g, c, start, stop, _chunk(*arguments(g, start, stop)))
        else:
            from dask.distributed import as_completed

            # task keys name the plan, so runs sharing a cluster never share results
            token = hashlib.sha256(json.dumps(plan.to_dict(), sort_keys=True).encode()).hexdigest()[
                :16
            ]
            futures = {
                client.submit(
                    _chunk,
                    *arguments(g, start, stop),
                    key=f"nsbi-belt-{token}-g{g}-c{c}",
                    pure=False,
                ): (g, c, start, stop)
                for g, c, start, stop in todo
            }
            for future in as_completed(futures):
                finish(*futures[future], future.result())
    finally:
        if bar is not None:
            bar.close()

    counts = sum((n for _, n in results.values()), FitCounts.of(*conditional))
    n_chunks = len(plan.chunks) // len(grid)
    rows = [np.concatenate([results[g, c][0] for c in range(n_chunks)]) for g in range(len(grid))]
    return Belt(
        poi=model.parameters.poi,
        grid=grid,
        cl=[float(c) for c in cl],
        toys=np.array(rows),
        observed=(
            observed_statistics(model, grid, conditional)
            if statistic is None
            else learned_observed_statistics(source, learned, grid)
        ),
        fallbacks=counts.fallbacks,
        failed_fits=counts.failed,
        statistic="tmu" if statistic is None else "learned",
    )


def _statistic_digest(folder: str) -> str:
    """SHA-256 of a learned statistic's weights and metadata."""
    digest = hashlib.sha256()
    for name in sorted(p.name for p in Path(folder).iterdir() if p.is_file()):
        digest.update(name.encode())
        digest.update((Path(folder) / name).read_bytes())
    return digest.hexdigest()
