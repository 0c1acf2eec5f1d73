"""What the tampered-file fuzz tests write into a JSON document: each leaf, each bad value."""

import math

#: The bad values each leaf is set to, by kind.
VALUES = {"wrong type": "x", "nan": math.nan, "negative": -1, "huge": 10**12}


def leaves(node, path=()):
    """The key paths of ``node``'s leaves (the first 3 items of a list)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, (*path, k))
    elif isinstance(node, list) and node:
        for i, v in enumerate(node[:3]):
            yield from leaves(v, (*path, i))
    else:
        yield path
