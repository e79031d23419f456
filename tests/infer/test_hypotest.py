"""CLs, discovery p-values and upper limits against pyhf live, and against exact Poisson sums."""

from __future__ import annotations

import copy
import json

import numpy as np
import pyhf
import pytest
from click.testing import CliRunner
from scipy import stats

from nsbi.cli.main import cli
from nsbi.infer.hypotest import StatisticDistributions, hypotest, significance
from nsbi.infer.limits import upper_limit
from nsbi.model import Model
from nsbi.workspace import Workspace

RTOL = 1e-4


def shapesys_one_bin() -> dict:
    model = pyhf.simplemodels.uncorrelated_background([12.0], [50.0], [6.0])
    return {
        "channels": model.spec["channels"],
        "observations": [{"name": "singlechannel", "data": [58.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def normsys_histosys() -> dict:
    """Two bins, signal normfactor, a normsys on the signal and a histosys on the background."""
    return {
        "channels": [
            {
                "name": "sr",
                "samples": [
                    {
                        "name": "signal",
                        "data": [6.0, 9.0],
                        "modifiers": [
                            {"name": "mu", "type": "normfactor", "data": None},
                            {"name": "xsec", "type": "normsys", "data": {"hi": 1.15, "lo": 0.8}},
                        ],
                    },
                    {
                        "name": "background",
                        "data": [40.0, 25.0],
                        "modifiers": [
                            {
                                "name": "shape",
                                "type": "histosys",
                                "data": {"hi_data": [44.0, 24.0], "lo_data": [37.0, 27.0]},
                            },
                            {"name": "bnorm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.92}},
                        ],
                    },
                ],
            }
        ],
        "observations": [{"name": "sr", "data": [47.0, 36.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


CASES = [
    ("shapesys", shapesys_one_bin, None),
    ("code4/code4p", normsys_histosys, None),
    ("code1/code0", normsys_histosys, {"normsys": "code1", "histosys": "code0"}),
]


def pyhf_model(spec: dict, codes: dict | None):
    workspace = pyhf.Workspace(copy.deepcopy(spec))
    settings = None
    if codes:
        settings = {
            "normsys": {"interpcode": codes["normsys"]},
            "histosys": {"interpcode": codes["histosys"]},
        }
    model = workspace.model(modifier_settings=settings) if settings else workspace.model()
    return model, workspace.data(model)


@pytest.fixture(autouse=True)
def precise_pyhf():
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=1e-12))


@pytest.mark.parametrize(("label", "make", "codes"), CASES, ids=[c[0] for c in CASES])
def test_cls_p0_and_limits_equal_pyhf(label, make, codes):
    spec = make()
    ours = Model.from_workspace(Workspace(copy.deepcopy(spec)), interpolation=codes)
    model, data = pyhf_model(spec, codes)
    for mu in (0.5, 1.5):
        result = hypotest(ours, mu)
        cls, (clsb, clb), band = pyhf.infer.hypotest(
            mu, data, model, test_stat="qtilde", return_tail_probs=True, return_expected_set=True
        )
        np.testing.assert_allclose(
            [result.cls_obs, result.clsb_obs, result.clb_obs], [cls, clsb, clb], rtol=RTOL
        )
        np.testing.assert_allclose(result.cls_exp, np.array(band, dtype=float), rtol=RTOL)

    p0 = significance(ours)
    p0_obs, p0_exp = pyhf.infer.hypotest(0.0, data, model, test_stat="q0", return_expected=True)
    np.testing.assert_allclose([p0.p0_obs, p0.p0_exp], [p0_obs, p0_exp], rtol=RTOL)

    limit = upper_limit(ours, range=(0.0, 10.0))
    observed, expected = pyhf.infer.intervals.upper_limits.toms748_scan(
        data, model, 0.0, 10.0, rtol=1e-10
    )[:2]
    np.testing.assert_allclose(
        [limit.observed, *limit.expected], [observed, *np.array(expected, float)], rtol=RTOL
    )
    grid = np.linspace(0.0, 5.0, 26)
    scanned = upper_limit(ours, scan=grid)
    observed, expected = pyhf.infer.intervals.upper_limits.upper_limit(data, model, scan=grid)
    np.testing.assert_allclose(
        [scanned.observed, *scanned.expected], [observed, *np.array(expected, float)], rtol=RTOL
    )


def counting(s: float, b: float, n: int) -> Model:
    """One bin, known background (no nuisance parameter), signal strength mu."""
    spec = {
        "channels": [
            {
                "name": "count",
                "samples": [
                    {
                        "name": "signal",
                        "data": [s],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {"name": "background", "data": [b], "modifiers": []},
                ],
            }
        ],
        "observations": [{"name": "count", "data": [n]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }
    return Model.from_workspace(Workspace(spec))


def test_counting_asimov_significance_and_toy_p0_against_poisson():
    """Z_A = sqrt(2((s+b) ln(1+s/b) - s)) (CCGV eq. 97); the toy p0 equals the Poisson tail
    P(N >= n_obs | b) within two binomial standard errors (q0 rises with n above b)."""
    s, b, n = 5.0, 10.0, 18
    model = counting(s, b, n)
    asymptotic = significance(model)
    z_asimov = np.sqrt(2 * ((s + b) * np.log(1 + s / b) - s))
    assert asymptotic.z_exp == pytest.approx(z_asimov, rel=1e-6)
    toys = significance(model, calculator="toys", toys=20000, seed=4)
    exact = stats.poisson.sf(n - 1, b)
    error = toys.errors["p0_obs"]
    assert abs(toys.p0_obs - exact) < 2 * error, (toys.p0_obs, exact, error)
    # the expected toy p0: the tail beyond the median count under s + b
    median = stats.poisson.median(s + b)
    assert toys.p0_exp == pytest.approx(stats.poisson.sf(median - 1, b), abs=3 * error)


def test_toy_cls_agrees_with_asymptotics_at_large_counts():
    """With hundreds of events the asymptotic regime holds: toy CLs within 3 standard errors
    (plus 10% for the residual non-Gaussianity) of the asymptotic one."""
    model = counting(40.0, 400.0, 410)
    asymptotic = hypotest(model, 1.0)
    toys = hypotest(model, 1.0, calculator="toys", toys=3000, seed=2)
    tolerance = 3 * toys.errors["cls_obs"] + 0.1 * asymptotic.cls_obs
    assert abs(toys.cls_obs - asymptotic.cls_obs) < tolerance
    assert abs(toys.cls_exp[2] - asymptotic.cls_exp[2]) < 0.1 * asymptotic.cls_exp[2] + 0.01


def test_limit_range_errors_name_the_fix():
    from nsbi.exceptions import FitError

    model = counting(5.0, 10.0, 12)
    with pytest.raises(FitError, match="widen it"):
        upper_limit(model, range=(0.0, 0.5))
    with pytest.raises(FitError, match="give a scan for toys"):
        upper_limit(model, calculator="toys")
    with pytest.raises(FitError, match="'q' or 'qtilde'"):
        hypotest(model, 1.0, test_stat="q0")


def test_cli_outputs(write_spec, tmp_path):
    path = write_spec(normsys_histosys())
    runner = CliRunner()
    out = tmp_path / "cls.json"
    result = runner.invoke(cli, ["cls", str(path), "--poi-value", "1.5", "--output", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert set(document) >= {"test_stat", "poi_value", "cls_obs", "cls_exp", "clsb_obs", "clb_obs"}
    assert len(document["cls_exp"]) == 5 and document["poi_value"] == 1.5
    out = tmp_path / "z.json"
    result = runner.invoke(cli, ["significance", str(path), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert set(json.loads(out.read_text())) >= {"p0_obs", "z_obs", "p0_exp", "z_exp"}
    out = tmp_path / "limit.json"
    result = runner.invoke(
        cli,
        ["limit", str(path), "--range", "0", "10", "--output", str(out), "--plot", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["cl"] == 0.95 and len(document["expected"]) == 5
    assert document["expected"][0] < document["expected"][2] < document["expected"][4]
    assert (tmp_path / "brazil.png").exists()
    bad = runner.invoke(cli, ["limit", str(path), "--interpolation", "normsys=code7"])
    assert bad.exit_code == 2 and "code1, code4" in bad.output


def test_fit_and_belt_take_interpolation_codes(write_spec, tmp_path):
    """``nsbi fit --interpolation`` gives pyhf's MLE under those codes (live), which differs
    from the default codes' MLE; ``nsbi belt`` records the codes in its checkpoint plan."""
    spec = normsys_histosys()
    path = write_spec(spec)
    codes = {"normsys": "code1", "histosys": "code0"}
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(tolerance=1e-6))
    fits = {}
    for label, settings in (("default", None), ("code1", codes)):
        model, data = pyhf_model(spec, settings)
        fits[label] = pyhf.infer.mle.fit(data, model)[model.config.poi_index]
    runner = CliRunner()
    out = tmp_path / "fit.json"
    args = ["fit", str(path), "--output", str(out), "--quiet", "--interpolation"]
    result = runner.invoke(cli, [*args, "normsys=code1", "--interpolation", "histosys=code0"])
    assert result.exit_code == 0, result.output
    ours = json.loads(out.read_text())["parameters"]["mu"]["value"]
    assert abs(fits["code1"] - fits["default"]) > 1e-3
    assert ours == pytest.approx(fits["code1"], abs=1e-4)

    folder = tmp_path / "belt"
    result = runner.invoke(
        cli,
        ["belt", str(path), "--poi-grid", "0:2:2", "--toys", "4", "--scheduler", "serial",
         "--checkpoints", str(folder), "--quiet", "--interpolation", "normsys=code1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["interpolation"] == {"normsys": "code1"}


def test_statistic_distributions_are_the_asymptotic_laws():
    """The survival functions behind the plots: under the tested hypothesis q_mu and q0 (at its
    own Asimov) follow half a chi2 with one degree of freedom (CCGV eq. 49), checked against
    scipy; under background only, q0 is half a chi2 too; and qtilde's tails at the observed
    value are the CLs+b and CLb the calculator reports."""
    q = np.linspace(0.05, 12, 400)
    alternative, _ = StatisticDistributions("q", 1.0, asimov=3.0, poi_value=1.0).survival(q)
    assert np.allclose(alternative, 0.5 * stats.chi2.sf(q, 1), atol=1e-12)
    _, null = StatisticDistributions("q0", 1.0, asimov=3.0).survival(q)
    assert np.allclose(null, 0.5 * stats.chi2.sf(q, 1), atol=1e-12)
    result = hypotest(Model.from_workspace(Workspace(normsys_histosys())), 1.5)
    d = result.distributions
    assert d.name == "qtilde" and d.poi_value == 1.5
    clsb, clb = d.survival(np.array([d.observed]))
    assert np.isclose(clsb[0], result.clsb_obs, rtol=1e-9)
    assert np.isclose(clb[0], result.clb_obs, rtol=1e-9)


def test_cls_and_significance_plot_their_statistic(write_spec, tmp_path):
    path = write_spec(normsys_histosys())
    runner = CliRunner()
    for args, name in (
        (["cls", str(path), "--poi-value", "1.5"], "test_statistic"),
        (["cls", str(path), "--calculator", "toys", "--toys", "200"], "test_statistic_toys"),
        (["significance", str(path)], "q0"),
    ):
        folder = tmp_path / name
        result = runner.invoke(cli, [*args, "--plot", str(folder), "--quiet"])
        assert result.exit_code == 0, result.output
        assert sorted(p.name for p in folder.iterdir())[-1].endswith(".png"), list(folder.iterdir())


def test_toy_distributions_have_no_asymptotic_survival():
    toys = StatisticDistributions("q", 1.0, alternative=np.ones(3), null=np.zeros(3))
    with pytest.raises(ValueError, match="asymptotic"):
        toys.survival(np.array([1.0]))
