"""Everything the loop needs, built once before the first step: device, tokenized texts, model,
loss, optimizer and schedule, and which fast paths this device takes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bertviz_lib.config import TrainConfig
from bertviz_lib.data import LabelledData
from bertviz_lib.devices import resolve_device, use_all_cores
from bertviz_lib.model import backbones, heads
from bertviz_lib.model.build import build_model, start_at_base_rates
from bertviz_lib.model.patches import patch_for_training
from bertviz_lib.model.patches.sparse_embedding import SparseEmbeddingGradient
from bertviz_lib.train import batching, distributed
from bertviz_lib.train.dynamics import DynamicsRecorder
from bertviz_lib.train.optimizer import make_optimizer, warmup_then_linear


@dataclass
class Setup:
    """Everything the loop needs, built once before the first step."""

    device: torch.device
    tokenizer: object
    model: torch.nn.Module  # what the step calls: the network, or DDP around it on several ranks
    network: torch.nn.Module  # the network itself: evaluated, copied and saved
    ranks: distributed.Ranks
    pad_id: int
    train_ids: list[list[int]]
    validation_ids: list[list[int]]
    targets: torch.Tensor
    loss_fn: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    steps_per_epoch: int
    total_steps: int
    dynamics: DynamicsRecorder  # each row's P(gold label) per epoch (dynamics.py)
    micro_batches: int = 1  # raised after an out-of-memory error, kept for the later steps
    cuda_graphs: bool = False  # the steps start on the CUDA-graph path
    cls_only: bool = False  # the last layer computes [CLS] alone while training (cls_only.py)
    cpu_dropout: bool = False  # dropout from cheaper random bits on the CPU (cpu_dropout.py)
    sparse_embedding: SparseEmbeddingGradient | None = None  # on one CPU (sparse_embedding.py)


def wants_cuda_graphs(config: TrainConfig, device: torch.device, ranks: distributed.Ranks) -> bool:
    """CUDA graphs on one CUDA GPU when asked for; DDP's gradient hooks are not captured here."""
    return config.cuda_graphs and device.type == "cuda" and not ranks.several


def set_up(train_data: LabelledData, validation_data: LabelledData, config: TrainConfig) -> Setup:
    torch.manual_seed(config.seed)
    ranks = distributed.from_environment()
    device = resolve_device(config.device)
    if ranks.several:
        device = distributed.start(ranks, device)
    if device.type == "cpu":
        use_all_cores()
    tokenizer = backbones.load_tokenizer(config.model)
    model = build_model(config, train_data.label_names, train_data.problem_type).to(device)
    graphs = wants_cuda_graphs(config, device, ranks)
    eager_on_one_cpu = device.type == "cpu" and not ranks.several and not graphs
    patches = patch_for_training(model, device, eager_on_one_cpu, wanted=config.fast_paths)
    if train_data.problem_type != "single_label":
        start_at_base_rates(model, train_data)
    train_ids = batching.tokenize(tokenizer, train_data.texts, config.max_length)
    weights = None
    if config.class_weights == "auto":
        arrays = _label_arrays(train_data)
        weights = heads.class_weights(train_data.problem_type, *arrays, len(train_data.label_names))
        weights = weights.to(device)
    optimizer = make_optimizer(model, config, device, capturable=graphs)
    steps_per_epoch = math.ceil(len(train_ids) / config.batch_size) // ranks.world
    total_steps = steps_per_epoch * config.epochs
    return Setup(
        device=device,
        tokenizer=tokenizer,
        model=_parallel(model, ranks, device),
        network=model,
        ranks=ranks,
        pad_id=tokenizer.pad_token_id or 0,
        train_ids=train_ids,
        validation_ids=batching.tokenize(tokenizer, validation_data.texts, config.max_length),
        targets=training_targets(train_data),
        loss_fn=heads.loss_function(train_data.problem_type, weights),
        optimizer=optimizer,
        scheduler=warmup_then_linear(
            optimizer, int(config.warmup_ratio * total_steps), total_steps
        ),
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        cuda_graphs=graphs,
        cls_only=patches.cls_only,
        cpu_dropout=patches.cpu_dropout,
        sparse_embedding=patches.sparse_embedding,
        dynamics=DynamicsRecorder(
            train_data.problem_type, len(train_ids), config.threshold, device
        ),
    )


def _parallel(model: torch.nn.Module, ranks: distributed.Ranks, device: torch.device):
    if not ranks.several:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def training_targets(data: LabelledData) -> torch.Tensor:
    if data.problem_type == "multi_label":
        return heads.targets("multi_label", None, data.label_matrix())
    return heads.targets(data.problem_type, data.label_ids(), None)


def _label_arrays(data: LabelledData):
    if data.problem_type == "multi_label":
        return None, data.label_matrix()
    return data.label_ids(), None
