"""reval's graders as RL reward functions (verl, TRL, plain batches).

Every function here grades through reval's C++ reward core (``reval._reval``), the same graders ``reval eval`` and
``reval grade`` use, so a policy is trained on exactly the rule it is evaluated with.

A reward is *missing* — ``None`` (TRL, batches) or ``NaN`` (verl's ``score``, which must be a float) — never ``0``,
when grading failed (verdict ``infra_error``: a sandbox or harness failure, a bad test file), when the math grader
ran out of time before deciding (``undecided``), or when a batch item was not graded by its deadline. Drop or
retry such samples; ``stats`` counts them.

Reward options (keyword arguments everywhere below, or ``options=`` dicts): ``accuracy_weight`` (1),
``format_weight`` (0), ``language_weight`` (0), ``length_weight`` (1, only with ``max_length``), ``require_think``
(True), ``max_length`` / ``length_buffer`` (DAPO's overlong penalty, 0 = off), ``language`` (target of the language
component: "en", "zh", "Latin", ...), ``deadline_s`` (per batch item), ``undecided_is_missing`` (True).
"""
from __future__ import annotations

import math
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence

try:
    from . import _reval
except ImportError:  # loaded by file path (verl's custom_reward_function.path=.../reval/rewards.py): no parent package
    from reval import _reval

__all__ = [
    "Scorer", "configure", "scorer", "route", "sources",
    "compute_score", "compute_score_batch", "score", "score_batch",
    "math_reward", "choice_reward", "code_reward", "format_reward", "language_reward",
    "make_reward", "make_language_reward",
]

Scorer = _reval.Scorer
route = _reval.route
sources = _reval.sources

OPTION_KEYS = frozenset({
    "accuracy_weight", "format_weight", "language_weight", "length_weight", "weights", "require_think",
    "max_length", "length_buffer", "language", "deadline_s", "undecided_is_missing",
})

_lock = threading.Lock()
_scorer: Optional[_reval.Scorer] = None
_config: Dict[str, Any] = {"workers": 0, "grader_options": None}


def configure(workers: Optional[int] = None, grader_options: Optional[dict] = None) -> None:
    """Sets the default scorer's thread count (0: all cores) and grader options (e.g. ``{"timeout_s": 2}``).
    The next call makes a new scorer; calls in flight keep the old one."""
    global _scorer
    with _lock:
        if workers is not None:
            _config["workers"] = int(workers)
        if grader_options is not None:
            _config["grader_options"] = dict(grader_options)
        _scorer = None


def scorer() -> _reval.Scorer:
    """The process-wide default scorer (made on first use, see ``configure``)."""
    global _scorer
    with _lock:
        if _scorer is None:
            _scorer = _reval.Scorer(_config["grader_options"], _config["workers"])
        return _scorer


def _options(kwargs: dict, options: Optional[dict] = None) -> Optional[dict]:
    """Reward options out of ``kwargs`` (removed from it); other keys stay for the caller to ignore."""
    out = dict(options or {})
    for key in list(kwargs):
        if key in OPTION_KEYS:
            out[key] = kwargs.pop(key)
    return out or None


# ---------------------------------------------------------------------------------------------------------------
# verl

def _verl_result(r: dict, missing_score: float) -> dict:
    c = r["components"]
    nan = float("nan")
    absent = r["missing"] is not None
    return {
        "score": missing_score if absent else r["reward"],
        "acc": missing_score if absent else r["accuracy"],
        "pred": r["extracted"] if r["extracted"] is not None else "",
        "verdict": r["verdict"],
        "format": c.get("format", nan),
        "language": c.get("language", nan),
        "length_penalty": c.get("length", nan),
        "missing": absent,
        "missing_reason": r["missing"] or "",
    }


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: Optional[dict] = None,
                  **kwargs: Any) -> dict:
    """verl's ``custom_reward_function``: one rollout -> ``{"score", "acc", "pred", "verdict", "format",
    "language", "length_penalty", "missing", "missing_reason"}``.

    ``data_source`` routes the sample (``HuggingFaceH4/MATH-500``, ``aime*``, ``openai/gsm8k``, ``gpqa*``,
    ``livecodebench``, ``codeforces``, ... see ``sources()``); an unknown one raises ValueError listing the known
    names. ``ground_truth``: the gold answer (string, number or list) or, for code, a dict / JSON string of tests
    (reval's ``tests``, HumanEval's ``test``/``entry_point``, or APPS-style ``inputs``/``outputs``/``fn_name``).
    ``extra_info`` may carry ``fields`` (grader fields), ``choices``/``options``, ``finish_reason``,
    ``chat_prompt`` (the templated prompt, for the format check) and ``length`` (tokens). A missing reward is
    ``missing_score`` (default NaN) with ``missing=True``. Other keyword arguments verl passes are ignored."""
    missing_score = kwargs.pop("missing_score", float("nan"))
    options = _options(kwargs)
    info = extra_info if isinstance(extra_info, dict) else None
    r = scorer().score_ground_truth(data_source, solution_str, ground_truth, info, options)
    return _verl_result(r, missing_score)


