r"""Networks over whole datasets (event ensembles): deep sets that learn dataset-wide test
statistics and posteriors from simulated datasets, without parameterising the nuisances.

- :mod:`nsbi.sets.deep_set`: the permutation-invariant network (encoder, weighted sum pooling,
  head aware of the cardinality);
- :mod:`nsbi.sets.sources`: the roles of a source of training datasets, and the source of any
  nsbi workspace model by Poisson reweighting (toy sources: :mod:`nsbi.simulators.sources`);
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
    HierarchicalSource,
    PosteriorSource,
    StatisticSource,
    WorkspaceSource,
)
from nsbi.sets.training import SetTrainingHistory, StepSchedule, optimise
from nsbi.sets.transformer import CausalSetTransformer

__all__ = [
    "StatisticAgreement",
    "agreement",
    "DeepSet",
    "sum_pool",
    "LearnedStatistic",
    "SetModelError",
    "StatisticTraining",
    "SetTrainingHistory",
    "StepSchedule",
    "grid_argmin",
    "load_statistic",
    "save_statistic",
    "train_statistic",
    "SetPosterior",
    "DatasetPosterior",
    "expected_coverage",
    "PosteriorTraining",
    "train_posterior",
    "save_posterior",
    "load_posterior",
    "WorkspaceSource",
    "StatisticSource",
    "PosteriorSource",
    "HierarchicalSource",
    "optimise",
    "CausalSetTransformer",
    "HierarchicalPosterior",
    "HierarchicalTraining",
    "ImageEncoder",
    "train_hierarchical",
    "save_hierarchical",
    "load_hierarchical",
    "BayesianAggregation",
]
