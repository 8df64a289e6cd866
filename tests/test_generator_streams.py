"""Items come from one seeded stream per (subtask, level, seed, split), kept per process and
extended on demand: whatever the order of requests, n items are the first n of a fresh
generation, and callers cannot change what later callers get."""
import pytest

from kbit_tasks.generators import base, content_hash, generate


@pytest.fixture(autouse=True)
def fresh_streams(monkeypatch):
    monkeypatch.setattr(base, "_STREAMS", {})


def _fresh(*args, **kwargs):
    base._STREAMS.clear()
    items = generate(*args, **kwargs)
    base._STREAMS.clear()
    return items


@pytest.mark.parametrize("family,subtask,level", [("logical", "rules", 2), ("causal", "intervention", 1),
                                                  ("inductive", "property", 3)])
def test_any_order_of_requests_gives_the_fresh_items(family, subtask, level):
    whole = _fresh(family, subtask, level, 40)
    # 7 and 20 cut a block of three or four gold positions in the middle
    for n in (7, 40, 20, 3, 40):
        assert content_hash(generate(family, subtask, level, n)) == content_hash(whole[:n])
    assert generate(family, subtask, level, 20, split="train") == _fresh(family, subtask, level, 20, split="train")
    assert generate(family, subtask, level, 20, seed=1) != whole[:20]


def test_returned_items_are_the_callers_own():
    items = generate("logical", "rules", 1, 5)
    items[0]["question"] = "edited"
    items[1]["choices"].append("Maybe")
    again = generate("logical", "rules", 1, 5)
    assert again == _fresh("logical", "rules", 1, 5)
    assert again[0]["question"] != "edited" and len(again[1]["choices"]) == 3


def test_a_failed_request_leaves_no_half_stream():
    """A space of three questions: asking for five fails with the usual error, and the next
    request starts from the seed again instead of from wherever the failure left the generator."""
    space = [q for q in (f"Question {i}?" for i in range(100)) if base.question_split(q) == "eval"][:3]

    def make(s, target):
        return s.rng.choice(space), ["A", "B"], target, 1

    sub = base.Subtask("toy", "three", (1,), 2, make)
    first = base.build(sub, 1, 2, 0, "eval")
    with pytest.raises(ValueError, match="only 3 distinct items"):
        base.build(sub, 1, 5, 0, "eval")
    assert ("toy", "three", 1, 0, 0, "eval") not in base._STREAMS
    assert base.build(sub, 1, 2, 0, "eval") == first


def test_items_already_made_are_not_made_again():
    calls = []

    def make(s, target):
        calls.append(target)
        return f"Question {s.rng.random()}?", ["A", "B"], target, 1

    sub = base.Subtask("toy", "counted", (1,), 2, make)
    first = base.build(sub, 1, 30, 0, "train")
    made = len(calls)
    assert base.build(sub, 1, 30, 0, "train") == first and base.build(sub, 1, 10, 0, "train") == first[:10]
    assert len(calls) == made  # served from the stream
    base.build(sub, 1, 31, 0, "train")
    assert len(calls) > made  # one more item: the stream goes on from where it stopped
