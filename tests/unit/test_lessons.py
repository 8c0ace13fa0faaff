"""Live lessons: tokenization, the way from [CLS] to a decision, and the runnable snippets."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from bertviz_lib.learn import lessons
from bertviz_lib.learn.quiz import load_bank
from bertviz_lib.metrics import classification_metrics, prediction_ids

LIBRARY = Path(__file__).resolve().parents[2] / "bertviz_lib"


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def classifier(tiny_model_dir):
    """The tiny encoder with a seeded, untrained three-class head."""
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3)
    return model.eval()


def test_tokenization_lists_every_position_with_its_kind_id_and_mask(tokenizer):
    lesson = lessons.tokenization(tokenizer, "Great film", max_length=6)
    assert [r.token for r in lesson.rows] == ["[CLS]", "great", "film", "[SEP]", "[PAD]", "[PAD]"]
    assert [r.id for r in lesson.rows] == [101, 2307, 2143, 102, 0, 0]
    assert [r.kind for r in lesson.rows] == ["[CLS]", "word piece", "word piece", "[SEP]",
                                             "[PAD]", "[PAD]"]  # fmt: skip
    assert [r.attention_mask for r in lesson.rows] == [1, 1, 1, 1, 0, 0]
    assert (lesson.real_tokens, lesson.padding) == (4, 2)
    assert not lesson.truncated and lesson.total_tokens == 4


def test_tokenization_flags_truncation_and_keeps_sep_last(tokenizer):
    lesson = lessons.tokenization(tokenizer, "tokenizers split unfamiliar words apart", 5)
    assert lesson.truncated and lesson.total_tokens > 5
    assert len(lesson.rows) == 5 and lesson.rows[-1].kind == "[SEP]"
    assert [r.token for r in lesson.rows[1:4]] == ["token", "##izer", "##s"]
    assert [r.continues_word for r in lesson.rows[1:4]] == [False, True, True]
    with pytest.raises(ValueError, match="at least 2"):
        lessons.tokenization(tokenizer, "text", 1)


def test_naive_splitting_is_compared_with_the_vocabulary(tokenizer):
    lesson = lessons.tokenization(tokenizer, "Great film, truly", 16)
    assert lesson.naive_words == ["Great", "film,", "truly"]
    assert lesson.naive_in_vocabulary == [False, False, True]  # case and punctuation


def test_the_tokenization_code_shown_is_the_code_that_ran(tokenizer):
    lesson = lessons.tokenization(tokenizer, "Great film", 6)
    assert lesson.code == inspect.getsource(lessons.encode_padded).strip()
    assert 'padding="max_length"' in lesson.code and "truncation=True" in lesson.code


def independent_forward(model, tokenizer, text: str):
    encoded = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        outputs = model(**encoded, output_hidden_states=True)
    return outputs.hidden_states[-1][0, 0], outputs.logits[0]


def test_cls_to_decision_follows_the_cls_vector_to_the_argmax(classifier, tokenizer):
    decision = lessons.cls_to_decision(classifier, tokenizer, "the film was superb",
                                       label_names=["bad", "fine", "good"])  # fmt: skip
    cls_vector, logits = independent_forward(classifier, tokenizer, "the film was superb")
    assert decision.tokens == ["[CLS]", "the", "film", "was", "superb", "[SEP]"]
    assert len(decision.cls_vector) == 32
    assert torch.allclose(torch.tensor(decision.cls_vector), cls_vector, atol=1e-6)
    assert torch.allclose(torch.tensor(decision.logits), logits, atol=1e-6)
    assert torch.allclose(torch.tensor(decision.head_logits), logits, atol=1e-5)
    assert sum(decision.softmax) == pytest.approx(1.0, abs=1e-6)
    expected_sigmoid = [1 / (1 + torch.exp(-x).item()) for x in logits]
    assert decision.sigmoid == pytest.approx(expected_sigmoid, abs=1e-6)
    assert decision.argmax == int(torch.argmax(logits))
    assert decision.argmax == max(range(3), key=decision.softmax.__getitem__)
    assert decision.decision == [["bad", "fine", "good"][decision.argmax]]
    assert decision.rule == f"argmax over the classes: index {decision.argmax}"


def test_the_decision_follows_the_head_of_each_problem_type(classifier, tokenizer, tiny_model_dir):
    names = ["a", "b", "c"]
    multi = lessons.cls_to_decision(classifier, tokenizer, "text", names, "multi_label", 0.5)
    assert multi.decision == [n for n, p in zip(names, multi.sigmoid, strict=True) if p >= 0.5]
    everything = lessons.cls_to_decision(classifier, tokenizer, "text", names, "multi_label", 1e-9)
    assert everything.decision == names
    assert "reaches the threshold" in multi.rule
    torch.manual_seed(1)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1).eval()
    binary = lessons.cls_to_decision(model, tokenizer, "text", ["neg", "pos"], "binary")
    assert binary.softmax == [1.0]  # one logit: softmax has nothing to compare
    assert binary.argmax is None  # an argmax over one logit is always 0 and decides nothing
    assert binary.decision == (["pos"] if binary.sigmoid[0] >= 0.5 else ["neg"])


def test_a_binary_run_decides_at_its_own_threshold_with_the_rule_every_page_uses(
    tokenizer, tiny_model_dir
):
    torch.manual_seed(1)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1).eval()
    probability = lessons.cls_to_decision(model, tokenizer, "text", ["neg", "pos"], "binary")
    p = probability.sigmoid[0]
    below, above = max(p - 0.01, 0.001), min(p + 0.01, 0.999)
    said_yes = lessons.cls_to_decision(model, tokenizer, "text", ["neg", "pos"], "binary", below)
    said_no = lessons.cls_to_decision(model, tokenizer, "text", ["neg", "pos"], "binary", above)
    assert said_yes.decision == ["pos"] and said_no.decision == ["neg"]
    assert f"sigmoid({said_no.logits[0]:+.3f})" in said_no.rule and "is under" in said_no.rule
    probabilities = np.array([[1 - p, p]])
    for threshold, expected in ((below, "pos"), (above, "neg")):
        decided = prediction_ids(probabilities, "binary", threshold)  # Predict and Metrics
        assert ["neg", "pos"][int(decided[0])] == expected
    scores = classification_metrics(np.array([1]), probabilities, ["neg", "pos"], "binary", above)
    assert scores["confusion_matrix"] == [[0, 0], [1, 0]]  # the true "pos" decided "neg"


def test_the_cls_code_shown_is_the_code_that_ran(classifier, tokenizer):
    decision = lessons.cls_to_decision(classifier, tokenizer, "short text")
    assert decision.code == lessons.cls_decision_code()
    assert inspect.getsource(lessons.forward_with_cls).strip() in decision.code
    assert inspect.getsource(lessons.bert_head_by_hand).strip() in decision.code
    assert "hidden_states[-1]" in decision.code and "torch.softmax" in decision.code
    assert decision.label_names == ["LABEL_0", "LABEL_1", "LABEL_2"]


def test_the_demo_classifier_has_a_seeded_head(tiny_model_dir):
    first, tokenizer = lessons.demo_classifier(tiny_model_dir, num_labels=2, seed=3)
    second, _ = lessons.demo_classifier(tiny_model_dir, num_labels=2, seed=3)
    other, _ = lessons.demo_classifier(tiny_model_dir, num_labels=2, seed=4)
    assert not first.training
    assert torch.equal(first.classifier.weight, second.classifier.weight)
    assert not torch.equal(first.classifier.weight, other.classifier.weight)
    decision = lessons.cls_to_decision(first, tokenizer, "hello")
    assert decision.label_names == ["class 0", "class 1"] and len(decision.logits) == 2


# --- Snippets ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_class_model(tiny_model_dir):
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)


SNIPPET_QUESTIONS = [q for q in load_bank().questions if q.snippet]


@pytest.mark.parametrize("question", SNIPPET_QUESTIONS, ids=lambda q: q.id)
def test_each_snippet_question_shows_its_code_and_its_answer_is_what_it_prints(
    question, tokenizer, two_class_model
):
    assert question.code == lessons.snippet_source(question.snippet)
    result = lessons.run_snippet(question.snippet, tokenizer=tokenizer, model=two_class_model)
    assert result.source == question.code
    assert result.output == question.answer


def test_every_snippet_is_used_by_a_question_and_runs():
    used = {q.snippet for q in SNIPPET_QUESTIONS}
    assert used == set(lessons.SNIPPETS)
    assert lessons.SNIPPETS["padding_and_mask"].needs == ("tokenizer",)
    assert lessons.SNIPPETS["no_labels_no_loss"].needs == ("tokenizer", "model")
    assert lessons.run_snippet("argmax_rows").output == "tensor([1, 0])"


def test_snippet_source_is_the_function_body_and_nothing_else():
    source = lessons.snippet_source("precision_recall_f1")
    assert not source.startswith("def ") and "print(" in source
    body = inspect.getsource(lessons.SNIPPETS["precision_recall_f1"].function)
    for line in source.splitlines():
        assert line.strip() in body
    ast.parse(source)  # the shown code is valid Python on its own


def test_only_registered_snippets_run():
    with pytest.raises(KeyError, match="No snippet named"):
        lessons.run_snippet("__import__('os').system('true')")


def test_a_word_changes_its_output_vector_when_only_later_words_change(classifier, tokenizer):
    model = classifier
    shift = lessons.context_shift(
        model, tokenizer, "the bank of the river", "the bank raised its rates", "bank"
    )
    assert shift.input_similarity == pytest.approx(1.0, abs=1e-6)
    # the words after 'bank' changed its vector (a little: the tiny model's weights are random)
    assert shift.output_similarity < 1 - 1e-6
    same = lessons.context_shift(
        model, tokenizer, "the bank of the river", "the bank of the river", "bank"
    )
    assert same.output_similarity == pytest.approx(1.0, abs=1e-5)
    assert "hidden_states" in shift.code
    with pytest.raises(ValueError):
        lessons.context_shift(model, tokenizer, "a river", "a lake", "bank")
