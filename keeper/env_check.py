"""Unknown ``KEEPER_*`` environment variables are configuration errors, not silent defaults.

pydantic-settings ignores an environment variable that matches no field, so a typo such as
``KEEPER_DRYRUN=true`` or ``KEEPER_PRIVAT_KEY=...`` would run with the default (a real send, or
no key). Unknown keys in the TOML file are already errors; this makes the environment as strict.
Only names with the ``KEEPER_`` prefix count: CI and developer shells set plenty of others.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from keeper.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

PREFIX = "KEEPER_"
# Read outside the settings object (before settings exist, or by the devnet toolchain).
OUTSIDE_SETTINGS = {
    "KEEPER_ANVIL_BIN": "the Anvil binary for shadow mode and the devnet",
    "KEEPER_NODE_MODULES": "the node_modules folder with the pinned npm packages",
}


def unknown_variables(environ: Mapping[str, str], fields: Iterable[str]) -> list[str]:
    """The ``KEEPER_*`` names in ``environ`` that are neither a setting nor a known extra.

    Matching is case-insensitive, as pydantic-settings reads the variables.
    """
    known = {PREFIX + f.upper() for f in fields} | set(OUTSIDE_SETTINGS)
    return sorted(n for n in environ if n.upper().startswith(PREFIX) and n.upper() not in known)


def nearest(name: str, fields: Iterable[str]) -> str | None:
    """The known name closest to ``name`` (a setting as spelled in the file, or an extra)."""
    bare = name.upper().removeprefix(PREFIX).lower()
    candidates = {f: f for f in fields} | {
        k.removeprefix(PREFIX).lower(): k for k in OUTSIDE_SETTINGS
    }
    # A dropped or added underscore is the commonest slip: compare without them too.
    squashed = {c.replace("_", ""): c for c in candidates}
    if bare.replace("_", "") in squashed:
        return candidates[squashed[bare.replace("_", "")]]
    found = difflib.get_close_matches(bare, list(candidates), n=1, cutoff=0.6)
    return candidates[found[0]] if found else None


def check_environment(environ: Mapping[str, str], fields: Iterable[str]) -> None:
    """Raise ConfigError naming every unknown ``KEEPER_*`` variable and its nearest setting."""
    names = list(fields)
    unknown = unknown_variables(environ, names)
    if not unknown:
        return
    problems = []
    for name in unknown:
        guess = nearest(name, names)
        if guess is None:
            hint = "no setting is spelled like it"
        elif guess.startswith(PREFIX):
            hint = f"did you mean {guess}?"
        else:
            hint = f"did you mean {guess} (KEEPER_{guess.upper()})?"
        problems.append(f"{name}: unknown KEEPER_ variable, {hint}")
    raise ConfigError(
        "invalid configuration: "
        + "; ".join(problems)
        + " (remove the variable or fix its name; see the settings table in README.md)"
    )
