"""Extension points of the library, found through Python entry points.

``translate`` sits at the bottom of the dependency rule (training -> translate <- serving): it
never imports the trainer or the server. The packages above it register what they add in their
``pyproject.toml`` entry points, and this module finds them at run time:

- ``translate.commands``: subcommand modules, each with ``HELP`` (one line),
  ``add_arguments(parser)`` and ``main(args) -> int`` (``train``, ``serve``, ...);
- ``translate.remote``: processors that do the work through a running server instead of a local
  model (``translate`` for ``translate run --server``, ``generate`` for ``translate generate --server``);
- ``translate.methods``: each entry is a mapping ``method name -> training method class``; tools
  that need to know a method's data layout (``translate data check --method``) read it here.

A plugin whose optional dependencies are missing raises :class:`PluginUnavailableError`, which
says what to install, instead of an ImportError from deep inside the plugin.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from translate.errors import ConfigError

COMMANDS_GROUP = "translate.commands"
REMOTE_GROUP = "translate.remote"
METHODS_GROUP = "translate.methods"
INSTALL_HINT = "install the extras with `pip install 'translate[all]'`"


class PluginUnavailableError(ConfigError):
    """A registered plugin cannot be loaded (usually: its optional dependencies are not installed)."""


def registered(group: str) -> dict[str, EntryPoint]:
    """Entry points of ``group`` by name (sorted by name, so listings are stable)."""
    return {ep.name: ep for ep in sorted(entry_points(group=group), key=lambda ep: ep.name)}


def load(entry: EntryPoint, what: str):
    """Import what ``entry`` names; a missing dependency becomes a PluginUnavailableError naming ``what``."""
    try:
        return entry.load()
    except ImportError as exc:
        raise PluginUnavailableError(f"{what} needs a package that is not installed ({exc}); {INSTALL_HINT}") from exc


def commands() -> dict[str, EntryPoint]:
    """Subcommands other packages add to ``translate`` (name -> entry point, not yet imported)."""
    return registered(COMMANDS_GROUP)


def remote(name: str):
    """The remote processor class registered as ``name`` in ``translate.remote``."""
    entries = registered(REMOTE_GROUP)
    if name not in entries:
        raise PluginUnavailableError(f"no remote processor {name!r} is registered (is the server package "
                                     f"installed?); {INSTALL_HINT}")
    return load(entries[name], f"--server ({name})")


def methods() -> dict[str, type]:
    """Training methods by name, merged from every ``translate.methods`` entry point."""
    found: dict[str, type] = {}
    for name, entry in registered(METHODS_GROUP).items():
        found.update(load(entry, f"training methods ({name})"))
    return found
