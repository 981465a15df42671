"""Each text reader on a small file in its exact on-disk format, through the named-set registry
(a fabricated data root), and the text spec grammar."""

import gzip
import json

import pytest

from outlier_exposure.errors import UserInputError
from outlier_exposure.text.sets import load_labelled_text, load_text
from outlier_exposure.text.spec import looks_like_text_spec, parse_text_spec


def _write(path, text, gz=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _tokens(data):
    return [data.tokens(i) for i in range(len(data))]


# ---- the offline (shared/data) formats --------------------------------------------------------

def test_offline_sst_keeps_case_in_distribution_and_lowers_as_ood(tmp_path):
    _write(tmp_path / "sst/sst_binary_train.tsv", "label\tsentence\n1\tA Fine film .\n0\tDull .\n")
    train = load_text("sst:train", role="train", data_root=tmp_path)
    assert _tokens(train) == [["A", "Fine", "film", "."], ["Dull", "."]]  # SST: lower=False
    assert train.labels == ["1", "0"]
    assert _tokens(load_text("sst:train", role="ood", data_root=tmp_path))[0] == ["a", "fine", "film", "."]
    _write(tmp_path / "sst/sst_fine_test.tsv", "label\tsentence\n4\tgreat\n")
    assert load_text("sst-fine", role="test", data_root=tmp_path).labels == ["4"]


def test_offline_trec_fine_and_coarse(tmp_path):
    _write(tmp_path / "trec/trec_train.tsv",
           "coarse\tfine\tquestion\nDESC\tDESC:manner\tHow did Serfdom develop ?\n"
           "HUM\tHUM:ind\tWho is X ?\n")
    fine, y, labels = load_labelled_text("trec:train", role="train", data_root=tmp_path)
    assert labels == ["DESC:manner", "HUM:ind"] and y.tolist() == [0, 1]
    assert fine.tokens(0) == ["how", "did", "serfdom", "develop", "?"]  # TREC: lower=True
    assert load_text("trec-coarse:train", role="train", data_root=tmp_path).labels == ["DESC", "HUM"]


def test_offline_20ng_unescapes_keeps_subject_and_fixes_length(tmp_path):
    message = r"From: a@b.c\nSubject: Re: Big GPUs\nLines: 3\n\nThe 486 is ok.\tYes\\no"
    _write(tmp_path / "20newsgroups/20ng_bydate_train.tsv.gz",
           f"group\tmsg_id\ttext_escaped\ncomp.graphics\t1\t{message}\n", gz=True)
    data = load_text("20ng:train", role="train", data_root=tmp_path)
    assert data.labels == ["comp.graphics"]
    assert data.tokens(0) == ["big", "gpus", "the", "yes"]  # headers but Subject dropped
    assert data.fix_length == 100
    assert load_text("20ng:train", role="ood", data_root=tmp_path).fix_length is None


def test_offline_ood_sets(tmp_path):
    _write(tmp_path / "snli/snli_test.tsv", "premise\thypothesis\tlabel\nA man.\tThe Man sleeps.\t2\n")
    _write(tmp_path / "imdb/imdb_test.tsv.gz",
           "label\tid_rating\treview\nneg\t0_2\tBad <br />Movie\npos\t1_9\t\"Good\"\n", gz=True)
    _write(tmp_path / "multi30k/multi30k_train.en.txt", "Two dogs' toys, here.\n\nA cat.\n")
    _write(tmp_path / "yelp/yelp_shen_test.tsv", "label\tsentence\n0\tthe food was bad .\n")
    _write(tmp_path / "ewt/ewt_dev_sentences.txt", "What if Google Morphed Into GoogleOS?\n")
    assert _tokens(load_text("snli", data_root=tmp_path)) == [["the", "man", "sleeps."]]
    assert _tokens(load_text("imdb", data_root=tmp_path)) == [["bad", "<br", "/>movie"], ['"good"']]
    assert _tokens(load_text("multi30k", data_root=tmp_path)) == [
        ["two", "dogs'", "toys", ",", "here", "."], ["a", "cat", "."]]  # blank line dropped
    assert _tokens(load_text("yelp", data_root=tmp_path)) == [["the", "food", "was", "bad", "."]]
    assert _tokens(load_text("ewt", data_root=tmp_path)) == [
        ["what", "if", "google", "morphed", "into", "googleos", "?"]]


def test_wikitext_offline_gives_oe_sentences_or_lm_lines(tmp_path):
    _write(tmp_path / "wikitext2/wikitext2_valid.txt",
           " \n = Title = \n \n The Cat sat . It ran away ! tail\n")
    oe = load_text("wikitext2:valid", role="outliers", data_root=tmp_path)
    assert _tokens(oe) == [["the", "cat", "sat", "."], ["it", "ran", "away", "!"]]
    lm = load_text("wikitext2:valid", role="train", purpose="lm", data_root=tmp_path)
    assert len(lm) == 2 and lm.tokens(1) == ["the", "cat", "sat", ".", "it", "ran", "away", "!",
                                             "tail"]
    with pytest.raises(UserInputError, match=r"wikitext2:train was not found"):
        load_text("wikitext2", role="outliers", data_root=tmp_path)  # no train split offline


# ---- the formats users download ---------------------------------------------------------------

def test_sst_trees_binary_drops_neutral(tmp_path):
    trees = ("(3 (2 It) (4 (4 (2 's) (4 great)) (2 .)))\n"
             "(2 (2 So) (2 so))\n"
             "(1 (2 A) (0 mess))\n")
    _write(tmp_path / "sst/trees/train.txt", trees)
    data = load_text("sst:train", role="train", data_root=tmp_path)
    assert _tokens(data) == [["It", "'s", "great", "."], ["A", "mess"]]
    assert data.labels == ["1", "0"]
    assert load_text("sst-fine:train", role="train", data_root=tmp_path).labels == ["3", "2", "1"]


def test_trec_label_files(tmp_path):
    path = tmp_path / "trec/train_5500.label"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"LOC:city What is the sister\xf0city of Kyoto ?\nNUM:date When was X ?\n")
    data = load_text("trec:train", role="train", data_root=tmp_path)
    assert data.labels == ["LOC:city", "NUM:date"]
    assert data.tokens(0) == ["what", "is", "the", "sister", "city", "of", "kyoto", "?"]
    assert load_text("trec-coarse:train", role="train", data_root=tmp_path).labels == ["LOC", "NUM"]


