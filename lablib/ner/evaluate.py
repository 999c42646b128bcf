"""Entity-level scores, error analysis, display, seen vs unseen recall (lab 03)."""
from __future__ import annotations

import html
from typing import Sequence

from .. import checks
from .conll import TAG2ID, TAGS, _as_list, _check_tags, _sentence_parts, entity_types


def _check_tag_pairs(true_tags, pred_tags, tokens=None, where: str = "", tags: Sequence[str] | None = None) -> tuple:
    """Checked tag sequences (and tokens) as lists of lists, and the types; ``tags`` default: CoNLL's if gold is."""
    def as_sentences(value, name):
        value = _as_list(value, f"{where}: {name}", "a list of sentences (lists of tags)")
        if value and all(isinstance(s, str) for s in value):
            raise TypeError(f"{where}: {name} is a list of strings; expected a list of sentences, each a list "
                            f"(for one sentence, wrap it: [{name}])")
        return [_as_list(sentence, f"{where}: {name}[{index}]", "a list") for index, sentence in enumerate(value)]

    named = {"true_tags": as_sentences(true_tags, "true_tags"), "pred_tags": as_sentences(pred_tags, "pred_tags")}
    if tokens is not None:
        named["tokens"] = as_sentences(tokens, "tokens")
    checks.same_length(f"{where}: sentences", **named)
    true_tags, pred_tags = named["true_tags"], named["pred_tags"]
    if tags is None and all(tag in TAG2ID for sentence in true_tags for tag in sentence):
        tags = TAGS
    for index in range(len(true_tags)):
        checks.same_length(f"{where}: sentence {index}", **{k: v[index] for k, v in named.items()})
        _check_tags(true_tags[index], allowed=tags, where=f"{where}: true_tags sentence {index}")
        _check_tags(pred_tags[index], allowed=tags, where=f"{where}: pred_tags sentence {index}")
    types = entity_types(tags) if tags is not None else tuple(sorted(
        {tag[2:] for sentences in (true_tags, pred_tags) for s in sentences for tag in s if tag != "O"}))
    return true_tags, pred_tags, named.get("tokens"), types


def entity_spans(tags: list) -> list:
    """Entities of one sentence as ``(type, start, end)``, end exclusive, read as conlleval does (labs 03 and 07)."""
    from seqeval.metrics.sequence_labeling import get_entities

    return [(kind, start, end + 1) for kind, start, end in get_entities(list(tags))]


def entity_scores(true_tags, pred_tags, *, tags: Sequence[str] | None = None) -> dict:
    """Entity-level precision, recall and F1, overall (micro) and per type, as ``conlleval`` counts them (lab 03).

    Keys ``precision``, ``recall``, ``f1``, ``support`` (gold), ``predicted``, ``correct``, and each type's dict.
    """
    true_tags, pred_tags, _, types = _check_tag_pairs(true_tags, pred_tags, where="entity_scores", tags=tags)
    counts = {kind: {"support": 0, "predicted": 0, "correct": 0} for kind in types}
    for gold, pred in zip(true_tags, pred_tags):
        gold_set, pred_set = set(entity_spans(gold)), set(entity_spans(pred))
        for key, found in (("support", gold_set), ("predicted", pred_set), ("correct", gold_set & pred_set)):
            for entity in found:
                counts[entity[0]][key] += 1

    def rates(count: dict) -> dict:  # 0 where a ratio would divide by 0, as seqeval (zero_division=0)
        precision = count["correct"] / count["predicted"] if count["predicted"] else 0.0
        recall = count["correct"] / count["support"] if count["support"] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, **count}

    overall = {key: sum(count[key] for count in counts.values()) for key in ("support", "predicted", "correct")}
    return {**rates(overall), **{kind: rates(count) for kind, count in counts.items()}}


