"""`llmkit explain`: which input tokens a prediction rests on (Captum attributions, attention, rollout).

What is explained comes from the task (``TaskSpec.explain``); this package implements each kind of target
(``targets``), the methods (``methods``), the result (``results``) and the self-contained HTML page (``page``).
"""

from llmkit.explain.methods import METHODS
from llmkit.explain.results import Explained, ExplainedTarget
from llmkit.explain.run import DEFAULT_STEPS, check_method, explain, explain_loaded
from llmkit.explain.targets import Request

__all__ = [
    "DEFAULT_STEPS",
    "METHODS",
    "Explained",
    "ExplainedTarget",
    "Request",
    "check_method",
    "explain",
    "explain_loaded",
]