def compute_score_batch(data_sources: Sequence[str], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Optional[Sequence[Optional[dict]]] = None, **kwargs: Any) -> List[dict]:
    """verl's batch reward manager signature: the same dicts as ``compute_score``, graded in parallel on the C++
    pool (GIL released). Unknown data sources raise ValueError; a ground truth that cannot be read gives that item
    a missing reward (``missing_reason`` "infra_error", the message in ``error``)."""
    missing_score = kwargs.pop("missing_score", float("nan"))
    options = _options(kwargs)
    for s in set(data_sources):
        route(s)
    infos = None
    if extra_infos is not None:
        infos = [e if isinstance(e, dict) else None for e in extra_infos]
    out = scorer().score_batch(list(data_sources), list(solution_strs), list(ground_truths), infos, None, None,
                               None, options, True, True)
    results = []
    for r in out["results"]:
        d = _verl_result(r, missing_score)
        if r["details"].get("stage") == "input":
            d["error"] = r["details"].get("error", "")
        results.append(d)
    return results


# ---------------------------------------------------------------------------------------------------------------
# Plain calls

def score(response: str, gold: Any = None, source: str = "math", fields: Optional[dict] = None,
          finish_reason: str = "stop", prompt: str = "", length: Optional[int] = None, **options: Any) -> dict:
    """One response -> the full result dict (``reward``, ``verdict``, ``accuracy``, ``components``,
    ``extracted``, ``missing``, ``details``, ...), graded on the calling thread with the GIL released."""
    return scorer().score(source, response, gold, fields, finish_reason, prompt, length, _options(options))


def score_batch(responses: Sequence[str], golds: Any = None, source: Any = "math", fields: Any = None,
                prompts: Any = None, lengths: Any = None, finish_reasons: Any = None, details: bool = False,
                options: Optional[dict] = None, **kwargs: Any) -> dict:
    """The batch API: grades ``responses`` on the C++ pool with the GIL released (Python threads calling it at
    once run in parallel). Every other argument is a list (one per response), a single value for all, or None.

    Returns columns: ``rewards`` (float or None), ``accuracy``, ``verdicts``, ``extracted``, ``format``,
    ``missing`` (None or why), ``language``/``length`` when enabled, ``stats`` (counts, with ``missing``) and,
    with ``details=True``, ``results`` (one full dict per response)."""
    opts = _options(kwargs, options)
    if kwargs:
        raise TypeError(f"score_batch: unknown arguments {sorted(kwargs)}")
    return scorer().score_batch(source, list(responses), golds, fields, finish_reasons, prompts, lengths, opts,
                                False, details)


# ---------------------------------------------------------------------------------------------------------------
# TRL: reward_func(prompts=..., completions=..., **dataset_columns) -> list[float | None]

GOLD_COLUMNS = ("answer", "solution", "ground_truth", "gold", "label")