def test_20ng_cachopo_and_bydate(tmp_path):
    _write(tmp_path / "20newsgroups/20ng-test-no-short.txt",
           "sci.med\tdoctor says the pills work\nrec.autos\tfast cars\n")
    data = load_text("20ng:test", role="test", data_root=tmp_path)
    assert data.labels == ["sci.med", "rec.autos"] and data.tokens(1) == ["fast", "cars"]
    root = tmp_path / "other"
    for group, name, body in (("alt.atheism", "10", "Subject: God?\n\nNo 42 way"),
                              ("alt.atheism", "9", "Subject: Hi\n\nfirst"),
                              ("sci.space", "5", "From: x\n\nMoon landing")):
        _write(root / f"20newsgroups/20news-bydate-train/{group}/{name}", body)
    data = load_text("20ng:train", role="train", data_root=root)
    assert data.labels == ["alt.atheism", "alt.atheism", "sci.space"]
    assert _tokens(data) == [["first"], ["god", "way"], ["moon", "landing"]]  # files 9 before 10


def test_snli_jsonl_drops_pairs_without_gold_label(tmp_path):
    records = [{"gold_label": "neutral", "sentence1": "p", "sentence2": "A dog runs ."},
               {"gold_label": "-", "sentence1": "p", "sentence2": "dropped"}]
    _write(tmp_path / "snli/snli_1.0/snli_1.0_test.jsonl",
           "".join(json.dumps(r) + "\n" for r in records))
    assert _tokens(load_text("snli", data_root=tmp_path)) == [["a", "dog", "runs", "."]]


def test_imdb_folder_yelp_csv_wmt16_and_ptb(tmp_path):
    _write(tmp_path / "imdb/aclImdb/test/pos/0_9.txt", "Loved IT")
    _write(tmp_path / "imdb/aclImdb/test/neg/1_2.txt", "Hated it")
    imdb = load_text("imdb", data_root=tmp_path)
    assert _tokens(imdb) == [["hated", "it"], ["loved", "it"]] and imdb.labels == ["neg", "pos"]
    _write(tmp_path / "yelp/yelp_review_full_csv/test.csv",
           '"1","Worst place, ""ever"".\\nNo."\n"5","Great"\n')
    assert _tokens(load_text("yelp", data_root=tmp_path)) == [
        ["worst", "place,", '"ever".\\nno.'], ["great"]]
    _write(tmp_path / "wmt16/wmt16_en_de/newstest2015.tok.en", "b line\n")
    _write(tmp_path / "wmt16/wmt16_en_de/newstest2014.tok.en", "A line\n")
    _write(tmp_path / "wmt16/wmt16_en_de/newstest2014.tok.de", "ein satz\n")
    assert _tokens(load_text("wmt16", data_root=tmp_path)) == [["a", "line"], ["b", "line"]]
    _write(tmp_path / "ptb/ptb.valid.txt", " the <unk> said \n no it 's $ N \n")
    ptb = load_text("ptb:valid", role="train", purpose="lm", data_root=tmp_path)
    assert _tokens(ptb) == [["the", "<unk>", "said"], ["no", "it", "'s", "$", "n"]]


CONLLU = """# sent_id = answers-20111108-0001
# text = I don't know.
1\tI\tI\tPRON\t_\t_\t3\tnsubj\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\tdo\tAUX\t_\t_\t4\taux\t_\t_
3\tn't\tnot\tPART\t_\t_\t4\tadvmod\t_\t_
4\tknow\tknow\tVERB\t_\t_\t0\troot\t_\t_
4.1\tghost\t_\t_\t_\t_\t_\t_\t_\t_
5\t.\t.\tPUNCT\t_\t_\t4\tpunct\t_\t_

# sent_id = email-enronsent01_01-0001
1\tHello\thello\tINTJ\t_\t_\t0\troot\t_\t_
"""


