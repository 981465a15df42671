"""The types a results record must have before anything reads it (`Results.from_dict` calls
`check_record`).

A results.json may be damaged or edited by hand; the tables, reports and figures index its
metrics directly, so a wrong type there would surface as a traceback deep in a report. Checked
here once, each failure named by file and key.
"""

from __future__ import annotations


from ..errors import UserInputError
from ..training.records import is_int, is_number

PAPER_METRICS = ("fpr", "fpr_std", "auroc", "auroc_std", "aupr", "aupr_std")
OPENOOD_METRICS = ("auroc", "fpr", "aupr_in", "aupr_out")  # openood_tables.COLUMNS
MEAN_METRICS = ("fpr", "auroc", "aupr")
TEXT_FIELDS = ("run", "task", "in_dist", "model", "mode", "loss", "protocol", "positive", "rule",
               "draw_size", "precision", "unit")
INT_FIELDS = ("draws", "ratio", "seed", "n_test")
NUMBER_FIELDS = ("recall_level", "test_perplexity")
DICT_FIELDS = ("score_params", "skipped")
FIX = "it is damaged or was edited: evaluate the run again with `oe eval RUN`"


def check_record(data: dict, source: str) -> None:
    """Refuse a results record whose fields do not have the types the readers rely on."""
    def bad(key: str, what: str) -> UserInputError:
        return UserInputError(f"{source}: {key} = {_short(data.get(key))} is not {what}; {FIX}")

    if not isinstance(data.get("score"), str):
        raise bad("score", "a score name")
    if not is_number(data.get("test_error")):
        raise bad("test_error", "a number")
    for key in TEXT_FIELDS:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise bad(key, "text")
    for key in INT_FIELDS:
        if data.get(key) is not None and not is_int(data[key]):
            raise bad(key, "a whole number")
    for key in NUMBER_FIELDS:
        if data.get(key) is not None and not is_number(data[key]):
            raise bad(key, "a number")
    for key in DICT_FIELDS:
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise bad(key, "an object")
    openood = data.get("protocol") == "openood"
    per_set = OPENOOD_METRICS if openood else PAPER_METRICS
    means = OPENOOD_METRICS if openood else MEAN_METRICS
    _check_sets(data, "ood", per_set, source, required=True)
    _check_sets(data, "validation", per_set, source, required=False)
    for key in ("mean", "validation_mean", "error_detection"):
        _check_metrics(data.get(key), key, MEAN_METRICS if key == "error_detection" else means,
                       source)
    groups = data.get("groups")
    if groups is not None:
        if not isinstance(groups, dict):
            raise bad("groups", "an object")
        for name, mean in groups.items():
            _check_metrics(mean, f"groups[{name!r}]", means, source)


def _check_sets(data: dict, key: str, metrics: tuple[str, ...], source: str,
                required: bool) -> None:
    sets = data.get(key)
    if sets is None and not required:
        return
    if not isinstance(sets, dict):
        raise UserInputError(f"{source}: {key} = {_short(sets)} is not an object of OOD sets; "
                             f"{FIX}")
    for name, record in sets.items():
        if record is None:
            raise UserInputError(f"{source}: {key}[{name!r}] is empty; {FIX}")
        _check_metrics(record, f"{key}[{name!r}]", metrics, source)


def _check_metrics(record, where: str, metrics: tuple[str, ...], source: str) -> None:
    if record is None:
        return
    if not isinstance(record, dict):
        raise UserInputError(f"{source}: {where} = {_short(record)} is not an object; {FIX}")
    for metric in metrics:
        if not is_number(record.get(metric)):
            raise UserInputError(f"{source}: {where}[{metric!r}] = {_short(record.get(metric))} "
                                 f"is not a number; {FIX}")




def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
