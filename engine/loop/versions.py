"""The versions a what-if compares: policies (loaded or by file) with their
params -> `Version`s with a readable label each, and the one input view
that feeds them all.

In: the policies in the order given (the first is the base every other is
compared with), params shared by all versions or given per version.
Out: `Version` (index from 1, the loaded policy, its resolved params, a
label unique among the versions) and `UnionInput`, the union of the
versions' input fields, which the input readers (engine/io/input_files.py)
take in place of one program so that a file is read once for all versions.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from pol.errors import ArgumentError, DataError, ParamError


@dataclass
class Version:
    index: int                      # 1 is the base
    policy: object                  # pol.Policy
    params: dict                    # every declared param, resolved
    overrides: dict = field(default_factory=dict)     # what was given (text or values)
    label: str = ""

    @property
    def columns(self) -> list[str]:
        return self.policy.columns

    def describe(self) -> dict:
        """The version as summary.json and the report show it."""
        p = self.policy
        return {"index": self.index, "label": self.label, "policy": p.name, "version": p.version,
                "file": p.path, "params": {k: _jsonable(v) for k, v in self.params.items()}}


def _jsonable(v):
    return v.isoformat() if isinstance(v, dt.date) else v


def load_versions(policies, params=None) -> list[Version]:
    """`policies`: pol.Policy objects or policy files, at least two.
    `params`: None, one dict for every version (a name applies to the
    versions that declare it and must be declared by one), or a list with a
    dict (or None) per version."""
    from pol.api.params import resolve_params
    from pol.api.policy import Policy, load
    if isinstance(policies, (str, Path, Policy)) or len(policies) < 2:
        raise ArgumentError("a diff needs two policies or more (the first is the base)", argument="policies")
    loaded = [p if isinstance(p, Policy) else load(p) for p in policies]
    for p in loaded:
        if p.program.population is not None:
            # the versions' outputs are compared row by row; one that leaves rows out breaks the alignment
            raise ArgumentError(f"policy '{p.name}' states a population (LANGUAGE.md 3.14), which a diff does "
                                "not compare yet: diff the policies without their population statements",
                                argument="policies")
    per_version = _split_params(params, len(loaded))
    versions = []
    for k, (policy, given) in enumerate(zip(loaded, per_version), 1):
        versions.append(Version(k, policy, resolve_params(policy.program, given), given))
    _label(versions)
    return versions


def _split_params(params, n: int) -> list[dict]:
    if params is None:
        return [{} for _ in range(n)]
    if isinstance(params, dict):
        return [dict(params) for _ in range(n)]
    if isinstance(params, (list, tuple)) and len(params) == n:
        return [dict(p or {}) for p in params]
    raise ArgumentError(f"params must be a dict for every version or a list of {n} dicts, one per version",
                        argument="params")


def shared_and_own(programs, shared: dict, own: dict[int, dict]) -> list[dict]:
    """The CLI's params per version: a shared NAME=VALUE goes to every
    version that declares NAME (an error if none does); `own[k]` to version k only."""
    out = []
    for k, program in enumerate(programs, 1):
        declared = {p.name for p in program.params}
        mine = {n: v for n, v in shared.items() if n in declared}
        mine.update(own.get(k, {}))
        out.append(mine)
    for name in shared:
        if not any(name in {p.name for p in program.params} for program in programs):
            raise ParamError(f"unknown param '{name}': no version declares it", param=name)
    return out


def _label(versions: list[Version]) -> None:
    """'name version', then what tells versions apart where that is not
    enough: the file, the params that differ from the base's, the number."""
    base = versions[0]
    for v in versions:
        p = v.policy
        v.label = f"{p.name} {p.version}" if p.version else p.name
    for v in versions:
        same = [w for w in versions if w.label == v.label]
        if len(same) < 2:
            continue
        files = {w.policy.path for w in same}
        for w in same:
            extra = []
            if len(files) > 1 and w.policy.path:
                extra.append(Path(w.policy.path).name)
            changed = [f"{k}={_text(x)}" for k, x in w.params.items()
                       if k not in base.params or base.params[k] != x]
            if changed and w is not base:
                extra.append(", ".join(changed))
            if extra:
                w.label += " (" + "; ".join(extra) + ")"
    seen: dict[str, int] = {}
    for v in versions:
        seen[v.label] = seen.get(v.label, 0) + 1
    for v in versions:
        if seen[v.label] > 1:
            v.label = f"#{v.index} {v.label}"


def _text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return _jsonable(v) if not isinstance(v, float) else f"{v:g}"


class _InputBlock:
    def __init__(self, fields: dict, key: str):
        self.fields = list(fields.values())
        self.key = key
        self._by_name = fields

    def field(self, name: str):
        return self._by_name[name]


class UnionInput:
    """Every input field any version reads, with one type each: what the
    input readers need of a program (`input.fields`, `input.field`,
    `input.key`) to read a file once for all the versions. Two versions
    declaring one field with different types cannot share a column."""

    def __init__(self, versions: list[Version]):
        fields: dict = {}
        owner: dict[str, int] = {}
        for v in versions:
            for f in v.policy.program.input.fields:
                if f.name in fields and fields[f.name].type != f.type:
                    raise DataError(f"field '{f.name}' is {fields[f.name].type} in version {owner[f.name]} and "
                                    f"{f.type} in version {v.index}: one input column cannot be both",
                                    column=f.name)
                if f.name not in fields or (f.nullable and not fields[f.name].nullable):
                    fields[f.name] = f
                owner.setdefault(f.name, v.index)
        self.input = _InputBlock(fields, versions[0].policy.program.input.key)
        self.columns = list(fields)