def token_accuracy(true_tags, pred_tags, include_O: bool = True, *, tags: Sequence[str] | None = None) -> float:
    """The fraction of words (not ``O`` ones if ``include_O=False``) tagged right: NOT the entity F1 (lab 03)."""
    true_tags, pred_tags, _, _ = _check_tag_pairs(true_tags, pred_tags, where="token_accuracy", tags=tags)
    pairs = [(g, p) for gold, pred in zip(true_tags, pred_tags) for g, p in zip(gold, pred) if include_O or g != "O"]
    if not pairs:
        raise ValueError("token_accuracy: no words to score"
                         + ("" if include_O else " (every gold tag is 'O' and include_O=False)"))
    return sum(g == p for g, p in pairs) / len(pairs)


def _overlap(a: tuple, b: tuple) -> int:
    return max(0, min(a[2], b[2]) - max(a[1], b[1]))


def _record(index: int, kind: str, tokens: list, gold, pred) -> dict:
    record = {"sentence": index, "kind": kind}
    for side, entity in (("gold", gold), ("pred", pred)):
        record[f"{side}_type"] = entity and entity[0]
        record[f"{side}_span"] = entity and (entity[1], entity[2])
        record[f"{side}_text"] = entity and " ".join(tokens[entity[1]:entity[2]])
    return record


def _sentence_errors(gold_tags: list, pred_tags: list, tokens: list, index: int) -> list:
    gold, pred = entity_spans(gold_tags), entity_spans(pred_tags)
    exact = set(gold) & set(pred)
    errors = []
    for g in (g for g in gold if g not in exact):
        overlapping = [p for p in pred if p not in exact and _overlap(g, p)]
        same_span = [p for p in overlapping if p[1:] == g[1:]]
        same_type = [p for p in overlapping if p[0] == g[0]]
        kind = "type" if same_span else "boundary" if same_type else "boundary+type" if overlapping else "missed"
        closest = max(same_span or same_type or overlapping, key=lambda p: _overlap(g, p), default=None)
        errors.append(_record(index, kind, tokens, g, closest))
    errors += [_record(index, "spurious", tokens, None, p) for p in pred if not any(_overlap(g, p) for g in gold)]
    return sorted(errors, key=lambda r: r["gold_span"] or r["pred_span"])


def entity_errors(true_tags, pred_tags, tokens, *, tags: Sequence[str] | None = None) -> list:
    """Every entity-level mistake as a dict, ready for pandas (lab 03).

    ``kind`` is ``"type"``, ``"boundary"``, ``"boundary+type"``, ``"missed"`` or ``"spurious"``; a record also holds
    ``sentence`` and ``gold_``/``pred_`` ``type``, ``span`` (end exclusive) and ``text``, None for a missing side.
    """
    true_tags, pred_tags, tokens, _ = _check_tag_pairs(true_tags, pred_tags, tokens, where="entity_errors", tags=tags)
    return [error for index, (gold, pred, words) in enumerate(zip(true_tags, pred_tags, tokens))
            for error in _sentence_errors(gold, pred, [str(w) for w in words], index)]


def type_confusion(true_tags, pred_tags, *, tags: Sequence[str] | None = None) -> dict:
    """``confusion[gold_type][pred_type]`` over exactly matching spans, ``"none"`` for no entity (lab 03)."""
    true_tags, pred_tags, _, types = _check_tag_pairs(true_tags, pred_tags, where="type_confusion", tags=tags)
    labels = (*types, "none")
    confusion = {g: {p: 0 for p in labels} for g in labels}
    for gold, pred in zip(true_tags, pred_tags):
        gold_spans = {(s, e): kind for kind, s, e in entity_spans(gold)}
        pred_spans = {(s, e): kind for kind, s, e in entity_spans(pred)}
        for span in gold_spans.keys() | pred_spans.keys():
            confusion[gold_spans.get(span, "none")][pred_spans.get(span, "none")] += 1
    return confusion


