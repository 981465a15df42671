"""The NLP classifiers' OOD sets as the reference's eval_OOD_*.py reads them: ten rows with the
five English Web Treebank domains apart (each its `DOMAIN_penntrees.dev.conll`), and the draw
size rule of its 64-example batches."""

from outlier_exposure.evaluation.draws import draw_size
from outlier_exposure.text.config import TEXT_RECIPES, text_config_from_preset
from outlier_exposure.text.registry import EWT_DOMAINS
from outlier_exposure.text.sets import load_text

# The LDC English Web Treebank (LDC2012T13) as the reference reads it:
# eng_web_tbk/DOMAIN/conll/DOMAIN_penntrees.dev.conll, CoNLL-X, tab-separated, the word in the
# 2nd column, a blank line between sentences (torchtext SequenceTaggingDataset, field 2).
def _conll(words_per_sentence):
    rows = []
    for words in words_per_sentence:
        rows += [f"{i}\t{w}\t_\tNN\tNN\t_\t0\tROOT\t_\t_" for i, w in enumerate(words, 1)]
        rows.append("")
    return "\n".join(rows) + "\n"


def test_the_five_ewt_domains_read_apart_from_the_ldc_layout(tmp_path):
    for domain in EWT_DOMAINS:
        path = tmp_path / f"ewt/eng_web_tbk/{domain}/conll/{domain}_penntrees.dev.conll"
        path.parent.mkdir(parents=True)
        path.write_text(_conll([[domain.upper(), "Post"], ["Second", domain]]), encoding="utf-8")
    for domain in EWT_DOMAINS:
        data = load_text(f"ewt-{domain}", role="ood", data_root=tmp_path)
        # lower-cased, as every OOD field of the reference (data.Field(lower=True))
        assert [data.tokens(i) for i in range(len(data))] == [[domain, "post"], ["second", domain]]


def test_paper_classifier_presets_list_ten_rows_and_draw_in_batches_of_64():
    expected = ["snli", "imdb", "multi30k", "wmt16", "ewt-answers", "ewt-email",
                "ewt-newsgroup", "ewt-reviews", "ewt-weblog", "yelp"]
    for name in ("sst", "trec", "20ng"):
        cfg = text_config_from_preset(name, "baseline")
        assert list(cfg.ood) == expected and cfg.ood_draw_size == "reference-text"
    # TREC's 500 test questions and SST's 1,821 binary test sentences
    assert draw_size(500, 5, text_config_from_preset("trec", "oe-tune").ood_draw_size) == 128
    assert draw_size(1821, 5, text_config_from_preset("sst", "oe-tune").ood_draw_size) == 384


def test_offline_sst_keeps_merged_ewt_and_the_exact_count():
    cfg = text_config_from_preset("offline-sst", "baseline")
    assert "ewt" in cfg.ood and not any(s.startswith("ewt-") for s in cfg.ood)
    assert cfg.ood_draw_size == "exact" and "merged" in TEXT_RECIPES["offline-sst"].description
