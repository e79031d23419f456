"""Every random step takes a seed or a generator: the one conversion between them."""

from __future__ import annotations

import numpy as np

__all__ = ["as_rng"]


def as_rng(rng: np.random.Generator | int) -> np.random.Generator:
    """``rng`` itself, or a new generator seeded by the integer ``rng``.

    Example:
        >>> bool(as_rng(3).random() == np.random.default_rng(3).random())
        True
        >>> as_rng(None)
        Traceback (most recent call last):
        ...
        TypeError: rng: expected a numpy.random.Generator or an integer seed, got None
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng: expected a numpy.random.Generator or an integer seed, got {rng!r}")
