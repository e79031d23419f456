r"""How strongly a learned ratio's error moves the Asimov discovery statistic, per model.

On its own Asimov data at :math:`\mu'` a model's :math:`q_{0,A} = 2\int[\lambda'\ln(\lambda'/
\lambda_0) - \lambda' + \lambda_0]\,dx`. A relative error :math:`\epsilon(x)` of one learned ratio
(the background is the reference, its ratio exactly 1) changes :math:`\lambda'` by
:math:`c_j(\mu')\,\nu_j p_j(x)\,\epsilon(x)` and leaves :math:`\lambda_0 = B` alone, so to first
order

.. math::

    \delta q_{0,A} = \int K(x)\,\epsilon(x)\,dx, \qquad
    K = 2\,c_j(\mu')\,\nu_j p_j(x)\,\ln\frac{\lambda'(x)}{B(x)}.

:math:`\int |K|\,dx / q_{0,A}` is the amplification: the relative change of :math:`q_{0,A}` per
unit relative ratio error of the worst shape. It is printed for the closure toy's
signal-strength model :math:`\mu S + B` (ratio S/B) and for its interference model (ratio SBI/B),
each at the :math:`\mu'` where the exact :math:`q_{0,A}` is 9, on the quadrature grid of
``InterferenceToy.asimov_statistic``.

    python benchmarks/q0_sensitivity.py
"""

import numpy as np

from nsbi.simulators import closure_toy


def main() -> None:
    axis = np.linspace(-9.0, 9.0, 1201)
    volume = (axis[1] - axis[0]) ** 2
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    for interference, learned in ((0.0, "S"), (0.3, "SBI")):
        toy = closure_toy(interference)
        mu3 = toy.discovery_mu(3.0)
        # mu for S in mu S + B; sqrt(mu) for SBI in the interference mixture
        coefficient = mu3 if learned == "S" else toy.coefficient_values(mu3)[learned]
        intensity = toy.yields()[learned] * np.exp(toy.log_density(learned, grid))
        log_ratio = toy.log_intensity(grid, mu3) - toy.log_intensity(grid, 0.0)
        kernel = 2 * coefficient * intensity * log_ratio
        amplification = volume * np.abs(kernel).sum() / 9.0
        model = "mu S + B" if interference == 0 else f"interference c = {interference}"
        print(f"{model:>22}: learned {learned}/B, mu' = {mu3:.4f}, "
              f"int |K| / q0_A = {amplification:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
