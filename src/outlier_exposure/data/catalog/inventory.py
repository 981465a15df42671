"""The text `oe datasets` prints: every registered dataset, its state, size, place and source."""

from __future__ import annotations

from ..storage.roots import resolve_data_root
from . import registry


def human_size(n: int) -> str:
    if n <= 0:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def inventory(verify: bool = False) -> list[registry.Status]:
    return [registry.status(name, verify=verify) for name in registry.datasets()]


def inventory_text(statuses: list[registry.Status], verify: bool = False) -> str:
    """A table (name, state, size, splits, folder), then what to do about each set not ready."""
    public, public_from = resolve_data_root(shared=False)
    shared, shared_from = resolve_data_root(shared=True)
    lines = [
        f"data root: {public} ({public_from}); offline sets: {shared} ({shared_from})",
        "checksums: " + ("re-computed (--verify)" if verify else
                         "not checked here (add --verify); loading checks them"),
        "",
    ]
    header = ("name", "state", "size", "splits", "location")
    rows = []
    for st in statuses:
        ds = registry.get(st.name)
        splits = ", ".join(f"{s}*" if s == ds.default_split else s for s in ds.splits)
        rows.append((st.name, st.state, human_size(st.size), splits, str(st.folder)))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4])
    lines.append("(* = the split a spec without one gets, e.g. `svhn` = svhn:test)")

    todo = [st for st in statuses if st.state in ("missing", "partial", "bad checksum")]
    if todo:
        lines += ["", "To get the missing ones:"]
        for st in todo:
            detail = ""
            if st.state == "bad checksum":
                detail = f" Bad: {'; '.join(st.bad)}; delete those files, then"
            elif st.state == "partial":
                detail = f" Has {', '.join(st.splits_present)}; lacks {', '.join(st.missing)}."
            lines.append(f"  {st.name}:{detail} {registry.how_to_get(st.name)}")
    if verify:
        unverified = [f"{st.name} ({', '.join(st.unverified)})" for st in statuses if st.unverified]
        if unverified:
            lines += ["", "Present but without a published checksum (not verifiable): " + "; ".join(unverified)]
    return "\n".join(lines)
