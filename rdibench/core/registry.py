"""A small generic name -> object registry that refuses duplicates, suggests close names, and finds plugins."""

from __future__ import annotations

import difflib
import fnmatch
import importlib.metadata
import logging
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from rdibench.core.errors import ConfigError, UnknownNameError

T = TypeVar("T")
log = logging.getLogger(__name__)


class Registry(Generic[T]):
    """Maps names to objects (constructors, classes), merging built-ins, in-process registrations and plugins.

    Why: every pluggable family (models, attacks, objectives, importers) is looked up by the name a
    user writes in a suite, so a typo must fail with the allowed names, never fall back silently.
    With ``group``, installed packages add entries through that entry-point group (``[project.entry-points.
    "rdibench.models"] my_net = "my_pkg.nets:build"``): the group is listed once, on the first lookup that
    misses or the first listing, and an entry point is loaded only when its name is asked for, so listing
    stays cheap and a broken plugin breaks only its own name.
    """

    def __init__(self, kind: str, *, group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._items: dict[str, T] = {}
        self._plugins: dict[str, importlib.metadata.EntryPoint] | None = None

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name`` (default: its ``__name__``)."""

        def deco(obj: T) -> T:
            key = name or getattr(obj, "__name__", None)
            if not key:
                raise ConfigError(f"cannot register an unnamed {self.kind}")
            if key in self._items:
                raise ConfigError(f"{self.kind} {key!r} is registered twice")
            self._items[key] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        if name in self._items:
            return self._items[name]
        entry = self._entry_points().get(name)
        if entry is None:
            raise UnknownNameError(self.unknown_message(name))
        try:
            obj = entry.load()
        except Exception as e:  # a plugin's import error is the plugin's, reported under its name
            dist = f" (package {entry.dist.name})" if entry.dist else ""
            raise ConfigError(
                f"{self.kind} {name!r} from entry point {self.group}: {entry.value}{dist} failed to load: "
                f"{type(e).__name__}: {e}"
            ) from e
        self._items[name] = obj
        return obj

    def _entry_points(self) -> dict[str, importlib.metadata.EntryPoint]:
        """The group's entry points, listed once (nothing is imported); a name already registered keeps its
        registration and the plugin's is ignored, with a warning."""
        if self._plugins is None:
            found = importlib.metadata.entry_points(group=self.group) if self.group else ()
            self._plugins = {}
            for ep in found:
                if ep.name in self._items:
                    log.warning(
                        "%s %r of entry point %s = %s is ignored: the name is taken",
                        self.kind,
                        ep.name,
                        self.group,
                        ep.value,
                    )
                else:
                    self._plugins[ep.name] = ep
        return self._plugins

    def _all_names(self) -> set[str]:
        return {*self._items, *self._entry_points()}

    def unknown_message(self, name: str) -> str:
        known = self._all_names()
        close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} {name!r}.{hint} Allowed: {', '.join(sorted(known))}."

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._all_names() if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._items or (isinstance(name, str) and name in self._entry_points())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
