"""Saving and loading ratio ensembles without pickle.

One directory per ensemble:

- ``members.safetensors``: every member's weights and scaler, keys ``member{m}.{parameter}``;
- ``ensemble.json``: format version, observables, architecture, aggregation, normalisation,
  training configuration, training histories, checksum of the training inputs, nsbi version.

Nothing is ever unpickled: safetensors holds only tensors and the JSON only plain data. The
directory is written beside its destination and moved into place, so an interrupted save never
leaves a half-written model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from safetensors.torch import load_file, save_file

from nsbi.exceptions import NSBIError
from nsbi.io.atomic import atomic_directory
from nsbi.ratios.classifier import RatioClassifier
from nsbi.ratios.ensemble import RatioEnsemble

__all__ = ["save_ensemble", "load_ensemble", "read_metadata", "RatioModelError", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_WEIGHTS = "members.safetensors"
#: the metadata file of a stored ensemble (beside its safetensors weights)
METADATA_FILE = "ensemble.json"


class RatioModelError(NSBIError):
    """A ratio model that is missing, unreadable or does not fit the workspace."""


def save_ensemble(ensemble: RatioEnsemble, directory: str | Path) -> Path:
    """Write ``ensemble`` to ``directory`` (replaced atomically if it exists).

    Example:
        >>> import tempfile, numpy as np
        >>> from nsbi.ratios import RatioClassifier, RatioEnsemble
        >>> ens = RatioEnsemble([RatioClassifier(2, (4,))], ["a", "b"])
        >>> path = save_ensemble(ens, tempfile.mkdtemp() + "/S")
        >>> again = load_ensemble(path)
        >>> np.allclose(again.log_ratio(np.ones((3, 2))), ens.log_ratio(np.ones((3, 2))))
        True
    """
    directory = Path(directory)
    tensors = {}
    for m, member in enumerate(ensemble.members):
        for key, value in member.state_dict().items():
            tensors[f"member{m}.{key}"] = value.detach().cpu().contiguous()
    metadata = {
        "format_version": FORMAT_VERSION,
        "observables": list(ensemble.observables),
        "architecture": ensemble.members[0].architecture(),
        "n_members": ensemble.n_members,
        "aggregation": ensemble.aggregation,
        "log_normalisation": ensemble.log_normalisation,
        **ensemble.metadata,
    }
    with atomic_directory(directory) as tmp:
        save_file(tensors, str(tmp / _WEIGHTS))
        metadata["weights_sha256"] = _sha256(tmp / _WEIGHTS)
        (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=1) + "\n")
    return directory


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_metadata(directory: str | Path) -> dict:
    """The JSON metadata of a saved ensemble (checksum, observables, ...)."""
    path = Path(directory) / METADATA_FILE
    old = Path(directory).with_name(f".{Path(directory).name}.old")
    if not path.is_file() and (old / METADATA_FILE).is_file():
        raise RatioModelError(
            f"no ratio model at {Path(directory)}, but an intact earlier copy is at {old} (a "
            f"save was interrupted between its two renames): rename {old.name} back to "
            f"{Path(directory).name}, or retrain with `nsbi train`"
        )
    if not path.is_file():
        raise RatioModelError(
            f"no ratio model at {Path(directory)} (missing {METADATA_FILE}); "
            "train it with `nsbi train WORKSPACE`"
        )
    try:
        metadata = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise RatioModelError(f"{path}: not UTF-8 text; retrain with `nsbi train`") from None
    except json.JSONDecodeError as error:
        raise RatioModelError(
            f"{path}: unreadable JSON (line {error.lineno}, column "
            f"{error.colno}: {error.msg}); retrain with `nsbi train`"
        ) from None
    if not isinstance(metadata, dict):
        raise RatioModelError(f"{path}: not a JSON object; retrain with `nsbi train`")
    return metadata


def load_ensemble(directory: str | Path) -> RatioEnsemble:
    """Read an ensemble written by :func:`save_ensemble` (weights only, no pickle); the
    weights' SHA-256 stored in the metadata is verified. Anything malformed is a
    :class:`RatioModelError` naming the file."""
    directory = Path(directory)
    try:
        return _load(directory)
    except RatioModelError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        raise RatioModelError(
            f"{directory / METADATA_FILE}: malformed metadata ({type(error).__name__}: {error}); "
            "retrain with `nsbi train --force`"
        ) from None


def _load(directory: Path) -> RatioEnsemble:
    metadata = read_metadata(directory)
    if metadata.get("format_version") != FORMAT_VERSION:
        raise RatioModelError(
            f"{directory}: format version {metadata.get('format_version')}; "
            f"this nsbi reads version {FORMAT_VERSION}; retrain with `nsbi train`"
        )
    weights_path = directory / _WEIGHTS
    if not weights_path.is_file():
        raise RatioModelError(f"{directory}: missing {_WEIGHTS}; retrain with `nsbi train`")
    stored = metadata.get("weights_sha256")
    if stored is not None and _sha256(weights_path) != stored:
        raise RatioModelError(
            f"{weights_path}: its SHA-256 differs from the one stored in {METADATA_FILE} (the file "
            "was modified or damaged); retrain with `nsbi train --force`"
        )
    try:
        tensors = load_file(str(weights_path))
    except Exception as error:  # safetensors raises its own error types for damaged files
        raise RatioModelError(
            f"{weights_path}: not a readable safetensors file ({error}); retrain with "
            "`nsbi train --force`"
        ) from None
    architecture = metadata["architecture"]
    members = []
    for m in range(metadata["n_members"]):
        member = RatioClassifier(
            architecture["n_inputs"], architecture["hidden_layers"], architecture["activation"]
        )
        prefix = f"member{m}."
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            member.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise RatioModelError(
                f"{weights_path}: member {m} does not match its architecture "
                f"({error}); retrain with `nsbi train`"
            ) from None
        member.eval()
        members.append(member)
    extra = {
        k: v
        for k, v in metadata.items()
        if k
        not in {
            "format_version",
            "observables",
            "architecture",
            "n_members",
            "aggregation",
            "log_normalisation",
        }
    }
    return RatioEnsemble(
        members,
        metadata["observables"],
        metadata["aggregation"],
        float(metadata["log_normalisation"]),
        extra,
    )
