"""reval: the evaluation graders of reval (a native C++ harness for reasoning models) as RL rewards.

``reval.rewards`` holds the reward functions for verl (``compute_score``, ``compute_score_batch``), TRL
(``math_reward``, ``choice_reward``, ``code_reward``, ``format_reward``, ``language_reward``) and a batch API
(``score_batch``) that grades on reval's C++ thread pool with the GIL released. The module's version is reval's.
"""
from ._reval import __version__
from . import rewards

__all__ = ["__version__", "rewards"]
