"""The house style (mplhep) and saving figures as PNG and PDF, atomically."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402

from nsbi.io import atomic_path  # noqa: E402

__all__ = ["set_style", "label", "axis_label", "save_figure"]

#: The label written on figures; set e.g. ``nsbi.plot.style.EXPERIMENT = "ATLAS"``.
EXPERIMENT = "nsbi"


def set_style(style: str = "ATLAS") -> None:
    """Use an mplhep style (``"ATLAS"``, ``"CMS"``, ``"LHCb2"``, ``"ROOT"``)."""
    plt.style.use(getattr(mplhep.style, style))


def label(ax, text: str = "Internal", experiment: str | None = None) -> None:
    """The experiment label in the top-left corner of ``ax``."""
    mplhep.label.exp_label(
        exp=experiment or EXPERIMENT, text=text, ax=ax, loc=0, data=True, rlabel=""
    )


def axis_label(parameter: str) -> str:
    r"""TeX for a parameter name: ``mu`` -> ``$\mu$``, ``mu_ttbar`` -> ``$\mu_{ttbar}$``."""
    head, _, tail = parameter.partition("_")
    greek = {"mu", "alpha", "theta", "nu", "sigma", "gamma", "kappa", "lambda"}
    if head in greek:
        return rf"$\{head}" + (rf"_{{\mathrm{{{tail}}}}}$" if tail else "$")
    return parameter


def save_figure(fig, directory: str | Path, stem: str) -> list[Path]:
    """Save ``fig`` as ``directory/stem.png`` and ``.pdf`` (each written atomically)."""
    directory = Path(directory)
    paths = []
    for suffix in (".png", ".pdf"):
        path = directory / f"{stem}{suffix}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=suffix[1:], dpi=150, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths
