"""The server's settings. The `pol serve` command builds them from its
arguments and hands them to each worker process through one environment
variable (uvicorn starts workers by importing the app factory), as JSON.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

ENV = "POL_SERVE_CONFIG"
PERIODS = ("day", "week", "month", "ever")


@dataclass(frozen=True)
class Challenger:
    version: str
    share_bp: int = 0          # basis points of keys routed to it (10% = 1000)
    shadow: bool = False       # evaluated and logged beside the champion, never answers


@dataclass(frozen=True)
class ServeConfig:
    target: str                                    # a policy file, or a folder of them
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    state_dir: str = "pol-serve-state"             # the ledger and, by default, the decision logs
    log_dir: str | None = None                     # default: STATE_DIR/decisions
    champions: dict[str, str] = field(default_factory=dict)          # policy -> version
    challengers: dict[str, Challenger] = field(default_factory=dict)  # policy -> challenger
    capacity_period: str = "day"
    max_body: int = 16 * 1024 * 1024               # bytes
    max_batch: int = 100_000                       # records in one batch
    watch: bool = True
    log_rotate_bytes: int = 64 * 1024 * 1024
    log_rotate_s: float = 60.0
    compile_in_subprocess: bool = True

    @property
    def decision_dir(self) -> str:
        return self.log_dir or os.path.join(self.state_dir, "decisions")

    @property
    def ledger_path(self) -> str:
        return os.path.join(self.state_dir, "ledger.sqlite")

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def from_env(text: str | None = None) -> ServeConfig:
        data = json.loads(text if text is not None else os.environ[ENV])
        data["challengers"] = {k: Challenger(**v) for k, v in data.get("challengers", {}).items()}
        return ServeConfig(**data)
