"""Questions whose numbers are drawn anew for every attempt.

A fixed "precision from this confusion matrix" question is answered once and then remembered; with
counts drawn per attempt the learner has to do the steps every time. Each generator takes a seeded
`random.Random` and returns a complete choice `Question` whose answer is computed from the drawn
numbers, with wrong options that are the results of real mistakes (dividing by the row instead of
the column, averaging instead of taking the harmonic mean), each with its own feedback.

The bank holds one instance per generator, drawn with seed 0, so counts and coverage can be
checked; `realise` draws a fresh one for a test or a practice round.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import replace

from bertviz_lib.learn.quiz.bank import LiveLink, Question

BANK_SEED = 0  # the seed of the instance the bank holds
CLASSES = ("billing", "tech", "sales")  # the three teams of the confusion-matrix questions
METRICS_PAGE = LiveLink("app_pages/metrics.py", "The confusion matrix on the Metrics page")

Generator = Callable[[random.Random], Question]


def _question(question_id: str, **fields) -> Question:
    defaults = dict(difficulty="hard", level="advanced", kind="multiple_choice", origin="drawn")
    return Question(id=question_id, **{**defaults, **fields})


def _distinct(rng: random.Random, draw: Callable[[], tuple], size: int) -> tuple:
    """Draw until the candidate answers (the first `size` values) are all different when printed:
    options that print the same would leave two right answers or none."""
    while True:
        values = draw()
        if len({f"{v:.2f}" for v in values[:size]}) == size:
            return values


def _matrix_text(matrix: list[list[int]]) -> str:
    header = "true \\ predicted: " + ", ".join(CLASSES)
    rows = "; ".join(
        f"{name}: {', '.join(str(n) for n in row)}"
        for name, row in zip(CLASSES, matrix, strict=True)
    )
    return f"{header}. Rows — {rows}."


def _three_class_matrix(rng: random.Random) -> list[list[int]]:
    return [[rng.randint(12, 40) if i == j else rng.randint(1, 12) for j in range(3)]
            for i in range(3)]  # fmt: skip


def precision_from_matrix(rng: random.Random) -> Question:
    """Precision of one class from a drawn three-class confusion matrix."""
    column = rng.randrange(3)

    def draw():
        matrix = _three_class_matrix(rng)
        hit = matrix[column][column]
        predicted = sum(row[column] for row in matrix)
        actual = sum(matrix[column])
        total = sum(map(sum, matrix))
        accuracy = sum(matrix[i][i] for i in range(3)) / total
        return hit / predicted, hit / actual, accuracy, hit / total, matrix

    precision, recall, accuracy, share, matrix = _distinct(rng, draw, 4)
    name = CLASSES[column]
    hit = matrix[column][column]
    predicted = sum(row[column] for row in matrix)
    actual = sum(matrix[column])
    options = {
        f"{precision:.2f}": f"Right: {hit} of the {predicted} texts predicted as {name} are "
        f"{name}.",
        f"{recall:.2f}": f"That is recall: {hit} found of the {actual} true {name} texts "
        "(the row).",
        f"{accuracy:.2f}": "That is the accuracy over all three classes, not one class's score.",
        f"{share:.2f}": f"That divides the {name} hits by every text in the matrix.",
    }
    return _question(
        "drawn-precision-from-matrix",
        topic="evaluation",
        concepts=("confusion_matrix", "metrics"),
        skill="confusion_metric",
        prompt=f"A ticket router's validation confusion matrix (rows are the true team, columns "
        f"the predicted one): {_matrix_text(matrix)} What is the precision of '{name}'?",
        options=tuple(options),
        feedback=tuple(options.values()),
        answer=f"{precision:.2f}",
        solution=(
            f"Precision of {name} looks down its column: everything predicted as {name}.",
            f"Column total = {' + '.join(str(row[column]) for row in matrix)} = {predicted}.",
            f"The diagonal cell holds the right ones: {hit} / {predicted} = {precision:.2f}.",
        ),
        hint="Precision divides by what the model predicted, so read a column.",
        mistakes=(
            "Dividing by the row total, which gives recall.",
            "Dividing by every text in the matrix.",
        ),
        live=METRICS_PAGE,
    )


def recall_from_matrix(rng: random.Random) -> Question:
    """Recall of one class from a drawn three-class confusion matrix."""
    row_index = rng.randrange(3)

    def draw():
        matrix = _three_class_matrix(rng)
        hit = matrix[row_index][row_index]
        actual = sum(matrix[row_index])
        predicted = sum(row[row_index] for row in matrix)
        total = sum(map(sum, matrix))
        accuracy = sum(matrix[i][i] for i in range(3)) / total
        return hit / actual, hit / predicted, (actual - hit) / actual, accuracy, matrix

    recall, precision, miss_rate, accuracy, matrix = _distinct(rng, draw, 4)
    name = CLASSES[row_index]
    hit = matrix[row_index][row_index]
    actual = sum(matrix[row_index])
    predicted = sum(row[row_index] for row in matrix)
    options = {
        f"{recall:.2f}": f"Right: {hit} of the {actual} true {name} texts were found.",
        f"{precision:.2f}": f"That is precision: it divides by the {predicted} predictions "
        f"(the column).",
        f"{miss_rate:.2f}": f"That is the share of true {name} texts the model missed.",
        f"{accuracy:.2f}": "That is the accuracy over all three classes, not one class's score.",
    }
    return _question(
        "drawn-recall-from-matrix",
        topic="evaluation",
        concepts=("confusion_matrix", "metrics"),
        skill="confusion_metric",
        prompt=f"A ticket router's validation confusion matrix (rows are the true team, columns "
        f"the predicted one): {_matrix_text(matrix)} What is the recall of '{name}'?",
        options=tuple(options),
        feedback=tuple(options.values()),
        answer=f"{recall:.2f}",
        solution=(
            f"Recall of {name} reads along its row: every text that really is {name}.",
            f"Row total = {' + '.join(str(n) for n in matrix[row_index])} = {actual}.",
            f"Found: the diagonal cell, {hit}. Recall = {hit} / {actual} = {recall:.2f}.",
        ),
        hint="Recall starts from the texts that really belong to the class: a row.",
        mistakes=(
            "Reading the column, which gives precision.",
            "Reporting the miss rate, 1 − recall.",
        ),
        live=METRICS_PAGE,
    )


def f1_from_counts(rng: random.Random) -> Question:
    """F1 of the positive class from drawn true/false positive and negative counts."""

    def draw():
        tp, fp, fn, tn = (rng.randint(20, 60), rng.randint(3, 30), rng.randint(3, 30),
                          rng.randint(60, 200))  # fmt: skip
        precision, recall = tp / (tp + fp), tp / (tp + fn)
        f1 = 2 * precision * recall / (precision + recall)
        accuracy = (tp + tn) / (tp + fp + fn + tn)
        return f1, (precision + recall) / 2, accuracy, precision * recall, tp, fp, fn, tn

    values = _distinct(rng, draw, 4)
    f1, average, accuracy, product, tp, fp, fn, tn = values
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    options = {
        f"{f1:.2f}": f"Right: 2 × {precision:.2f} × {recall:.2f} / ({precision:.2f} + "
        f"{recall:.2f}).",
        f"{average:.2f}": "That is the plain average of precision and recall; F1 is their "
        "harmonic mean, pulled towards the smaller one.",
        f"{accuracy:.2f}": f"That is accuracy, which counts the {tn} true negatives too.",
        f"{product:.2f}": "That is precision × recall without the 2 / (precision + recall).",
    }
    return _question(
        "drawn-f1-from-counts",
        topic="evaluation",
        concepts=("metrics",),
        skill="confusion_metric",
        prompt=f"A fraud detector on its validation set: {tp} true positives, {fp} false "
        f"positives, {fn} false negatives and {tn} true negatives. What is its F1 for the "
        "fraud class (two decimals)?",
        options=tuple(options),
        feedback=tuple(options.values()),
        answer=f"{f1:.2f}",
        solution=(
            f"Precision = TP / (TP + FP) = {tp} / {tp + fp} = {precision:.3f}.",
            f"Recall = TP / (TP + FN) = {tp} / {tp + fn} = {recall:.3f}.",
            f"F1 = 2PR / (P + R) = {f1:.3f}. True negatives play no part in it.",
        ),
        hint="Work out precision and recall first, then their harmonic mean.",
        mistakes=(
            "Averaging precision and recall.",
            "Counting true negatives, which F1 ignores.",
        ),
        live=METRICS_PAGE,
    )


def macro_recall_from_counts(rng: random.Random) -> Question:
    """Macro-averaged recall against accuracy on a drawn, imbalanced two-class matrix."""

    def draw():
        negatives, positives = rng.randint(300, 900), rng.randint(20, 80)
        found = rng.randint(positives // 4, positives - 5)
        alarms = rng.randint(5, negatives // 10)
        negative_recall = (negatives - alarms) / negatives
        positive_recall = found / positives
        macro = (negative_recall + positive_recall) / 2
        accuracy = (negatives - alarms + found) / (negatives + positives)
        recalls = (positive_recall, negative_recall)
        return macro, accuracy, *recalls, negatives, positives, found, alarms

    macro, accuracy, positive_recall, negative_recall, negatives, positives, found, alarms = (
        _distinct(rng, draw, 4)
    )
    options = {
        f"{macro:.2f}": f"Right: ({negative_recall:.3f} + {positive_recall:.3f}) / 2; each class "
        "counts the same.",
        f"{accuracy:.2f}": "That is accuracy, which the many 'ok' texts dominate.",
        f"{positive_recall:.2f}": "That is the recall of 'fault' alone; macro averages both.",
        f"{negative_recall:.2f}": "That is the recall of 'ok' alone; macro averages both.",
    }
    return _question(
        "drawn-macro-recall-from-counts",
        topic="evaluation",
        concepts=("metrics", "confusion_matrix"),
        skill="confusion_metric",
        prompt=f"A fault detector's validation set holds {negatives} 'ok' and {positives} 'fault' "
        f"texts. It flags {found} of the faults, and also flags {alarms} ok texts by mistake. "
        "What is its macro-averaged recall (two decimals)?",
        options=tuple(options),
        feedback=tuple(options.values()),
        answer=f"{macro:.2f}",
        solution=(
            f"Recall of fault = {found} / {positives} = {positive_recall:.3f}.",
            f"Recall of ok = ({negatives} − {alarms}) / {negatives} = {negative_recall:.3f}.",
            f"Macro recall = their plain mean = {macro:.3f}, while accuracy is {accuracy:.3f}: the "
            "gap is the rare class being missed.",
        ),
        hint="Work out the recall of each class, then average them without weights.",
        mistakes=(
            "Reporting accuracy, which the large class dominates.",
            "Weighting the average by class size (that gives accuracy back).",
        ),
        live=METRICS_PAGE,
    )


def threshold_from_pr_table(rng: random.Random) -> Question:
    """The threshold with the highest recall whose precision meets a drawn floor."""
    thresholds = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    while True:
        precision = sorted(round(rng.uniform(0.55, 0.98), 2) for _ in thresholds)
        recall = sorted((round(rng.uniform(0.35, 0.97), 2) for _ in thresholds), reverse=True)
        floor = rng.choice((0.8, 0.85, 0.9))
        meeting = [i for i, p in enumerate(precision) if p >= floor]
        if 2 <= len(meeting) <= 4 and len(set(precision)) == len(precision):
            break
    best = meeting[0]  # recall falls as the threshold rises: the lowest threshold that meets it
    rows = "; ".join(
        f"{t:.1f} → precision {p:.2f}, recall {r:.2f}"
        for t, p, r in zip(thresholds, precision, recall, strict=True)
    )
    answer = thresholds[best]
    lowest, highest = thresholds[0], thresholds[-1]
    candidates = {answer: f"Right: the lowest threshold whose precision reaches {floor:.2f}, so "
                  f"it keeps the most recall ({recall[best]:.2f})."}  # fmt: skip
    wrong = [
        (highest, f"Precision is highest there, but recall falls to {recall[-1]:.2f}: the floor "
         "was met with recall to spare."),
        (thresholds[best + 1], f"It meets the floor too, but recall drops to "
         f"{recall[best + 1]:.2f}: a higher threshold flags fewer texts."),
        (lowest, f"Recall is highest there, but precision {precision[0]:.2f} is under the "
         "floor."),
        (thresholds[best - 1] if best else lowest, f"Its precision, {precision[best - 1]:.2f}, "
         "is under the floor."),
    ]  # fmt: skip
    for threshold, why in wrong:
        if threshold not in candidates and len(candidates) < 4:
            candidates[threshold] = why
    options = {f"{t:.1f}": candidates[t] for t in sorted(candidates)}
    return _question(
        "drawn-threshold-from-pr-table",
        topic="evaluation",
        concepts=("roc_pr_auc", "metrics"),
        skill="pr_threshold",
        prompt=f"A binary moderation model's precision and recall on validation at six "
        f"thresholds: {rows}. Moderators need a precision of at least {floor:.2f} and want to "
        "catch as much as possible. Which threshold do you pick?",
        options=tuple(options),
        feedback=tuple(options.values()),
        answer=f"{answer:.1f}",
        solution=(
            f"Keep the thresholds whose precision is at least {floor:.2f}: "
            + ", ".join(f"{thresholds[i]:.1f}" for i in meeting)
            + ".",
            "Among those, recall is highest at the lowest threshold: raising the threshold "
            "flags fewer texts, so recall can only stay or fall.",
            f"So {answer:.1f}, with recall {recall[best]:.2f}. Choose it on validation, then "
            "confirm it on test data.",
        ),
        hint="First filter by the requirement, then maximise what is left to maximise.",
        mistakes=(
            "Taking the highest threshold because precision is highest there.",
            "Keeping 0.5 because it is the default.",
        ),
        live=LiveLink("app_pages/metrics.py", "The precision-recall curve on the Metrics page"),
    )


def early_stopping_from_losses(rng: random.Random) -> Question:
    """Which epoch early stopping keeps, and when it stops, from drawn loss curves."""
    epochs = 8
    best = rng.randint(2, 5)
    patience = 2
    train = [round(0.7 * 0.72**e + rng.uniform(0, 0.02), 2) for e in range(epochs)]
    validation = []
    for epoch in range(1, epochs + 1):
        gap = abs(epoch - best)
        validation.append(round(0.34 + 0.05 * gap + rng.uniform(0, 0.015), 2))
    validation[best - 1] = round(min(validation) - 0.02, 2)
    stop = best + patience
    rows = "; ".join(
        f"epoch {e}: train {t:.2f}, validation {v:.2f}"
        for e, t, v in zip(range(1, epochs + 1), train, validation, strict=True)
        if e <= stop
    )

    def option(keep: int, stopped: int) -> str:
        return f"keeps epoch {keep}, stops after epoch {stopped}"

    options = {
        option(best, stop): f"Right: epoch {best} has the lowest validation loss, and the "
        f"{patience} epochs after it bring no improvement.",
        option(stop, stop): "The last epoch run is not the best one: early stopping restores "
        "the best checkpoint.",
        option(best, best): f"Patience {patience} means it waits {patience} more evaluations "
        "before it gives up.",
        option(stop, epochs): "Training loss is still falling, but the decision follows the "
        "validation loss.",
    }
    return _question(
        "drawn-early-stopping-from-losses",
        topic="training",
        concepts=("overfitting", "data_splits"),
        skill="loss_curve",
        prompt=f"A run planned for {epochs} epochs uses early stopping on the validation loss "
        f"with patience {patience}. Its losses: {rows}. Which checkpoint is kept, and when does "
        "training stop?",
        options=tuple(options),
        feedback=tuple(options.values()),
        answer=option(best, stop),
        solution=(
            f"The validation loss is lowest at epoch {best} ({validation[best - 1]:.2f}).",
            f"Epochs {best + 1} and {stop} do not beat it, so after {patience} evaluations "
            f"without improvement training stops after epoch {stop}.",
            f"The kept model is the epoch-{best} checkpoint; the falling training loss after it "
            "is the model memorising the training set.",
        ),
        hint="Find the best validation epoch, then count the patience.",
        mistakes=(
            "Keeping the last epoch's weights.",
            "Following the training loss, which keeps falling.",
        ),
        live=LiveLink("app_pages/metrics.py", "Loss curves on the Metrics page"),
    )


def steps_and_warmup(rng: random.Random) -> Question:
    """Total optimisation steps and warm-up steps from drawn data size, batch and epochs."""
    examples = rng.choice((600, 800, 1000, 1200, 1500, 2000))
    batch = rng.choice((8, 16, 32))
    epochs = rng.choice((2, 3, 4))
    ratio = rng.choice((0.06, 0.1, 0.2))
    per_epoch = math.ceil(examples / batch)
    total = per_epoch * epochs
    warm = int(ratio * total)

    def option(steps: int, warmup: int) -> str:
        return f"{steps} steps, {warmup} of them warm-up"

    candidates = {
        option(total, warm): f"Right: ceil({examples} / {batch}) = {per_epoch} steps per epoch, "
        f"× {epochs} = {total}; warm-up int({ratio:g} × {total}) = {warm}.",
        option(total, int(ratio * per_epoch)): "The warm-up ratio is a share of all steps, not "
        "of one epoch.",
        option(examples * epochs, int(ratio * examples * epochs)): "That counts texts seen, "
        "not steps: a step takes a whole batch.",
        option(per_epoch, int(ratio * per_epoch)): "That is one epoch; the run has "
        f"{epochs} of them.",
    }
    if len(candidates) < 4:
        return steps_and_warmup(rng)
    return _question(
        "drawn-steps-and-warmup",
        topic="training",
        concepts=("batch_epochs", "warmup"),
        skill="calculation",
        difficulty="medium",
        level="intermediate",
        prompt=f"A run trains on {examples} texts with batch size {batch} for {epochs} epochs "
        f"and warmup_ratio {ratio:g}. How many optimisation steps does it take, and how many of "
        "them are warm-up?",
        options=tuple(candidates),
        feedback=tuple(candidates.values()),
        answer=option(total, warm),
        solution=(
            f"Steps per epoch = ceil({examples} / {batch}) = {per_epoch}.",
            f"Total steps = {per_epoch} × {epochs} = {total}.",
            f"Warm-up = int({ratio:g} × {total}) = {warm} steps.",
        ),
        hint="One step per batch; the warm-up ratio is a share of all steps.",
        mistakes=(
            "Counting texts instead of batches.",
            "Taking the warm-up ratio of one epoch.",
        ),
        live=LiveLink("app_pages/metrics.py", "The learning-rate chart on the Metrics page"),
    )


def brier_from_predictions(rng: random.Random) -> Question:
    """The Brier score of four drawn binary predictions."""

    def draw():
        probabilities = [round(rng.uniform(0.05, 0.95), 1) for _ in range(4)]
        labels = [rng.randint(0, 1) for _ in range(4)]
        if len(set(labels)) < 2:
            labels[0] = 1 - labels[0]
        brier = sum((p - y) ** 2 for p, y in zip(probabilities, labels, strict=True)) / 4
        absolute = sum(abs(p - y) for p, y in zip(probabilities, labels, strict=True)) / 4
        wrong = sum((p >= 0.5) != y for p, y in zip(probabilities, labels, strict=True)) / 4
        squared_sum = brier * 4
        return brier, absolute, wrong, squared_sum, probabilities, labels

    brier, absolute, wrong, squared_sum, probabilities, labels = _distinct(rng, draw, 4)
    pairs = ", ".join(f"p = {p:.1f} (true {y})" for p, y in zip(probabilities, labels, strict=True))
    terms = " + ".join(f"({p:.1f} − {y})²" for p, y in zip(probabilities, labels, strict=True))
    options = {
        f"{brier:.3f}": "Right: the mean squared gap between each probability and its 0/1 outcome.",
        f"{absolute:.3f}": "That is the mean absolute gap; the Brier score squares each gap.",
        f"{wrong:.3f}": "That is the error rate at threshold 0.5, which ignores how confident "
        "each prediction was.",
        f"{squared_sum:.3f}": "That is the sum of the squared gaps; the Brier score is their mean.",
    }
    return _question(
        "drawn-brier-from-predictions",
        topic="evaluation",
        concepts=("brier_score", "calibration"),
        skill="calculation",
        prompt=f"A binary model gives these probabilities of the positive class: {pairs}. What "
        "is its Brier score (three decimals)?",
        options=tuple(options),
        feedback=tuple(options.values()),
        answer=f"{brier:.3f}",
        solution=(
            "The Brier score is the mean squared error between the predicted probability and "
            "the outcome written as 0 or 1.",
            f"({terms}) / 4 = {squared_sum:.3f} / 4 = {brier:.3f}.",
            "Lower is better; 0.25 is what always answering 0.5 scores.",
        ),
        hint="Square each gap between probability and outcome, then average.",
        mistakes=(
            "Using absolute gaps instead of squared ones.",
            "Thresholding first, which throws the probabilities away.",
        ),
        live=LiveLink("app_pages/metrics.py", "The reliability diagram on the Metrics page"),
    )


def class_weight_from_counts(rng: random.Random) -> Question:
    """The 'balanced' weight of the rare class, as this app's class_weights=auto computes it."""
    rare = rng.choice((40, 60, 80, 100, 120, 150))
    common = rng.choice((300, 400, 500, 600, 800))
    total = rare + common
    weight = total / (2 * rare)
    options = {
        f"{weight:.2f}": f"Right: {total} texts / (2 classes × {rare}) = {weight:.2f}.",
        f"{common / rare:.2f}": "That is the ratio of the counts, the positive weight a single "
        "sigmoid head would use, not the balanced weight of a softmax class.",
        f"{rare / total:.2f}": "That is the rare class's share of the data; its weight must "
        "grow, not shrink, as it gets rarer.",
        f"{total / (2 * common):.2f}": "That is the weight of the common class.",
    }
    if len(options) < 4:
        return class_weight_from_counts(rng)
    return _question(
        "drawn-class-weight-from-counts",
        topic="training",
        concepts=("class_weights",),
        skill="calculation",
        difficulty="medium",
        level="advanced",
        prompt=f"A two-class (softmax) training set holds {common} 'ok' and {rare} 'fault' texts. "
        "With class_weights=auto this app weighs each class by total / (classes × its count). "
        "What weight does 'fault' get?",
        options=tuple(options),
        feedback=tuple(options.values()),
        answer=f"{weight:.2f}",
        solution=(
            f"Total = {common} + {rare} = {total}, with 2 classes.",
            f"Weight of fault = {total} / (2 × {rare}) = {weight:.2f}; of ok = "
            f"{total} / (2 × {common}) = {total / (2 * common):.2f}.",
            "Each class then adds the same total weight to the loss, so the rare class is not "
            "drowned out.",
        ),
        hint="Rarer classes get larger weights.",
        mistakes=(
            "Weighting by the class's share, which makes the rare class count even less.",
            "Mixing up the balanced weight with a sigmoid head's positive weight.",
        ),
        live=LiveLink("app_pages/train.py", "The class-weights setting on the Train page"),
    )