def test_ewt_conllu_all_domains_and_one_domain(tmp_path):
    _write(tmp_path / "ewt/en_ewt-ud-dev.conllu", CONLLU)
    assert _tokens(load_text("ewt", data_root=tmp_path)) == [
        ["i", "do", "n't", "know", "."], ["hello"]]
    assert _tokens(load_text("ewt-email", data_root=tmp_path)) == [["hello"]]
    _write(tmp_path / "other/ewt/eng_web_tbk/weblog/conll/weblog_penntrees.dev.conll",
           "1\tGoogle\t_\tNNP\n2\trocks\t_\tVBZ\n\n1\tYes\t_\tUH\n")
    assert _tokens(load_text("ewt-weblog", data_root=tmp_path / "other")) == [
        ["google", "rocks"], ["yes"]]


# ---- generic specs and errors -----------------------------------------------------------------

def test_generic_tsv_and_lines(tmp_path):
    path = _write(tmp_path / "d:1/my.tsv", "id\ttext\ty\n7\tHello World\tpos\n8\tBye\tneg\n")
    data, y, labels = load_labelled_text(f"tsv:{path}:text,y", role="train")
    assert labels == ["neg", "pos"] and y.tolist() == [1, 0]
    assert data.tokens(0) == ["hello", "world"] and data.name == "my"
    assert load_text(f"tsv:{path}:1").labels is None  # by column number, unlabelled
    lines = _write(tmp_path / "l.txt", "One\n\nTwo Three\n")
    assert _tokens(load_text(f"lines:{lines}")) == [["one"], ["two", "three"]]
    assert len(load_text(f"lines:{lines}@first1")) == 1
    with pytest.raises(UserInputError, match="no column 'label'"):
        load_text(f"tsv:{path}:text,label")
    with pytest.raises(UserInputError, match="has no labels"):
        load_labelled_text(f"lines:{lines}", role="train")
    with pytest.raises(UserInputError, match=r"labels \['neg'\] that the training data does not"):
        load_labelled_text(f"tsv:{path}:text,y", role="test", labels=["pos", "other"])


def test_text_spec_grammar():
    spec = parse_text_spec("tsv:/data/a:b/x.tsv.gz:sentence,label@first10")
    assert (spec.kind, spec.target, dict(spec.options), spec.first) == (
        "tsv", "/data/a:b/x.tsv.gz", {"text": "sentence", "label": "label"}, 10)
    assert parse_text_spec("ewt-email:dev").options == {"split": "dev"}
    assert parse_text_spec("lines:C:/x.txt").target == "C:/x.txt"
    for bad in ("", "tsv:file.tsv", "lines:", "what is this", "x@first0"):
        with pytest.raises(UserInputError, match="text spec"):
            parse_text_spec(bad)
    assert looks_like_text_spec("sst:train") and looks_like_text_spec("lines:a.txt")
    assert not looks_like_text_spec("cifar10:train") and not looks_like_text_spec("npz:a.npz:x,y")


def test_missing_named_set_says_how_to_get_it(tmp_path):
    with pytest.raises(UserInputError, match=r"python -m outlier_exposure.text.download imdb"):
        load_text("imdb", data_root=tmp_path)
    with pytest.raises(UserInputError, match="UD_English-EWT"):
        load_text("ewt", data_root=tmp_path)
    with pytest.raises(UserInputError, match="no split 'bogus'"):
        load_text("snli:bogus", data_root=tmp_path)
    with pytest.raises(UserInputError, match="unknown text set"):
        load_text("nosuchset", data_root=tmp_path)


def test_download_checks_the_checksum_and_unpacks_into_root_name(tmp_path, monkeypatch):
    import hashlib
    import zipfile
    from dataclasses import replace

    from outlier_exposure.text import registry
    from outlier_exposure.text.download import download_text_set

    archive = tmp_path / "src" / "snli_1.0.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("snli_1.0/snli_1.0_test.jsonl",
                    json.dumps({"gold_label": "neutral", "sentence2": "A cat ."}) + "\n")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    entry = registry.NAMED_SETS["snli"]
    item = replace(entry.downloads[0], url=archive.as_uri(), checksum=f"md5:{md5}")
    monkeypatch.setitem(registry.NAMED_SETS, "snli", replace(entry, downloads=(item,)))
    root = tmp_path / "root"
    assert download_text_set("snli", root, progress=False) == root / "snli"
    assert _tokens(load_text("snli", data_root=root)) == [["a", "cat", "."]]

    bad = replace(item, checksum="md5:" + "0" * 32)
    monkeypatch.setitem(registry.NAMED_SETS, "snli", replace(entry, downloads=(bad,)))
    with pytest.raises(UserInputError, match="md5"):
        download_text_set("snli", tmp_path / "root2", progress=False)
    assert not (tmp_path / "root2" / "snli" / "snli_1.0.zip").exists()
