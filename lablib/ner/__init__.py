"""Named-entity recognition for lab 03 (``labs/03_ner_finetuning.ipynb``), on any IOB2 tag set.

Tags are IOB2: ``B-X`` begins an entity of type X, ``I-X`` continues it,
``O`` is outside. CoNLL-2003's tags are the default; for other data take the
tag set from the data (:func:`tag_set`) or a model (:func:`model_tags`) and
pass it as ``tags=``. The code, in the order lab 03 uses it:

* :mod:`lablib.ner.conll`    -- CoNLL files, tag sets, IOB1 -> IOB2
* :mod:`lablib.ner.align`    -- word pieces: label alignment, decoding, tagging with a model
* :mod:`lablib.ner.evaluate` -- entity-level scores, error analysis, display
"""
from .align import align_labels, decode_predictions, model_tags, predict_tags, tokenize_and_align
from .conll import (ENTITY_TYPES, TAG2ID, TAGS, ConllFormatError, Sentence, check_tags, entity_types, iob1_to_iob2,
                    read_conll, tag_set, write_conll)
from .evaluate import (entity_spans, entity_errors, entity_scores, recall_seen_unseen, show_entities, token_accuracy,
                       type_confusion, worst_sentences)

__all__ = [
    "ENTITY_TYPES", "TAGS", "TAG2ID", "Sentence", "ConllFormatError", "check_tags", "tag_set", "entity_types",
    "iob1_to_iob2", "read_conll", "write_conll",
    "align_labels", "tokenize_and_align", "decode_predictions", "model_tags", "predict_tags",
    "entity_scores", "token_accuracy", "entity_errors", "type_confusion", "worst_sentences", "show_entities",
    "recall_seen_unseen", "entity_spans",
]
