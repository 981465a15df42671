"""Tokenisers, vocabulary, padding and WikiText sentence making, on hand-made text."""

import numpy as np
import pytest

from outlier_exposure.errors import UserInputError
from outlier_exposure.text.sentences import wikitext_sentences
from outlier_exposure.text.tokenize import light, multi30k, newsgroups, whitespace
from outlier_exposure.text.vocab import LM_SPECIALS, Vocab, build_vocab, pad_batch


def test_vocab_counts_ties_and_specials():
    texts = [["b", "a", "c", "a"], ["c", "b", "d"], ["a", "e", "<unk>"]]
    # counts: a 3, b 2, c 2, d 1, e 1 (<unk> in the text is the special, not an entry)
    vocab = build_vocab(texts)
    assert vocab.itos == ("<unk>", "<pad>", "a", "b", "c", "d", "e")
    assert (vocab.unk_id, vocab.pad_id) == (0, 1)
    # max_size counts real tokens only; ties (b, c) and (d, e) break by string order
    assert build_vocab(texts, max_size=2).itos == ("<unk>", "<pad>", "a", "b")
    assert build_vocab(texts, max_size=4).itos == ("<unk>", "<pad>", "a", "b", "c", "d")
    # the order of the texts does not change the vocabulary
    assert build_vocab(texts[::-1]).itos == vocab.itos


def test_vocab_ties_follow_code_point_order():
    vocab = build_vocab([["b", "B", "a", "A"]])
    assert vocab.itos[2:] == ("A", "B", "a", "b")


def test_encode_maps_unknown_tokens_to_unk():
    vocab = build_vocab([["x", "y", "x"]])
    assert vocab.encode(["x", "zzz", "y"]).tolist() == [2, 0, 3]
    assert vocab.encode([]).dtype == np.int64 and len(vocab.encode([])) == 0


def test_lm_vocab_has_eos_and_round_trips():
    vocab = build_vocab([["the", "cat", "the"]], specials=LM_SPECIALS)
    assert vocab.itos == ("<unk>", "<eos>", "the", "cat")
    assert vocab.eos_id == 1
    assert Vocab.from_dict(vocab.to_dict()) == vocab
    with pytest.raises(UserInputError, match="<unk>"):
        build_vocab([["a"]], specials=("<pad>",))


def test_pad_batch_front_pads_and_truncates():
    seqs = [np.array([5, 6, 7]), np.array([8]), np.array([], dtype=np.int64)]
    assert pad_batch(seqs, pad_id=1).tolist() == [[5, 6, 7], [1, 1, 8], [1, 1, 1]]
    # fixed length: cut to the FIRST tokens, then front-pad to exactly that length
    assert pad_batch(seqs, pad_id=1, fix_length=2).tolist() == [[5, 6], [1, 8], [1, 1]]
    assert pad_batch(seqs, pad_id=1, fix_length=4).tolist() == [[1, 5, 6, 7], [1, 1, 1, 8],
                                                                [1, 1, 1, 1]]
    assert pad_batch([np.array([], dtype=np.int64)], pad_id=0).tolist() == [[0]]


def test_tokenisers_on_hand_made_text():
    assert whitespace("  a  b\tc\n") == ["a", "b", "c"]
    # the reference's Multi30K rules: 's, 'd, ',' and n't split, final punctuation apart, lower
    assert multi30k('A dog\'s toy, "red" isn\'t here.') == [
        "a", "dog", "'s", "toy", ",", '"', "red", '"', "is", "n't", "here", "."]
    # Cachopo 20NG: letters only, lower-cased, words of >= 3 letters
    assert newsgroups("Re: I'm at X-Windows 3.1, ok? GREAT") == ["windows", "great"]
    assert light("Don't stop, it's (really) fine. The U.S. won.") == [
        "Do", "n't", "stop", ",", "it", "'s", "(", "really", ")", "fine", ".", "The", "U.S",
        ".", "won", "."]


def test_wikitext_sentences_as_the_reference_makes_them():
    lines = [
        " \n",
        " = Valkyria Chronicles = \n",
        " \n",
        " The game was released in 2011 . It sold well ! 1990 saw nothing . Hi . \n",
        " = = Plot = = \n",
        " @-@ odd start here . A tail without an end\n",
        " " + " ".join(["w"] * 59) + " . " + " ".join(["v"] * 60) + " . \n",
    ]
    got = [" ".join(s) for s in wikitext_sentences(lines)]
    assert got == [
        "The game was released in 2011 .",  # 7 tokens
        "It sold well !",  # 4 tokens
        # "1990 saw nothing ." starts with a digit; "Hi ." has 2 tokens; "@-@ ..." starts
        # with '@'; the tail without '.' ran into the next paragraph in the reference
        " ".join(["w"] * 59) + " .",  # 60 tokens: kept; the 61-token one is dropped
    ]
