"""The one adapter between nsbi and pyhf: binned channels evaluated by pyhf's pytorch backend.

pyhf computes binned HistFactory likelihoods; its pytorch backend gives torch tensors, so a
binned channel's negative log-likelihood joins the unbinned terms in one differentiable NLL and
iminuit receives exact gradients from autograd.

pyhf keeps its backend in global state. :func:`pyhf_torch_backend` switches to pytorch (64-bit)
for the duration of a block and restores the caller's backend afterwards, so calling nsbi never
changes what ``pyhf.get_backend()`` returns outside nsbi. Switching is costly (pyhf recomputes
every model's tensors), so fits enter the block once around the whole minimisation; nested
entries are free. Everything that touches pyhf's backend lives in this file, so a future pyhf
(whose development branch has dropped the pytorch backend) needs only this file changed; parity
with pyhf's numpy backend is what the tests check.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pyhf
import torch

__all__ = ["pyhf_torch_backend", "BinnedChannels"]

# pyhf's pytorch backend builds some tensors from lists of arrays; torch warns that this is slow.
# It happens once per model build or backend switch, never in the fit loop.
_SLOW_LIST_WARNING = "Creating a tensor from a list of numpy.ndarrays"


def _set_backend(*args, **kwargs) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_SLOW_LIST_WARNING)
        pyhf.set_backend(*args, **kwargs)


_depth = 0


@contextmanager
def pyhf_torch_backend() -> Iterator[None]:
    """Run a block with pyhf's pytorch backend in 64-bit precision; restore the caller's after.

    Example:
        >>> import pyhf
        >>> with pyhf_torch_backend():
        ...     pyhf.tensorlib.name
        'pytorch'
        >>> pyhf.tensorlib.name
        'numpy'
    """
    global _depth
    tensorlib, optimizer = pyhf.get_backend()
    active = tensorlib.name == "pytorch" and tensorlib.precision == "64b"
    if active:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    _set_backend("pytorch", precision="64b")
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        _set_backend(tensorlib, optimizer)


class BinnedChannels:
    """All binned channels of a workspace, as one pyhf model with its data.

    Arguments:
        spec: a pyhf workspace spec holding only the binned channels and their observations.
        measurement: the measurement name in ``spec``.
        poi_name: the POI if it is a parameter of the binned channels, else ``None``.
        modifier_settings: pyhf interpolation settings, e.g. ``{"normsys": {"interpcode": "code4"}}``.
    """

    def __init__(
        self,
        spec: dict,
        measurement: str,
        poi_name: str | None,
        modifier_settings: dict | None = None,
    ):
        with pyhf_torch_backend(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_SLOW_LIST_WARNING)
            self.workspace = pyhf.Workspace(spec)
            self._modifier_settings = modifier_settings or {
                "normsys": {"interpcode": "code4"},
                "histosys": {"interpcode": "code4p"},
            }
            self.pyhf_model = self.workspace.model(
                measurement_name=measurement,
                poi_name=poi_name,
                modifier_settings=self._modifier_settings,
            )
            self._batched: dict[int, pyhf.pdf.Model] = {}
            config = self.pyhf_model.config
            self.par_names: list[str] = list(config.par_names)
            self.par_order: list[str] = list(config.par_order)
            self.slices: dict[str, slice] = {
                name: config.par_slice(name) for name in config.par_order
            }
            self.init = [float(v) for v in config.suggested_init()]
            self.bounds = [tuple(map(float, b)) for b in config.suggested_bounds()]
            self.fixed = [bool(v) for v in config.suggested_fixed()]
            self.constrained = {
                name: config.param_set(name).constrained for name in config.par_order
            }
            self.widths = [0.0] * len(self.par_names)
            for name in config.par_order:
                param_set = config.param_set(name)
                if param_set.constrained:
                    width = param_set.width()
                    for k, value in zip(
                        range(*self.slices[name].indices(len(self.par_names))), width, strict=True
                    ):
                        self.widths[k] = float(value)
            self.channel_nbins = dict(config.channel_nbins)
            data = self.workspace.data(self.pyhf_model)
            self.data = torch.as_tensor(data, dtype=torch.float64)
            self.n_main = int(config.nmaindata)

    def nll(self, pars: torch.Tensor, data: torch.Tensor | None = None) -> torch.Tensor:
        r"""Negative log-likelihood :math:`-\ln L` of pyhf (main Poisson terms and constraints,
        with all normalisation constants), for ``pars`` of shape ``(npar,)`` or ``(batch, npar)``
        and ``data`` (main then auxiliary) of shape ``(ndata,)`` or ``(batch, ndata)``."""
        data = self.data if data is None else data
        with pyhf_torch_backend():
            if pars.ndim == 1 and data.ndim == 1:
                return -self.pyhf_model.logpdf(pars, data)[0]
            pars_b = pars if pars.ndim == 2 else pars.expand(data.shape[0], -1)
            data_b = data if data.ndim == 2 else data.expand(pars_b.shape[0], -1)
            return -self._batched_model(pars_b.shape[0]).logpdf(pars_b, data_b)

    def _batched_model(self, batch: int) -> pyhf.pdf.Model:
        """The same pyhf model vectorised over ``batch`` parameter points (cached)."""
        if batch not in self._batched:
            with pyhf_torch_backend(), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_SLOW_LIST_WARNING)
                self._batched[batch] = pyhf.Model(
                    self.pyhf_model.spec,
                    poi_name=self.pyhf_model.config.poi_name,
                    modifier_settings=self._modifier_settings,
                    batch_size=batch,
                )
        return self._batched[batch]

    def auxdata_constraints(self) -> tuple[list[str], np.ndarray]:
        r"""Per auxiliary datum, the kind of its constraint (``normal`` or ``poisson``) and, for
        ``normal``, its width :math:`\sigma` (pyhf's ``param_set.width()``), in pyhf's
        auxiliary-data order."""
        kinds, sigmas = [], []
        config = self.pyhf_model.config
        for name in config.auxdata_order:
            param_set = config.param_set(name)
            n = len(param_set.auxdata)
            kinds += [param_set.pdf_type] * n
            width = param_set.width() if param_set.pdf_type == "normal" else [0.0] * n
            sigmas += [float(w) for w in width]
        return kinds, np.array(sigmas)

    def expected_data(self, pars: torch.Tensor) -> torch.Tensor:
        """Expected main counts then auxiliary data at ``pars`` (pyhf's ``expected_data``)."""
        with pyhf_torch_backend():
            return torch.as_tensor(self.pyhf_model.expected_data(pars), dtype=torch.float64)

    def expected_counts(self, pars: torch.Tensor) -> dict[str, torch.Tensor]:
        """Expected counts per channel, in pyhf's channel order."""
        main = self.expected_data(pars)[: self.n_main]
        counts, start = {}, 0
        for channel in self.pyhf_model.config.channels:
            n = self.channel_nbins[channel]
            counts[channel] = main[start : start + n]
            start += n
        return counts
