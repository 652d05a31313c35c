"""Which version answers a customer.

In order: the version a request pins; else, when the policy has a
challenger with a share, the challenger for the keys whose stable hash
falls in the share; else the champion: the version named by `--champion`,
or the greatest version loaded (versions compared as numbers where they are
numbers: "2026.12" after "2026.9"). A shadow challenger never answers; it
is decided beside the champion and logged apart.

The hash is FNV-1a 64 of "route:POLICY:KEY" (the key as text, as holdouts
hash it, docs/LANGUAGE.md section 6.5), so a customer stays in one arm
across requests, restarts and workers, and the split is independent of any
offer's holdout group (which hashes "OFFER:KEY").
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pol.reference.matching import fnv1a64, key_text
from pol.serve.config import Challenger
from pol.serve.registry import Loaded


@dataclass(frozen=True)
class Route:
    answer: Loaded
    arm: str                        # "pinned", "champion" or "challenger"
    shadow: Loaded | None = None


def version_order(v: str | None):
    parts = re.split(r"(\d+)", v or "")
    return (v is not None, [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts])


def in_share(policy: str, key, share_bp: int) -> bool:
    if key is None or share_bp <= 0:
        return False
    return fnv1a64(f"route:{policy}:{key_text(key)}".encode()) % 10000 < share_bp


class Router:
    def __init__(self, champions: dict[str, str], challengers: dict[str, Challenger]):
        self.champions = champions
        self.challengers = challengers
        self._champion: dict[str, tuple[dict, Loaded]] = {}

    def champion(self, name: str, versions: dict) -> Loaded:
        # Kept per snapshot's dict of versions: a new snapshot is a new dict.
        hit = self._champion.get(name)
        if hit is not None and hit[0] is versions:
            return hit[1]
        champion = self._choose(name, versions)
        self._champion[name] = (versions, champion)
        return champion

    def _choose(self, name: str, versions: dict) -> Loaded:
        wanted = self.champions.get(name)
        if wanted is not None and wanted in versions:
            return versions[wanted]
        challenger = self.challengers.get(name)
        # Left to itself, the default is the greatest version that is not the challenger.
        pool = [v for v in versions if challenger is None or v != challenger.version] or list(versions)
        return versions[max(pool, key=version_order)]

    def route(self, name: str, versions: dict, key, version: str | None, pinned: bool) -> Route:
        if pinned:
            return Route(versions[version], "pinned")
        champion = self.champion(name, versions)
        c = self.challengers.get(name)
        if c is None or c.version not in versions or versions[c.version] is champion:
            return Route(champion, "champion")
        challenger = versions[c.version]
        if c.shadow:
            return Route(champion, "champion", shadow=challenger)
        if in_share(name, key, c.share_bp):
            return Route(challenger, "challenger")
        return Route(champion, "champion")

    def describe(self, name: str, versions: dict) -> dict:
        c = self.challengers.get(name)
        champion = self.champion(name, versions)
        out = {"champion": champion.version}
        if c is not None and c.version in versions and versions[c.version] is not champion:
            out["challenger"] = {"version": c.version, "share": c.share_bp / 100, "shadow": c.shadow}
        return out
