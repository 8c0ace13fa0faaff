"""The classifier a run trains: the backbone with a head sized for its labels, frozen where asked,
its sigmoid biases started at the labels' base rates.
"""

from __future__ import annotations

import numpy as np
import torch

from bertviz_lib.config import TrainConfig
from bertviz_lib.data import LabelledData
from bertviz_lib.model import backbones, heads


def build_model(config: TrainConfig, label_names: list[str], problem_type: str):
    """The backbone with a head sized for the labels; label names live in the model's config."""
    outputs = heads.output_size(problem_type, len(label_names))
    head_labels = label_names[1:] if problem_type == "binary" else label_names
    hf_config = backbones.load_config(
        config.model,
        num_labels=outputs,
        id2label=dict(enumerate(head_labels)),
        label2id={name: i for i, name in enumerate(head_labels)},
        problem_type=heads.HF_PROBLEM_TYPES[problem_type],
    )
    hf_config.bertviz_label_names = list(label_names)
    hf_config.bertviz_problem_type = problem_type
    hf_config.bertviz_threshold = config.threshold
    hf_config.bertviz_max_length = config.max_length
    if config.dropout is not None:
        for name in (
            "hidden_dropout_prob",
            "attention_probs_dropout_prob",
            "classifier_dropout",
            "dropout",
            "attention_dropout",
            "seq_classif_dropout",
        ):
            if hasattr(hf_config, name):
                setattr(hf_config, name, config.dropout)
    model = backbones.load_classifier(config.model, hf_config)
    freeze(model, config)
    return model


def freeze(model, config: TrainConfig) -> None:
    """Freeze the whole encoder (head only), or its embeddings and first N layers."""
    encoder = model.base_model
    if config.head_only:
        encoder.requires_grad_(False)
        return
    if config.freeze_layers <= 0:
        return
    encoder.embeddings.requires_grad_(False)
    layers = encoder.encoder.layer if hasattr(encoder, "encoder") else encoder.transformer.layer
    for layer in layers[: config.freeze_layers]:
        layer.requires_grad_(False)


def start_at_base_rates(model, data: LabelledData) -> None:
    """Set sigmoid heads' biases to each label's log-odds in the training data.

    With many rare labels a zero bias starts every label at 50%, and the first epochs are spent
    only learning that most labels are absent; starting at the base rates skips that.
    """
    targets = (
        data.label_matrix() if data.problem_type == "multi_label" else data.label_ids()[:, None]
    )
    rates = np.clip(targets.mean(axis=0), 1e-4, 1 - 1e-4)
    head = heads.output_layer(model)
    with torch.no_grad():
        head.bias.copy_(torch.as_tensor(np.log(rates / (1 - rates)), dtype=head.bias.dtype))