def worst_sentences(true_tags, pred_tags, tokens, k: int = 5, *, tags: Sequence[str] | None = None) -> list:
    """The ``k`` sentences with the most :func:`entity_errors`, worst first, as dicts with their tags (lab 03)."""
    checks.integer(k, "k", "worst_sentences", low=0)
    true_tags, pred_tags, tokens, _ = _check_tag_pairs(true_tags, pred_tags, tokens, where="worst_sentences", tags=tags)
    errors = [_sentence_errors(gold, pred, [str(w) for w in words], index)
              for index, (gold, pred, words) in enumerate(zip(true_tags, pred_tags, tokens))]
    ranked = sorted((i for i, found in enumerate(errors) if found), key=lambda i: (-len(errors[i]), i))[:k]
    return [{"sentence": i, "num_errors": len(errors[i]), "tokens": tokens[i], "true_tags": true_tags[i],
             "pred_tags": pred_tags[i], "errors": errors[i]} for i in ranked]


#: Background colour per entity type (ColorBrewer Pastel1); other types are grey.
_COLOURS = {"PER": "#fbb4ae", "ORG": "#b3cde3", "LOC": "#ccebc5", "MISC": "#decbe4"}


def _highlight_html(tokens, tags) -> str:
    """The sentence as HTML, escaped, one ``<span>`` per entity coloured by type with a small type label."""
    tokens = _as_list(tokens, "show_entities: tokens", "a list (one sentence)")
    tags = _as_list(tags, "show_entities: tags", "a list (one sentence)")
    checks.same_length("show_entities", tokens=tokens, tags=tags)
    _check_tags(tags, allowed=None, where="show_entities")
    words = [html.escape(str(token)) for token in tokens]
    for kind, start, end in reversed(entity_spans(tags)):
        label = html.escape(kind)
        words[start:end] = [
            f'<span class="ner-entity ner-{label}" title="{label}" style="background:{_COLOURS.get(kind, "#e5e5e5")};'
            f'padding:0.1em 0.35em;border-radius:0.35em;">{" ".join(words[start:end])} '
            f'<small style="font-size:0.65em;font-weight:bold;opacity:0.75;">{label}</small></span>']
    return f'<div class="lablib-ner" style="line-height:2.2;">{" ".join(words)}</div>'


def show_entities(tokens, tags) -> None:
    """Show a sentence with its entities highlighted: HTML in Jupyter, ``[EU]ORG rejects ...`` elsewhere (lab 03)."""
    page = _highlight_html(tokens, tags)
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(HTML(page))
        return
    words = [str(token) for token in tokens]
    for kind, start, end in reversed(entity_spans(list(tags))):
        words[start:end] = [f"[{' '.join(words[start:end])}]{kind}"]
    print(" ".join(words))


def recall_seen_unseen(train_sentences, test_sentences, pred_tags) -> dict:
    """Recall on test entities seen in training vs unseen, ``{"seen": {"recall", "found", "total"}, ...}`` (lab 03)."""
    known = set()
    for index, sentence in enumerate(train_sentences):
        words, sentence_tags = _sentence_parts(sentence, index, need_tags=True)
        known.update((kind, " ".join(words[start:end])) for kind, start, end in entity_spans(sentence_tags))
    _check_tag_pairs([s.tags for s in test_sentences], pred_tags, where="recall_seen_unseen")
    counts = {"seen": [0, 0], "unseen": [0, 0]}  # found, total
    for sentence, predicted in zip(test_sentences, pred_tags):
        predicted_spans = set(entity_spans(list(predicted)))
        for kind, start, end in entity_spans(list(sentence.tags)):
            group = "seen" if (kind, " ".join(sentence.tokens[start:end])) in known else "unseen"
            counts[group][1] += 1
            counts[group][0] += (kind, start, end) in predicted_spans
    return {group: {"recall": found / total if total else float("nan"), "found": found, "total": total}
            for group, (found, total) in counts.items()}
