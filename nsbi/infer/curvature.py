r"""Curvature of an NLL made fit for a descent method.

Newton's step :math:`\delta = -H^{-1} g` descends only where the Hessian :math:`H` is positive
definite. Far from a minimum it need not be (negative curvature between constrained nuisance
parameters), and an NLL linear in a parameter (a Poisson term with no events, in the signal
strength) has none along it. The modified Hessian

.. math::

    \tilde H = V \, \mathrm{diag}\big(\max(|\lambda_i|, \epsilon)\big) \, V^T,
    \qquad H = V \, \mathrm{diag}(\lambda_i) \, V^T,
    \qquad \epsilon = \max(10^{-10} \max_i |\lambda_i|, 10^{-12}),

keeps the eigenvectors and the scale of each direction and always descends (Nocedal & Wright,
*Numerical Optimization*, sec. 3.4); along a flat direction the step is long and a line search
or the parameter's bound stops it. At a minimum :math:`\tilde H = H`.
"""

from __future__ import annotations

import torch


def positive_definite(hessian: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of ``hessian`` (``(n, n)`` or batched ``(..., n, n)``, symmetric)
    with the eigenvalues replaced by their floored moduli.

    Returns:
        ``(eigenvalues, vectors, positive)``: the modified eigenvalues ``(..., n)``, the
        eigenvectors as columns ``(..., n, n)``, and whether ``hessian`` was positive definite
        already ``(...)``.

    Example:
        >>> import torch
        >>> values, vectors, positive = positive_definite(torch.tensor([[1.0, 0.0], [0.0, -2.0]]))
        >>> values.tolist(), bool(positive)
        ([2.0, 1.0], False)
    """
    eigenvalues, vectors = torch.linalg.eigh(hessian)
    positive = (eigenvalues > 0).all(-1)
    scale = eigenvalues.abs().amax(-1, keepdim=True)
    modified = torch.maximum(eigenvalues.abs(), (1e-10 * scale).clamp_min(1e-12))
    return modified, vectors, positive
