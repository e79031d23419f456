"""Small workspaces for examples and tests, as ``pyhf.simplemodels`` gives small models: the
same channels, with observed counts and a measurement, as an nsbi :class:`Workspace`."""

from __future__ import annotations

from collections.abc import Sequence

import pyhf

from nsbi.workspace.workspace import Workspace

__all__ = ["uncorrelated_background", "uncorrelated_background_spec"]


def uncorrelated_background_spec(
    signal: Sequence[float],
    background: Sequence[float],
    uncertainty: Sequence[float],
    observed: Sequence[float],
) -> dict:
    """The workspace spec of :func:`pyhf.simplemodels.uncorrelated_background` (one channel
    ``singlechannel``, a signal with ``normfactor`` mu, a background with ``shapesys``) with
    ``observed`` counts and measurement ``m`` of POI mu.

    Example:
        >>> spec = uncorrelated_background_spec([5.0], [50.0], [7.0], observed=[52])
        >>> spec["observations"], spec["measurements"][0]["config"]["poi"]
        ([{'name': 'singlechannel', 'data': [52]}], 'mu')
    """
    model = pyhf.simplemodels.uncorrelated_background(
        list(signal), list(background), list(uncertainty)
    )
    return {
        "channels": model.spec["channels"],
        "observations": [{"name": "singlechannel", "data": list(observed)}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def uncorrelated_background(
    signal: Sequence[float],
    background: Sequence[float],
    uncertainty: Sequence[float],
    observed: Sequence[float],
) -> Workspace:
    """:func:`uncorrelated_background_spec` as a :class:`Workspace`.

    Example:
        >>> ws = uncorrelated_background([5.0], [50.0], [7.0], observed=[52])
        >>> ws.channel("singlechannel")["samples"][0]["name"]
        'signal'
    """
    return Workspace(uncorrelated_background_spec(signal, background, uncertainty, observed))
