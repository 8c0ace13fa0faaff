"""Resolving model names: bundled, local folders, hub ids; failing fast and clearly offline."""

from __future__ import annotations

import time

import pytest

from bertviz_lib import backbones


def test_bundled_resolves_to_the_installed_package_folder():
    backbone = backbones.resolve("bundled")
    assert backbone.kind == "bundled"
    assert (backbones.bundled_path() / "model.safetensors").is_file()


def test_bundled_tokenizer_is_uncased_wordpiece():
    tokenizer = backbones.load_tokenizer("bundled")
    assert tokenizer.tokenize("Unbelievable!") == ["unbelievable", "!"]
    assert tokenizer("hi")["input_ids"][0] == tokenizer.cls_token_id


def test_a_local_folder_with_safetensors_resolves(tiny_model_dir):
    assert backbones.resolve(tiny_model_dir).kind == "local"


def test_a_folder_with_only_pickled_weights_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(backbones.BackboneError, match="only safetensors"):
        backbones.resolve(str(tmp_path))


@pytest.mark.parametrize("name", ["bert-base-uncased", "google/bert_uncased_L-2_H-128_A-2"])
def test_hub_ids_are_recognised(name):
    assert backbones.resolve(name).kind == "hub"


@pytest.mark.parametrize("name", ["../up", "/no/such/folder", "a/b/c", "bad id with spaces"])
def test_names_that_are_neither_folder_nor_hub_id_are_refused(name):
    with pytest.raises(backbones.BackboneError):
        backbones.resolve(name)


def test_an_unreachable_hub_fails_fast_naming_the_id_and_suggesting_bundled(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(backbones.BackboneError) as caught:
        backbones.load_tokenizer("someone/not-cached-model")
    assert time.perf_counter() - started < 10
    message = str(caught.value)
    assert "'someone/not-cached-model'" in message and "--model bundled" in message
