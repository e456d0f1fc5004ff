"""`llmkit prune`: make a finished run's model smaller, and measure what it costs.

``magnitude`` zeroes the smallest linear weights with ``torch.nn.utils.prune`` (global or per layer, made
permanent); ``heads`` removes the least important attention heads (and, with an FFN amount, intermediate
neurons) by the gradient-based importance of Michel et al. (2019) on the validation split, slicing the weight
matrices so the model really has fewer parameters. Optional recovery steps train the pruned model through
llmkit's own runner. The layer sits beside ``export`` and uses its latency protocol, so the figures compare.

Modules: ``write`` (the command), ``magnitude``, ``importance`` (head/neuron scores), ``results``. The slicing
itself, and loading a head-pruned model, live in ``llmkit.models.pruning`` (every loader needs it).
"""

from llmkit.prune.magnitude import SCOPES
from llmkit.prune.results import PruneResult, Snapshot
from llmkit.prune.write import METHODS, REPORT_FILE, check_settings, prune

__all__ = ["METHODS", "REPORT_FILE", "SCOPES", "PruneResult", "Snapshot", "check_settings", "prune"]
