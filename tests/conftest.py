"""Shared fixtures: pyhf workspaces built live from pyhf, and the shipped examples."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pyhf
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
WORKSPACES = ROOT / "workspaces"


def simple_spec() -> dict:
    """A pyhf simplemodels workspace (signal + background with uncorrelated uncertainty)."""
    model = pyhf.simplemodels.uncorrelated_background(
        signal=[12.0, 11.0, 6.0], bkg=[50.0, 52.0, 30.0], bkg_uncertainty=[3.0, 7.0, 4.0]
    )
    return {
        "channels": model.spec["channels"],
        "observations": [{"name": "singlechannel", "data": [66.0, 59.0, 40.0]}],
        "measurements": [{"name": "measurement", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def multichannel_spec() -> dict:
    """The shipped two-channel workspace: normsys, histosys, shapesys, staterror, lumi, normfactor."""
    return json.loads((WORKSPACES / "binned_sr_cr.json").read_text())


@pytest.fixture
def write_spec(tmp_path):
    """Write a spec dict to a JSON file in a temporary folder and return its path."""

    def write(spec: dict, name: str = "ws.json") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(spec, indent=1))
        return path

    return write


@pytest.fixture(params=["simple", "multichannel"])
def pyhf_spec(request) -> dict:
    return copy.deepcopy(simple_spec() if request.param == "simple" else multichannel_spec())


@pytest.fixture(autouse=True)
def restore_pyhf_backend():
    """Every test starts and ends with pyhf's default numpy backend and torch's default dtype
    (pyhf's torch backend sets float64 as torch's default)."""
    pyhf.set_backend("numpy")
    dtype = torch.get_default_dtype()
    yield
    pyhf.set_backend("numpy")
    torch.set_default_dtype(dtype)
