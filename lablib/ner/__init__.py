"""Named-entity recognition for lab 03 (``labs/03_ner_finetuning.ipynb``), on any IOB2 tag set.

IOB2: ``B-X`` begins an entity of type X, ``I-X`` continues it, ``O`` is outside. CoNLL-2003's tags are the
default; for other data pass ``tags=`` from the data (:func:`tag_set`) or a model (:func:`model_tags`).
Modules, as lab 03 uses them: ``conll`` (files, tag sets), ``align`` (word pieces), ``recipe`` (fine-tuning in a
time budget), ``evaluate`` (scores, errors).
"""
from .align import align_labels, model_tags, predict_tags, tokenize_and_align
from .conll import (ENTITY_TYPES, TAG2ID, TAGS, ConllFormatError, Sentence, entity_types, read_conll, tag_set,
                    write_conll)
from .recipe import RECIPE, Recipe, cpu_has_bf16, fine_tune, recipe_optimizer
from .evaluate import (entity_errors, entity_scores, entity_spans, recall_seen_unseen, show_entities, token_accuracy,
                       type_confusion, worst_sentences)

__all__ = [
    "ENTITY_TYPES", "TAGS", "TAG2ID", "Sentence", "ConllFormatError", "tag_set", "entity_types", "read_conll",
    "write_conll", "align_labels", "tokenize_and_align", "model_tags", "predict_tags", "entity_scores",
    "token_accuracy", "entity_errors", "type_confusion", "worst_sentences", "show_entities", "recall_seen_unseen",
    "entity_spans", "Recipe", "RECIPE", "fine_tune", "recipe_optimizer", "cpu_has_bf16",
]