def _content(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return str(content)


def completion_text(completion: Any) -> str:
    """A TRL completion as text: a string as is; a conversation (list of messages) as its contents joined."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content(completion.get("content"))
    if isinstance(completion, (list, tuple)):
        return "".join(_content(m.get("content")) if isinstance(m, dict) else str(m) for m in completion)
    raise TypeError(f"a completion must be a string or a list of messages, got {type(completion).__name__}")


def _prompt_texts(prompts: Any, n: int) -> Optional[List[str]]:
    # Only plain-text prompts are the text the model continued; for conversations the chat template (which may
    # prefill "<think>") is not known here, so the format check accepts either form.
    if prompts is None or len(prompts) != n:
        return None
    return [p if isinstance(p, str) else "" for p in prompts]


def _gold_column(kwargs: dict, column: Optional[str]) -> List[Any]:
    if column is not None:
        if column not in kwargs:
            raise ValueError(f"gold column {column!r} is not among the dataset columns {sorted(kwargs)}")
        return list(kwargs[column])
    for name in GOLD_COLUMNS:
        if name in kwargs:
            return list(kwargs[name])
    raise ValueError(f"no gold column: expected one of {list(GOLD_COLUMNS)} among the dataset columns "
                     f"{sorted(kwargs)}; use make_reward(column=...)")


def make_reward(kind: str = "math", column: Optional[str] = None, name: Optional[str] = None,
                missing: Any = None, **options: Any) -> Callable[..., List[Optional[float]]]:
    """A TRL reward function grading with ``kind`` (math, choice, code or a data source name) against the dataset
    column ``column`` (default: the first of answer, solution, ground_truth, gold, label). ``options`` are reward
    options (weights, language, max_length, ...). Missing rewards are ``missing`` (None: TRL ignores them)."""
    route(kind)
    opts = _options(dict(options)) if options else None
    unknown = set(options) - OPTION_KEYS
    if unknown:
        raise TypeError(f"make_reward: unknown options {sorted(unknown)} (known: {sorted(OPTION_KEYS)})")

    def reward(prompts: Any = None, completions: Any = None, **kwargs: Any) -> List[Optional[float]]:
        if completions is None:
            raise TypeError("a reward function needs completions=")
        texts = [completion_text(c) for c in completions]
        n = len(texts)
        golds = _gold_column(kwargs, column)
        if len(golds) != n:
            raise ValueError(f"{len(golds)} gold answers for {n} completions")
        infos = None
        extra_cols = [c for c in ("choices", "options") if c in kwargs]
        if extra_cols:
            infos = [{c: kwargs[c][i] for c in extra_cols} for i in range(n)]
        lengths = None
        ids = kwargs.get("completion_ids")
        if ids is not None and len(ids) == n:
            lengths = [len(x) for x in ids]
        out = scorer().score_batch(kind, texts, golds, infos, None, _prompt_texts(prompts, n), lengths, opts,
                                   True, False)
        return [missing if r is None else r for r in out["rewards"]]

    reward.__name__ = name or f"reval_{kind.replace('/', '_').replace('*', '')}_reward"
    reward.__qualname__ = reward.__name__
    return reward


math_reward = make_reward("math", name="math_reward")
math_reward.__doc__ = """TRL reward: reval's math grader against the dataset's answer/solution column -> 1.0 correct,
0.0 wrong, None when grading failed. Plain and conversational completions."""
choice_reward = make_reward("choice", name="choice_reward")
choice_reward.__doc__ = """TRL reward: reval's multiple-choice grader (letters; "choices"/"options" columns when
present) -> 1.0 / 0.0 / None."""
code_reward = make_reward("code", name="code_reward")
code_reward.__doc__ = """TRL reward: reval's sandboxed code grader; the gold column holds the tests (reval fields,
HumanEval test/entry_point or APPS inputs/outputs) -> 1.0 / 0.0 / None."""


def format_reward(prompts: Any = None, completions: Any = None, kind: str = "math", **kwargs: Any) -> List[float]:
    """TRL reward: 1.0 when the reasoning is closed by ``</think>`` (also after a prefilled ``<think>``) and the
    answer is marked (``\\boxed{}`` or ``Answer: X``; a fenced block for code), else 0.0."""
    if completions is None:
        raise TypeError("a reward function needs completions=")
    texts = [completion_text(c) for c in completions]
    ps = _prompt_texts(prompts, len(texts)) or [""] * len(texts)
    grader = route(kind)["grader"]
    return [float(_reval.check_format(t, grader, p)["score"]) for t, p in zip(texts, ps)]


def language_reward(prompts: Any = None, completions: Any = None, language: Any = None,
                    **kwargs: Any) -> List[float]:
    """TRL reward: the share of the reasoning's words in the target language's scripts, in [0, 1]. The target is
    ``language`` (a code like "en", "zh", or a script like "Latin"), else a per-row ``language`` dataset column,
    else English."""
    if completions is None:
        raise TypeError("a reward function needs completions=")
    texts = [completion_text(c) for c in completions]
    targets = language
    if targets is None:
        targets = kwargs.get("language", "en")
    if isinstance(targets, str):
        targets = [targets] * len(texts)
    if len(targets) != len(texts):
        raise ValueError(f"{len(targets)} languages for {len(texts)} completions")
    return [float(_reval.check_language(t, lang)["share"]) for t, lang in zip(texts, targets)]


def make_language_reward(language: str, name: Optional[str] = None) -> Callable[..., List[float]]:
    """``language_reward`` with a fixed target (TRL passes no extra arguments)."""
    _reval.check_language("", language)  # an unknown target fails now

    def reward(prompts: Any = None, completions: Any = None, **kwargs: Any) -> List[float]:
        kwargs.pop("language", None)
        return language_reward(prompts, completions, language, **kwargs)

    reward.__name__ = name or f"language_{language}_reward"
    reward.__qualname__ = reward.__name__
    return reward


def is_missing(value: Any) -> bool:
    """True for a missing reward (None or NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))
