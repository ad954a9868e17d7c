"""A small union-find over string keys (path halving, union by size)."""

from __future__ import annotations


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.size: dict[str, int] = {}

    def find(self, key: str) -> str:
        parent = self.parent
        if key not in parent:
            parent[key] = key
            self.size[key] = 1
            return key
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def union(self, first: str, *others: str) -> str:
        """Join ``first`` and ``others`` into one set; returns its root."""
        root = self.find(first)
        for other in others:
            r = self.find(other)
            if r == root:
                continue
            if self.size[r] > self.size[root]:
                root, r = r, root
            self.parent[r] = root
            self.size[root] += self.size[r]
        return root
