"""Loader for tiny_mc.yaml: four fixed items built in memory."""
import datasets


def loader(**kwargs):
    items = [{"question": f"Is {a} more than {b}? Answer:", "choices": [" yes", " no"], "gold": int(a <= b)}
             for a, b in [(3, 1), (1, 3), (5, 2), (2, 7)]]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(items)})
