"""The engine's configuration document: JSON (``.json``) or TOML (``.toml``), validated on load.

Every key has a default, so an empty document is a valid configuration. Unknown keys are an
error: a typo in a deployment must not silently fall back to a default.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and the fix."""


@dataclass(frozen=True)
class DatabaseConfig:
    required: bool = True
    service: str = "nearzero"
    check_interval_s: float = 5.0
    connect_timeout_s: int = 3


@dataclass(frozen=True)
class HealthConfig:
    listen: str = "127.0.0.1"
    port: int = 8095


@dataclass(frozen=True)
class MetricsConfig:
    """``/metrics`` on a second listener (the health port serves it on loopback anyway).

    ``listen`` empty: no second listener. Set it to the host's private address so a monitoring
    server can scrape the engine without the health endpoints leaving loopback.
    """

    listen: str = ""
    port: int = 9105


@dataclass(frozen=True)
class OrdersConfig:
    """The order path: one order every ``every_ticks`` turns of the trading loop (0: none).

    ``table`` empty: each order is a ``SELECT`` echoing its number (a round trip, nothing stored).
    Set: each order is a row ``(host, seq)`` inserted into that table (columns ``host text``,
    ``seq bigint``; created by the operator, the engine only inserts), so a drill can tell which
    engine wrote where.
    """

    every_ticks: int = 10
    table: str = ""


@dataclass(frozen=True)
class ThreadsConfig:
    """Where the engine's threads run and how they are scheduled (all optional).

    ``trading_cpu`` pins the trading loop's thread, ``service_cpu`` the health server and the
    database monitor (and the request threads they start); both must be CPUs the process may use
    (the unit's CPUAffinity). ``trading_fifo_priority`` 1-99 puts the trading thread under
    SCHED_FIFO (the unit's LimitRTPRIO must allow it); ``service_nice`` 0-19 runs the service
    threads as SCHED_BATCH, that much nicer than the trading thread (capped at 19), so they yield
    to it. Relative, because lowering a priority is always allowed and raising one is not: the
    process may start nicer already (the unit's Nice=, a nice'd shell).
    """

    trading_cpu: int | None = None
    service_cpu: int | None = None
    trading_fifo_priority: int = 0
    service_nice: int = 0


@dataclass(frozen=True)
class EngineConfig:
    tick_ms: int = 100
    # active: trades (emits orders). standby: a regional standby, ready and read-only: its database
    # sessions are read-only (default_transaction_read_only), it emits no order, and it is ready as
    # soon as its database answers, replica or primary (the role README's engine contract).
    mode: str = "active"
    state_dir: str = ""
    health: HealthConfig = field(default_factory=HealthConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    threads: ThreadsConfig = field(default_factory=ThreadsConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    orders: OrdersConfig = field(default_factory=OrdersConfig)
    # sha256 of the document's bytes as read (set by load(), reported on /healthz and /version so a
    # deployment can tell whether the running process loaded the file that is on disk now)
    digest: str = ""


_SECTIONS = {"health": HealthConfig, "database": DatabaseConfig, "threads": ThreadsConfig, "metrics": MetricsConfig,
             "orders": OrdersConfig}
_TOP = {"tick_ms": int, "state_dir": str, "mode": str}
_TYPES = {
    HealthConfig: {"listen": str, "port": int},
    DatabaseConfig: {"required": bool, "service": str, "check_interval_s": (int, float), "connect_timeout_s": int},
    ThreadsConfig: {"trading_cpu": int, "service_cpu": int, "trading_fifo_priority": int, "service_nice": int},
    MetricsConfig: {"listen": str, "port": int},
    OrdersConfig: {"every_ticks": int, "table": str},
}


def _typed(where: str, value, expected):
    # bool is an int in Python: refuse true/false where a number is expected, and vice versa.
    kinds = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in kinds:
        raise ConfigError(f"{where} must be a number, not {value!r}")
    if not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(f"{where} must be of type {names}, not {type(value).__name__} ({value!r})")
    return value


def parse(document: dict, source: str = "config") -> EngineConfig:
    """Build an EngineConfig from a decoded document; raise ConfigError naming the bad key."""
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: the document must be a table/object at the top level")
    top: dict = {}
    for key, value in document.items():
        if key in _SECTIONS:
            cls = _SECTIONS[key]
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: [{key}] must be a table/object")
            section = {}
            for sub, subval in value.items():
                if sub not in _TYPES[cls]:
                    raise ConfigError(f"{source}: unknown key {key}.{sub} (known: {', '.join(sorted(_TYPES[cls]))})")
                section[sub] = _typed(f"{source}: {key}.{sub}", subval, _TYPES[cls][sub])
            top[key] = cls(**section)
        elif key in _TOP:
            top[key] = _typed(f"{source}: {key}", value, _TOP[key])
        else:
            known = sorted([*_TOP, *_SECTIONS])
            raise ConfigError(f"{source}: unknown key {key!r} (known: {', '.join(known)})")
    cfg = EngineConfig(**top)
    if not 1 <= cfg.health.port <= 65535:
        raise ConfigError(f"{source}: health.port must be 1-65535, not {cfg.health.port}")
    if not 1 <= cfg.metrics.port <= 65535:
        raise ConfigError(f"{source}: metrics.port must be 1-65535, not {cfg.metrics.port}")
    if cfg.orders.every_ticks < 0:
        raise ConfigError(f"{source}: orders.every_ticks must be 0 (no orders) or more, not {cfg.orders.every_ticks}")
    if cfg.mode not in ("active", "standby"):
        raise ConfigError(f"{source}: mode must be 'active' (trades) or 'standby' (ready, read-only, no orders), "
                          f"not {cfg.mode!r}")
    if cfg.orders.table and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", cfg.orders.table):
        raise ConfigError(f"{source}: orders.table must be a plain lowercase table name (letters, digits, _), "
                          f"not {cfg.orders.table!r}")
    if cfg.tick_ms < 1:
        raise ConfigError(f"{source}: tick_ms must be at least 1, not {cfg.tick_ms}")
    if cfg.database.check_interval_s <= 0 or cfg.database.connect_timeout_s < 1:
        raise ConfigError(f"{source}: database.check_interval_s must be > 0 and database.connect_timeout_s >= 1")
    threads = cfg.threads
    for key in ("trading_cpu", "service_cpu"):
        cpu = getattr(threads, key)
        if cpu is not None and cpu < 0:
            raise ConfigError(f"{source}: threads.{key} must be a CPU number (0 or more), not {cpu}. "
                              "Fix: name one of the CPUs the unit gives the engine (its CPUAffinity)")
    if not 0 <= threads.trading_fifo_priority <= 99:
        raise ConfigError(f"{source}: threads.trading_fifo_priority must be 0 (no SCHED_FIFO) to 99, "
                          f"not {threads.trading_fifo_priority}")
    if not 0 <= threads.service_nice <= 19:
        raise ConfigError(f"{source}: threads.service_nice must be 0-19 (it can only lower the service threads), "
                          f"not {threads.service_nice}")
    return cfg


def load(path: str | Path) -> EngineConfig:
    """Read and validate the document at ``path``: TOML when it ends in ``.toml``, JSON otherwise."""
    path = Path(path)
    toml = path.suffix == ".toml"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration {path}: {exc.strerror}. "
                          "Fix: pass --config with the path the deployment wrote.") from None
    try:
        document = tomllib.loads(raw.decode()) if toml else json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid {'TOML' if toml else 'JSON'}: {exc}") from None
    return replace(parse(document, str(path)), digest=hashlib.sha256(raw).hexdigest())
