"""File-format readers: one function per on-disk format, each returning `(texts, labels)`.

`texts` are strings (tokenised later by the data set's tokeniser, see `registry.py`); formats
that store tokens (trees, CoNLL) join them with single spaces. `labels` are strings, or None for
an unlabelled format. Empty texts are dropped (a blank line is not an example). Formats:

| reader            | format                                                                    |
|-------------------|---------------------------------------------------------------------------|
| `read_tsv`        | tab-separated with a header row, no quoting (`.gz` read transparently)    |
| `read_csv`        | comma-separated, quoted, no header (Zhang et al.'s Yelp `test.csv`)       |
| `read_lines`      | one example per non-empty line                                            |
| `read_sst_trees`  | Stanford Sentiment Treebank PTB trees (`trees/train.txt`): leaves, root label |
| `read_trec`       | TREC `train_5500.label` / `TREC_10.label`: "LABEL:fine text"              |
| `read_cachopo`    | Cachopo's 20NG files (`20ng-train-no-short.txt`): "label<TAB>words"       |
| `read_bydate`     | the 20news-bydate folders (`20news-bydate-train/GROUP/ID`)                 |
| `read_snli_jsonl` | SNLI `snli_1.0_test.jsonl`: the hypothesis (`sentence2`), gold label != "-" |
| `read_imdb_folder`| aclImdb `test/pos/*.txt`, `test/neg/*.txt`                                |
| `read_conll`      | CoNLL / CoNLL-U (English Web Treebank): FORM column, blank line = sentence |
| `read_token_files`| a folder of `*.tok.en` files (WMT16 `wmt16_en_de`), concatenated          |
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import sys
from pathlib import Path
from typing import Iterable, TextIO

from ..errors import UserInputError

Texts = tuple[list[str], list[str] | None]

_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "r": "\r"}
_TREE_LEAF = re.compile(r"\(\d+ ([^()\s]+)\)")
_TREE_ROOT = re.compile(r"\s*\((\d+)")


def _open_text(path: Path, encoding: str = "utf-8") -> TextIO:
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path} does not exist or is not a file")
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, errors="replace",
                                newline="")
    return open(path, encoding=encoding, errors="replace", newline="")


def _keep_nonempty(texts: list[str], labels: list[str] | None) -> Texts:
    keep = [i for i, t in enumerate(texts) if t.strip()]
    if len(keep) == len(texts):
        return texts, labels
    return [texts[i] for i in keep], None if labels is None else [labels[i] for i in keep]


def unescape(text: str) -> str:
    r"""Undo the `\n`, `\t`, `\r`, `\\` escapes of the offline 20 Newsgroups TSV."""
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), text)


def _column(header: list[str], column: str | int, path: Path) -> int:
    if isinstance(column, int) or column.isdigit():
        index = int(column)
        if index >= len(header):
            raise UserInputError(f"{path} has {len(header)} columns; column {index} does not exist")
        return index
    if column not in header:
        raise UserInputError(
            f"{path} has no column {column!r}; its header names: {', '.join(header)} "
            "(or give a 0-based column number)"
        )
    return header.index(column)


def read_tsv(path: Path, text_column: str | int, label_column: str | int | None = None, *,
             escaped: bool = False) -> Texts:
    """A TSV with a header row; columns by header name or 0-based index."""
    csv.field_size_limit(sys.maxsize)
    with _open_text(path) as handle:
        rows = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(rows, None)
        if header is None:
            raise UserInputError(f"{path} is empty; a TSV needs a header row and data rows")
        ti = _column(header, text_column, path)
        li = None if label_column is None else _column(header, label_column, path)
        texts, labels = [], []
        for n, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(row) <= max(ti, li or 0):
                raise UserInputError(f"{path} line {n} has {len(row)} fields, fewer than the header's")
            texts.append(unescape(row[ti]) if escaped else row[ti])
            if li is not None:
                labels.append(row[li].strip())
    return _keep_nonempty(texts, labels if li is not None else None)


def read_csv(path: Path, text_column: int, label_column: int | None = None) -> Texts:
    """A quoted CSV without header (Zhang et al.'s `yelp_review_full_csv/test.csv`: label, text)."""
    csv.field_size_limit(sys.maxsize)
    texts, labels = [], []
    with _open_text(path) as handle:
        for n, row in enumerate(csv.reader(handle), start=1):
            if not row:
                continue
            if len(row) <= max(text_column, label_column or 0):
                raise UserInputError(f"{path} line {n} has {len(row)} fields")
            texts.append(row[text_column])
            if label_column is not None:
                labels.append(row[label_column].strip())
    return _keep_nonempty(texts, labels if label_column is not None else None)


def read_lines(path: Path) -> Texts:
    with _open_text(path) as handle:
        return _keep_nonempty([line.rstrip("\r\n") for line in handle], None)


def read_sst_trees(path: Path, fine_grained: bool = False) -> Texts:
    """SST trees: the sentence is the leaves; the label is the root's (0..4).

    Binary (the reference's `fine_grained=False`, neutral filtered out): 0, 1 -> "0" (negative),
    3, 4 -> "1" (positive), 2 dropped.
    """
    texts, labels = [], []
    with _open_text(path) as handle:
        for n, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            root = _TREE_ROOT.match(line)
            if root is None:
                raise UserInputError(f"{path} line {n} is not a sentiment tree like '(3 (2 It) ...)'")
            label = int(root.group(1))
            if not fine_grained:
                if label == 2:
                    continue
                label = 0 if label < 2 else 1
            texts.append(" ".join(_TREE_LEAF.findall(line)))
            labels.append(str(label))
    return _keep_nonempty(texts, labels)


def read_trec(path: Path, fine_grained: bool = True) -> Texts:
    """TREC question files: "DESC:manner How did ...". One stray byte 0xF0 becomes a space, as
    torchtext does; the coarse label is the part before ':'."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path} does not exist or is not a file")
    texts, labels = [], []
    for line in path.read_bytes().replace(b"\xf0", b" ").decode("utf-8", "replace").splitlines():
        label, _, text = line.partition(" ")
        if not label:
            continue
        texts.append(text)
        labels.append(label if fine_grained else label.split(":")[0])
    return _keep_nonempty(texts, labels)


def read_cachopo(path: Path) -> Texts:
    """Cachopo's preprocessed 20NG ("20ng-train-no-short.txt"): the first word is the group."""
    texts, labels = [], []
    with _open_text(path) as handle:
        for line in handle:
            words = line.split()
            if len(words) >= 1:
                labels.append(words[0])
                texts.append(" ".join(words[1:]))
    return _keep_nonempty(texts, labels)


def newsgroup_message(raw: str) -> str:
    """A 20NG message as Cachopo's files hold it: the Subject, then the body (other headers dropped)."""
    head, sep, body = raw.replace("\r\n", "\n").partition("\n\n")
    if not sep:  # no header block
        return raw
    subject = ""
    for line in head.split("\n"):
        if line.lower().startswith("subject:"):
            subject = line[len("subject:"):].strip()
            break
    return f"{subject}\n{body}" if subject else body


def read_newsgroups_tsv(path: Path) -> Texts:
    """The offline TSV (group, msg_id, text_escaped): messages with their headers."""
    texts, labels = read_tsv(path, "text_escaped", "group", escaped=True)
    return [newsgroup_message(t) for t in texts], labels


def read_bydate(folder: Path) -> Texts:
    """`20news-bydate-train/` (or -test): one subfolder per group, one file per message (latin-1)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserInputError(f"{folder} is not a folder of newsgroup subfolders")
    texts, labels = [], []
    for group in sorted(p for p in folder.iterdir() if p.is_dir()):
        for message in sorted(group.iterdir(), key=lambda p: (len(p.name), p.name)):
            texts.append(newsgroup_message(message.read_text(encoding="latin-1")))
            labels.append(group.name)
    if not texts:
        raise UserInputError(f"{folder} holds no newsgroup messages (GROUP/ID files)")
    return _keep_nonempty(texts, labels)


def read_snli_jsonl(path: Path) -> Texts:
    """SNLI JSON lines: the hypothesis (`sentence2`) of each pair with a gold label."""
    texts, labels = [], []
    with _open_text(path) as handle:
        for n, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                gold, hypothesis = record["gold_label"], record["sentence2"]
            except (json.JSONDecodeError, KeyError) as exc:
                raise UserInputError(f"{path} line {n} is not an SNLI record ({exc})") from None
            if gold != "-":
                texts.append(hypothesis)
                labels.append(gold)
    return _keep_nonempty(texts, labels)


def read_imdb_folder(folder: Path) -> Texts:
    """aclImdb `train/` or `test/`: reviews in `neg/*.txt` and `pos/*.txt`."""
    folder = Path(folder)
    texts, labels = [], []
    for label in ("neg", "pos"):
        sub = folder / label
        if not sub.is_dir():
            raise UserInputError(f"{folder} has no {label}/ subfolder (aclImdb layout: test/neg, test/pos)")
        for review in sorted(sub.glob("*.txt")):
            texts.append(review.read_text(encoding="utf-8", errors="replace"))
            labels.append(label)
    return _keep_nonempty(texts, labels)


def conll_sentences(lines: Iterable[str]) -> list[tuple[str, list[str]]]:
    """(sentence id or "", tokens) of a CoNLL / CoNLL-U text: the FORM column (2nd) of token
    lines; comments ('#') give the `sent_id`; multi-word ranges ("3-4") and empty nodes ("8.1")
    are skipped, so each word is read once."""
    sentences, tokens, sent_id = [], [], ""
    for line in lines:
        line = line.rstrip("\r\n")
        if not line.strip():
            if tokens:
                sentences.append((sent_id, tokens))
            tokens, sent_id = [], ""
        elif line.startswith("#"):
            key, _, value = line[1:].partition("=")
            if key.strip() == "sent_id":
                sent_id = value.strip()
        else:
            fields = line.split("\t")
            if len(fields) >= 2 and "-" not in fields[0] and "." not in fields[0]:
                tokens.append(fields[1])
    if tokens:
        sentences.append((sent_id, tokens))
    return sentences


def read_conll(path: Path, domain: str | None = None) -> Texts:
    """English Web Treebank CoNLL(-U) sentences; `domain` keeps those whose UD `sent_id` starts
    with it (answers, email, newsgroup, reviews, weblog)."""
    with _open_text(path) as handle:
        sentences = conll_sentences(handle)
    if domain:
        sentences = [s for s in sentences if s[0].startswith(domain)]
        if not sentences:
            raise UserInputError(f"{path} has no sentence whose sent_id starts with {domain!r}")
    return _keep_nonempty([" ".join(tokens) for _, tokens in sentences], None)


def read_token_files(folder: Path, pattern: str = "*.tok.en") -> Texts:
    """Every line of the files matching `pattern` in `folder`, files in name order (the
    reference's `concat_wmt_sentences.py` for WMT16, which takes them in directory order)."""
    files = sorted(Path(folder).glob(pattern))
    if not files:
        raise UserInputError(f"{folder} has no {pattern} files")
    texts = []
    for f in files:
        texts.extend(read_lines(f)[0])
    return texts, None
