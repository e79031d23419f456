"""NP ranking: impacts against the Gaussian (quadratic-NLL) expectation, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pyhf
import pytest
from click.testing import CliRunner

from nsbi.cli.main import cli
from nsbi.infer import fit, pulls, ranking
from nsbi.model import Model
from nsbi.workspace import Workspace


def _workspace():
    spec = {
        "channels": [
            {
                "name": "SR",
                "samples": [
                    {
                        "name": "signal",
                        "data": [400.0, 300.0],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "background",
                        "data": [5000.0, 3000.0],
                        "modifiers": [
                            {
                                "name": "bkg_norm",
                                "type": "normsys",
                                "data": {"hi": 1.03, "lo": 0.97},
                            },
                            {
                                "name": "bkg_shape",
                                "type": "histosys",
                                "data": {"hi_data": [5050.0, 2980.0], "lo_data": [4950.0, 3020.0]},
                            },
                        ],
                    },
                ],
            }
        ],
        "observations": [{"name": "SR", "data": [5420, 3290]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }
    return spec


def test_postfit_impacts_follow_the_covariance():
    """For a nearly Gaussian likelihood, fixing theta_k at its best fit +- sigma_k moves mu by
    rho(mu, theta_k) sigma_mu (the conditional mean of a bivariate normal)."""
    model = Model.from_workspace(Workspace(_workspace()))
    result = fit(model)
    impacts = {i.name: i for i in ranking(model, result)}
    assert set(impacts) == {"bkg_norm", "bkg_shape"}
    mu = model.parameters.index("mu")
    for name, impact in impacts.items():
        k = model.parameters.index(name)
        expected = result.covariance[mu, k] / result.errors[k]
        # the symmetric part; the asymmetry is the likelihood's own non-Gaussianity
        assert (impact.postfit_up - impact.postfit_down) / 2 == pytest.approx(expected, rel=0.05)
        assert impact.postfit_up * impact.postfit_down < 0
        # pre-fit: fixed at +-1 (unit Gaussian), larger than post-fit for constrained NPs
        assert abs(impact.prefit_up) >= abs(impact.postfit_up) * 0.99
    order = [i.name for i in ranking(model, result)]
    assert order == sorted(impacts, key=lambda n: -impacts[n].postfit_impact)


def test_pulls_compare_with_pyhf():
    spec = _workspace()
    model = Model.from_workspace(Workspace(spec))
    result = fit(model)
    table = pulls(model, result)
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(verbose=0))
    ws = pyhf.Workspace(spec)
    pmodel = ws.model()
    best, errors = pyhf.infer.mle.fit(ws.data(pmodel), pmodel, return_uncertainties=True).T
    for name in ("bkg_norm", "bkg_shape"):
        index = pmodel.config.par_slice(name).start
        assert table[name][0] == pytest.approx(best[index], abs=0.01)  # pyhf minuit: tol 0.1
        assert table[name][1] == pytest.approx(errors[index], rel=1e-2)


def test_fit_ranking_cli(tmp_path):
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(_workspace()))
    output = tmp_path / "fit.json"
    result = CliRunner().invoke(
        cli, ["fit", str(path), "--ranking", "--output", str(output), "--plot", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "ranking by post-fit impact on mu" in result.output
    document = json.loads(output.read_text())
    assert [r["name"] for r in document["ranking"]][0] in ("bkg_norm", "bkg_shape")
    assert set(document["pulls"]) == {"bkg_norm", "bkg_shape"}
    assert np.allclose(np.diag(document["correlation"])[[0, 1, 2]], 1.0)
    assert (tmp_path / "ranking.png").exists() and (tmp_path / "ranking.pdf").exists()