GENERATORS: dict[str, Generator] = {
    "drawn-precision-from-matrix": precision_from_matrix,
    "drawn-recall-from-matrix": recall_from_matrix,
    "drawn-f1-from-counts": f1_from_counts,
    "drawn-macro-recall-from-counts": macro_recall_from_counts,
    "drawn-threshold-from-pr-table": threshold_from_pr_table,
    "drawn-early-stopping-from-losses": early_stopping_from_losses,
    "drawn-steps-and-warmup": steps_and_warmup,
    "drawn-brier-from-predictions": brier_from_predictions,
    "drawn-class-weight-from-counts": class_weight_from_counts,
}


def drawn_questions(seed: int = BANK_SEED) -> tuple[Question, ...]:
    """One instance of every drawn question (the bank's copies use BANK_SEED)."""
    return tuple(make(random.Random(f"{seed}:{name}")) for name, make in GENERATORS.items())


def realise(question: Question, rng: random.Random) -> Question:
    """A fresh instance of a drawn question (new numbers), or the question itself otherwise."""
    if question.origin != "drawn":
        return question
    return GENERATORS[question.id](rng)


def shuffled(question: Question, rng: random.Random) -> Question:
    """The question with its options (and their feedback) in a random order.

    File order would let a learner (or a pattern in how the bank was written) give the answer
    away; every draw shuffles.
    """
    if not question.is_choice:
        return question
    order = list(range(len(question.options)))
    rng.shuffle(order)
    return replace(
        question,
        options=tuple(question.options[i] for i in order),
        feedback=tuple(question.feedback[i] for i in order) if question.feedback else (),
    )
