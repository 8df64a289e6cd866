"""A generic learned probe that cannot chain facts: a linear model over what the surface offers.

Each (item, choice) pair becomes a bag of features: delexicalized n-grams of the question crossed
with which answer the choice is (a question-only classifier for Yes/No-style tasks), the
choice's relations to the question (is it mentioned, on how many lines, how far from the query,
the n-grams of the lines that mention it) and the generic cue keys. A logistic regression
learns on training-split items which pairs are gold; on evaluation items the best-scored choice
is picked. Features never link two statements, so whatever it reaches above chance is a
shortcut (the hypothesis-only baseline of the annotation-artifact literature).
"""
from __future__ import annotations

import numpy as np

from .cues import GENERIC
from .text import choice_identity, choice_pattern, context_and_query, delex_tokens, mentions, ngrams

# The cheap-question-feature cues are already covered by the crossed n-grams.
CUE_FEATURES = tuple(c for c in GENERIC if "x answer" not in c.name)


def features(item: dict, i: int) -> dict[str, float]:
    """The bag of surface features of choice i of an item."""
    choice = item["choices"][i]
    answer = choice_identity(item, i)
    names: dict[str, str] = {}
    question = delex_tokens(item["question"], names)
    out = {f"answer={answer}": 1.0}
    for g in set(ngrams(question)):
        out[f"{answer}|{g}"] = 1.0
    context, query = context_and_query(item["question"])
    where = [j for j, x in enumerate(context) if mentions(x, choice)]
    out[f"lines={min(len(where), 6)}"] = 1.0
    out[f"in_query={mentions(query, choice)}"] = 1.0
    if where:
        out[f"first_from_query={min(len(context) - where[0], 8)}"] = 1.0
        out[f"last_from_query={min(len(context) - where[-1], 8)}"] = 1.0
    for j in where:
        for g in set(ngrams(delex_tokens(choice_pattern(choice).sub(" CHOICE ", context[j]), dict(names)), 3)):
            out[f"line|{g}"] = out.get(f"line|{g}", 0.0) + 1.0
    for cue in CUE_FEATURES:
        out[f"{cue.name}={cue.key(item, i)}"] = 1.0
    return out


def _pairs(items):
    return [features(it, i) for it in items for i in range(len(it["choices"]))]


def probe_accuracy(train: list[dict], test: list[dict], C: float = 1.0, forest: bool = False) -> float:
    """Train on `train` items, score on `test` items: mean credit of the argmax choice (ties
    split evenly, as in `cues.accuracy`). `forest`: a random forest on the same features instead
    of the linear model, so that a reading that needs two features at once is learnable too."""
    try:  # scikit-learn is an extra: kbit installs without it
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(f"the shortcut battery's learned probe needs scikit-learn ({err}); "
                                  "install it with: pip install 'kbit[battery]'") from None
    vec = DictVectorizer()
    x = vec.fit_transform(_pairs(train))
    y = np.array([i == it["gold"] for it in train for i in range(len(it["choices"]))])
    if forest:
        model = RandomForestClassifier(n_estimators=300, min_samples_leaf=3, random_state=0).fit(x, y)
        scores = model.predict_proba(vec.transform(_pairs(test)))[:, 1]
    else:
        model = LogisticRegression(C=C, max_iter=2000).fit(x, y)
        scores = model.decision_function(vec.transform(_pairs(test)))
    total, at = 0.0, 0
    for it in test:
        s = scores[at:at + len(it["choices"])]
        at += len(it["choices"])
        best = np.flatnonzero(s == s.max())
        total += (it["gold"] in best) / len(best)
    return total / len(test)
