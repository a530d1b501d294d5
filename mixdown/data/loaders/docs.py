"""The label -> role tables of the loaders as Markdown, for ``docs/data.md`` (``tests`` check they agree).

Print them with ``python -m mixdown.data.loaders.docs``.
"""

from __future__ import annotations

from mixdown.data.loaders.enst_drums import ENST_ROLES
from mixdown.data.loaders.medleydb import MEDLEYDB_ROLES
from mixdown.data.loaders.moisesdb import MOISES_ROLES, MOISES_STEM_ROLES
from mixdown.data.loaders.musdb18 import MUSDB_ROLES
from mixdown.data.loaders.slakh2100 import SLAKH_ROLES

__all__ = ["ROLE_TABLES", "role_tables_markdown"]

ROLE_TABLES = {
    "MUSDB18 stems": MUSDB_ROLES,
    "ENST-Drums microphones (`tom_N` -> `toms`)": ENST_ROLES,
    "MedleyDB instrument labels": MEDLEYDB_ROLES,
    "MoisesDB track types": MOISES_ROLES,
    "MoisesDB stem names (fallback for an unknown track type)": MOISES_STEM_ROLES,
    "Slakh2100 `inst_class` (General MIDI class; guitar programs 24-25 -> `acoustic_guitar`)": SLAKH_ROLES,
}


def role_tables_markdown() -> str:
    """One ``| role | labels |`` table per dataset, roles sorted, labels sorted within a role."""
    blocks = []
    for title, mapping in ROLE_TABLES.items():
        by_role: dict[str, list[str]] = {}
        for label, role in mapping.items():
            by_role.setdefault(role, []).append(label)
        rows = "\n".join(f"| `{role}` | {', '.join(sorted(by_role[role]))} |" for role in sorted(by_role))
        blocks.append(f"#### {title}\n\n| role | labels |\n|---|---|\n{rows}\n")
    return "\n".join(blocks)


if __name__ == "__main__":
    print(role_tables_markdown(), end="")
