"""Tiny random encoders, built locally (no downloads), so tests and benchmarks train in seconds.

``build_tiny_backbone(folder)`` saves the default test student: a 2-layer, 32-wide BERT with the
offline MiniLM tokenizer. ``build_backbone(family, folder)`` saves a 2-layer, 32-wide model of
the family with a tokenizer of its own kind: WordPiece (BERT uncased and cased, DistilBERT:
the offline MiniLM vocabulary), byte-level BPE (RoBERTa: trained here on a small corpus) and
SentencePiece-style Unigram (DeBERTa-v2/v3, XLM-R: trained here). The student loads them like
any hub model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import transformers as tf

from evokd.student import resolve_backbone

FAMILIES = ("bert-uncased", "bert-cased", "distilbert", "roberta", "deberta-v2", "deberta-v3",
            "xlm-roberta")
CORPUS = [
    "Anna Berg of Nordbank met Nordic officials in Oslo on day 5 .",
    "EU rejects German call to boycott British lamb .",
    "Peter Blackburn visited Brussels and Lyon with Vexa Motors .",
    "a warm , funny and moving film", "a dull , lifeless mess", "the cast is wonderful",
    "the plot is tedious and thin", "Ivy Chen and Omar Haddad work for Orbit Labs in Porto .",
]
SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
         "intermediate_size": 64, "max_position_embeddings": 514}


def _wordpiece(cased: bool, cls: Any = tf.BertTokenizerFast) -> Any:
    vocab = Path(resolve_backbone("all-MiniLM-L6-v2")) / "vocab.txt"
    return cls(vocab_file=str(vocab), do_lower_case=not cased)


def _bpe() -> Any:
    from tokenizers import ByteLevelBPETokenizer

    trained = ByteLevelBPETokenizer()
    trained.train_from_iterator(CORPUS * 20, vocab_size=400, show_progress=False,
                                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    return tf.RobertaTokenizerFast(
        tokenizer_object=trained._tokenizer, bos_token="<s>", eos_token="</s>", sep_token="</s>",
        cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>")


def _unigram(cls: Any, specials: dict[str, str]) -> Any:
    from tokenizers import SentencePieceUnigramTokenizer

    trained = SentencePieceUnigramTokenizer()
    order = ["pad_token", "cls_token", "sep_token", "unk_token", "mask_token"]
    trained.train_from_iterator(CORPUS * 20, vocab_size=250, show_progress=False,
                                special_tokens=[specials[k] for k in order],
                                unk_token=specials["unk_token"])
    return cls(tokenizer_object=trained._tokenizer, bos_token=specials["cls_token"],
               eos_token=specials["sep_token"], **specials)


DEBERTA_SPECIALS = {"pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                    "unk_token": "[UNK]", "mask_token": "[MASK]"}
XLMR_SPECIALS = {"pad_token": "<pad>", "cls_token": "<s>", "sep_token": "</s>",
                 "unk_token": "<unk>", "mask_token": "<mask>"}


def _parts(family: str) -> tuple[Any, Any]:
    """(tokenizer, model config) of a family."""
    if family in ("bert-uncased", "bert-cased"):
        tok = _wordpiece(family == "bert-cased")
        return tok, tf.BertConfig(vocab_size=len(tok), **SMALL)
    if family == "distilbert":
        tok = _wordpiece(False, tf.DistilBertTokenizerFast)
        return tok, tf.DistilBertConfig(vocab_size=len(tok), dim=32, n_layers=2, n_heads=2,
                                        hidden_dim=64, max_position_embeddings=512)
    if family == "roberta":
        tok = _bpe()
        return tok, tf.RobertaConfig(vocab_size=len(tok), pad_token_id=tok.pad_token_id,
                                     bos_token_id=tok.bos_token_id,
                                     eos_token_id=tok.eos_token_id, **SMALL)
    if family == "xlm-roberta":
        tok = _unigram(tf.XLMRobertaTokenizerFast, XLMR_SPECIALS)
        return tok, tf.XLMRobertaConfig(vocab_size=len(tok), pad_token_id=tok.pad_token_id,
                                        bos_token_id=tok.cls_token_id,
                                        eos_token_id=tok.sep_token_id, **SMALL)
    if family in ("deberta-v2", "deberta-v3"):
        tok = _unigram(tf.DebertaV2TokenizerFast, DEBERTA_SPECIALS)
        relative = {"relative_attention": True, "pos_att_type": ["p2c", "c2p"],
                    "position_biased_input": False, "max_relative_positions": -1}
        if family == "deberta-v3":  # v3: shared attention keys, position buckets, layer norm
            relative.update(share_att_key=True, position_buckets=256, norm_rel_ebd="layer_norm")
        return tok, tf.DebertaV2Config(vocab_size=len(tok), pad_token_id=tok.pad_token_id,
                                       type_vocab_size=0, **SMALL, **relative)
    raise ValueError(f"unknown family {family!r}; one of {', '.join(FAMILIES)}")


def build_tiny_backbone(folder: Path) -> Path:
    """A 2-layer, 32-wide BERT with the offline MiniLM tokenizer, saved to ``folder``."""
    tokenizer = tf.AutoTokenizer.from_pretrained(resolve_backbone("all-MiniLM-L6-v2"))
    config = tf.BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=64,
                           max_position_embeddings=256)
    tf.set_seed(0)  # the same weights in every session: runs on it repeat across sessions
    tf.BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_backbone(family: str, folder: Path) -> Path:
    """Save a tiny random ``family`` encoder and its tokenizer to ``folder``."""
    tokenizer, config = _parts(family)
    tf.set_seed(0)
    tf.AutoModel.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
