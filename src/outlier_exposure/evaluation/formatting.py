"""Numbers and tables as text: every table the toolkit prints or writes goes through here.

Results hold fractions; tables show percentages with two decimals, and "-" where a number is
missing (a set the paper did not report, a run not evaluated yet).
"""

from __future__ import annotations


def pct(value: float | None) -> str:
    """0.1234 -> '12.34'; None -> '-'."""
    return "-" if value is None else f"{100 * value:.2f}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell: the first left-aligned, the numbers right-aligned."""
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                         for i, (cell, w) in enumerate(zip(row, widths)))

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]) + "\n"
