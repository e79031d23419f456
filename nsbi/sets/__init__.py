r"""Networks over whole datasets (event ensembles): deep sets that learn dataset-wide test
statistics and posteriors from simulated datasets, without parameterising the nuisances.

- :mod:`nsbi.sets.deep_set`: the permutation-invariant network (encoder, weighted sum pooling,
  head aware of the cardinality);
- :mod:`nsbi.sets.sources`: training datasets from a simulator or from any nsbi workspace model
  by Poisson reweighting;
- :mod:`nsbi.sets.profile_statistic`: the learned profile test statistic
  :math:`t_\text{ML}(\theta; \{x\})`, its training, save and load;
- :mod:`nsbi.sets.agreement`: its rank agreement with the exact profile likelihood ratio;
- :mod:`nsbi.sets.posterior`: amortised posteriors :math:`q(\theta \mid \{x\})` (Gaussian or
  flow heads), streaming updates, training, save and load;
- :mod:`nsbi.sets.transformer`: a causal transformer giving the posterior of every prefix;
- :mod:`nsbi.sets.training`: the optimisation loop they share.
"""

from nsbi.sets.agreement import StatisticAgreement, agreement
from nsbi.sets.deep_set import DeepSet, sum_pool
from nsbi.sets.hierarchical import (
    HierarchicalPosterior,
    HierarchicalTraining,
    ImageEncoder,
    load_hierarchical,
    save_hierarchical,
    train_hierarchical,
)
from nsbi.sets.posterior import (
    BayesianAggregation,
    DatasetPosterior,
    PosteriorTraining,
    SetPosterior,
    expected_coverage,
    load_posterior,
    save_posterior,
    train_posterior,
)
from nsbi.sets.profile_statistic import (
    LearnedStatistic,
    SetModelError,
    StatisticTraining,
    grid_argmin,
    load_statistic,
    save_statistic,
    train_statistic,
)
from nsbi.sets.sources import (
    BumpHuntSource,
    HierarchicalNormalSource,
    LensingSource,
    MultivariateNormalSource,
    SimulatorSource,
    WorkspaceSource,
)
from nsbi.sets.training import TrainingHistory, optimise
from nsbi.sets.transformer import CausalSetTransformer

__all__ = [
    "StatisticAgreement",
    "agreement",
    "DeepSet",
    "sum_pool",
    "LearnedStatistic",
    "SetModelError",
    "StatisticTraining",
    "TrainingHistory",
    "grid_argmin",
    "load_statistic",
    "save_statistic",
    "train_statistic",
    "SimulatorSource",
    "MultivariateNormalSource",
    "BumpHuntSource",
    "SetPosterior",
    "DatasetPosterior",
    "expected_coverage",
    "PosteriorTraining",
    "train_posterior",
    "save_posterior",
    "load_posterior",
    "WorkspaceSource",
    "optimise",
    "CausalSetTransformer",
    "HierarchicalPosterior",
    "HierarchicalTraining",
    "HierarchicalNormalSource",
    "LensingSource",
    "ImageEncoder",
    "train_hierarchical",
    "save_hierarchical",
    "load_hierarchical",
    "BayesianAggregation",
]
