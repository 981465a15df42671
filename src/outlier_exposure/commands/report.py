"""`oe report`: evaluated runs side by side in Markdown, CSV, JSON (and LaTeX), with figures."""

from __future__ import annotations

from ._common import add_parser


def register(sub) -> None:
    p = add_parser(sub, "report",
                   "compare evaluated runs: tables with the paper's numbers, settings, figures",
                   run)
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="run folders evaluated by `oe eval`, or `oe quickstart` output folders")
    p.add_argument("--out", help="report folder (default: RUN/report for an `oe quickstart` "
                                 "folder, else report/ beside the first run)")
    p.add_argument("--labels", nargs="+", metavar="LABEL",
                   help="one name per run, in order (default: the run folders' names)")
    p.add_argument("--latex", action="store_true", help="also write report.tex (booktabs tables)")
    p.add_argument("--no-figures", action="store_true", help="tables only, no figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar over the figures")


def run(args) -> int:
    from ..reporting.report import write_report

    rep = write_report(args.runs, args.out, labels=args.labels, latex=args.latex,
                       with_figures=not args.no_figures, progress=not args.quiet)
    for line in rep.differences:
        print(f"note: runs differ in {line}")
    written = [rep.markdown, rep.csv, rep.json] + ([rep.latex] if rep.latex else [])
    print(f"report: {rep.markdown}")
    made = f"{len(rep.figures)} figures in {rep.folder / 'figures'}" if rep.figures else "no figures"
    print(f"written: {', '.join(p.name for p in written[1:])} in {rep.folder}; {made}")
    return 0
