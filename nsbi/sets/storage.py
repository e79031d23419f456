"""On-disk form of every set model (posteriors, hierarchical posteriors, learned statistics):
one directory with the weights as safetensors and a JSON metadata file, replaced atomically,
read back without pickle; a missing, unreadable or foreign directory is a :class:`SetModelError`
naming the file and the fix.

Example:
    >>> import tempfile
    >>> from torch import nn
    >>> folder = write_set_model(tempfile.mkdtemp() + "/m", nn.Linear(2, 1), "m.json", {"kind": "k"})
    >>> metadata, path = read_set_metadata(folder, "m.json", "k", "a model")
    >>> metadata["kind"], load_set_weights(nn.Linear(2, 1), folder, path).out_features
    ('k', 1)
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import nn

from nsbi._version import __version__
from nsbi.exceptions import NSBIError
from nsbi.io.atomic import atomic_directory

__all__ = [
    "SetModelError",
    "save_set_model",
    "load_set_model",
    "write_set_model",
    "read_set_metadata",
    "load_set_weights",
]

FORMAT_VERSION = 1
WEIGHTS = "network.safetensors"


class SetModelError(NSBIError):
    """A set model that is missing, unreadable or does not fit its use."""


def write_set_model(directory: str | Path, module: nn.Module, metadata_name: str,
                    metadata: dict) -> Path:  # fmt: skip
    """Write ``module``'s weights and ``metadata`` (with ``format_version``) to ``directory``."""
    directory = Path(directory)
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    document = {"format_version": FORMAT_VERSION, **metadata}
    with atomic_directory(directory) as tmp:
        save_file(tensors, str(tmp / WEIGHTS))
        (tmp / metadata_name).write_text(json.dumps(document, indent=1) + "\n")
    return directory


def read_set_metadata(directory: str | Path, metadata_name: str, kind: str, what: str,
                      hint: str = "train one") -> tuple[dict, Path]:  # fmt: skip
    """The metadata of the ``kind`` of set model (``what``, for messages) in ``directory``, and
    its path; errors name the file and say what to do (``hint`` when it is missing)."""
    directory = Path(directory)
    path = directory / metadata_name
    if not path.is_file():
        raise SetModelError(f"no {what} at {directory} (missing {metadata_name}); {hint}")
    try:
        metadata = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise SetModelError(
            f"{path}: unreadable JSON (line {error.lineno}: {error.msg}); retrain it"
        ) from None
    if metadata.get("kind") != kind or metadata.get("format_version") != FORMAT_VERSION:
        raise SetModelError(
            f"{path}: not a {what} of format {FORMAT_VERSION} (kind {metadata.get('kind')!r}, "
            f"format {metadata.get('format_version')!r}); retrain it"
        )
    return metadata, path


def load_set_weights(module: nn.Module, directory: str | Path, metadata_path: Path) -> nn.Module:
    """Load the weights in ``directory`` into ``module`` (strictly; weights only)."""
    weights = Path(directory) / WEIGHTS
    if not weights.is_file():
        raise SetModelError(f"{directory}: missing {WEIGHTS}; retrain it")
    try:
        module.load_state_dict(load_file(str(weights)), strict=True)
    except RuntimeError as error:
        raise SetModelError(
            f"{weights}: does not match {metadata_path} ({error}); retrain it"
        ) from None
    return module


def save_set_model(
    directory: str | Path, network: nn.Module, kind: str, metadata_name: str, **fields
) -> Path:
    """The one way a set model is saved: ``network``'s weights and the metadata ``{kind,
    network: network.config, nsbi_version, **fields}`` (``fields``: what the kind adds, and
    the model's own ``metadata``)."""
    metadata = {"kind": kind, "network": network.config, "nsbi_version": __version__, **fields}
    return write_set_model(directory, network, metadata_name, metadata)


def load_set_model(
    directory: str | Path,
    kind: str,
    metadata_name: str,
    what: str,
    build,
    hint: str = "train one",
) -> tuple[nn.Module, dict]:
    """The one way a set model is read: its metadata checked for ``kind``, the network
    ``build(metadata)`` makes, its weights loaded strictly (no pickle); returns the network
    in eval mode and the metadata."""
    metadata, path = read_set_metadata(directory, metadata_name, kind, what, hint)
    network = load_set_weights(build(metadata), directory, path)
    return network.eval(), metadata
