"""Resolving model names: bundled, local folders, hub ids; failing fast and clearly offline."""

from __future__ import annotations

import shutil
import time

import pytest

from bertviz_lib.model import backbones


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


@pytest.fixture
def store(tmp_path, tiny_model_dir):
    """A run store holding the tiny model in `tiny-bert`, and a model outside it in `outside`."""
    shutil.copytree(tiny_model_dir, tmp_path / "store" / "tiny-bert")
    shutil.copytree(tiny_model_dir, tmp_path / "outside")
    return tmp_path / "store"


@pytest.mark.parametrize("typed", ["tiny-bert", "tiny-bert/", "{store}/tiny-bert"])
def test_a_folder_inside_the_store_loads_by_its_name_or_path(store, typed):
    backbone = backbones.resolve(typed.format(store=store), inside=store)
    assert backbone.kind == "local"
    assert backbone.location == str((store / "tiny-bert").resolve())


@pytest.mark.parametrize(
    "typed, refusal",
    [
        ("../outside", "may not use '..'"),
        ("tiny-bert/../../outside", "may not use '..'"),
        ("{outside}", "outside the model store"),
        ("~/anything", "may not use '..' or '~'"),
        ("link-out", "outside the model store"),
        ("/etc", "outside the model store"),
    ],
)
def test_no_typed_folder_leaves_the_store(store, typed, refusal):
    (store / "link-out").symlink_to(store.parent / "outside", target_is_directory=True)
    with pytest.raises(backbones.BackboneError, match=refusal):
        backbones.resolve(typed.format(outside=store.parent / "outside"), inside=store)


def test_a_listed_hub_id_is_still_a_hub_id_with_a_store(store):
    assert backbones.resolve("prajjwal1/bert-tiny", inside=store).kind == "hub"
    with pytest.raises(backbones.BackboneError, match="downloads only the hub models it lists"):
        backbones.resolve("owner/model", inside=store)
