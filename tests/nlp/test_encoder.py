"""Encoders: tokenizer set-up, the ONNX backend (on a tiny stand-in model), the stock torch backend."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from services.nlp.models.encoder import (
    EMBEDDING_DIM,
    MANIFEST_FILE,
    MAX_TOKENS,
    ONNX_FILE,
    EncoderLoadError,
    OnnxEncoder,
    TextEncoder,
    TorchEncoder,
    load_tokenizer,
    tokenize,
)


class TinyEncoder(torch.nn.Module):
    """Same inputs and outputs as the built model, a few kilobytes of weights."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = torch.nn.Embedding(97, EMBEDDING_DIM)
        self.head = torch.nn.Linear(EMBEDDING_DIM, 3)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.embedding(torch.remainder(input_ids, 97))
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(mean, dim=1), self.head(mean)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-model")
    ids = torch.tensor([[101, 7592, 102], [101, 102, 0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            TinyEncoder().eval(),
            (ids, mask),
            str(directory / ONNX_FILE),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding", "sentiment_logits"],
            dynamic_axes={"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"}},
            opset_version=17,
            dynamo=False,
        )
    (directory / MANIFEST_FILE).write_text(json.dumps({"version": "0badc0de"}))
    return directory


def test_tokenizer_adds_special_tokens_and_truncates_at_256() -> None:
    tokenizer = load_tokenizer()
    ids, mask = tokenize(tokenizer, ["Hello world", "word " * 1000])
    assert ids.shape == (2, MAX_TOKENS)
    assert ids[0, 0] == 101
    assert ids[0, 3] == 102
    assert mask[0].sum() == 4
    assert ids[1, -1] == 102


def test_onnx_encoder_gives_embeddings_and_logits_in_input_order(tiny_model_dir: Path) -> None:
    encoder = TextEncoder.load(model_dir=tiny_model_dir, threads=2)
    assert isinstance(encoder, OnnxEncoder)
    assert encoder.name == "minilm-l6-ft-0badc0de"
    assert encoder.has_sentiment
    texts = ["a much longer text than the others, by far", "short", "", "middle sized text"]
    encoded = encoder.encode_full(texts)
    assert encoded.embeddings.shape == (4, EMBEDDING_DIM)
    assert encoded.sentiment_logits is not None
    assert encoded.sentiment_logits.shape == (4, 3)
    np.testing.assert_allclose(np.linalg.norm(encoded.embeddings, axis=1), 1.0, rtol=1e-5)
    reversed_rows = encoder.encode_full(texts[::-1])
    np.testing.assert_allclose(reversed_rows.embeddings[::-1], encoded.embeddings, atol=1e-6)
    alone = encoder.encode_full(["short"])
    assert np.array_equal(alone.embeddings[0], encoded.embeddings[1])  # each text runs alone: bit-identical
    assert alone.sentiment_logits is not None
    assert np.array_equal(alone.sentiment_logits[0], encoded.sentiment_logits[1])


def test_missing_model_without_fallback_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EncoderLoadError, match=r"run python -m services\.nlp\.models\.finetune"):
        TextEncoder.load(model_dir=tmp_path, allow_fallback=False)


def test_corrupt_model_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / ONNX_FILE).write_bytes(b"\x00not onnx")
    (tmp_path / MANIFEST_FILE).write_text(json.dumps({"version": "x"}))
    with pytest.raises(EncoderLoadError, match="not a usable ONNX model"):
        TextEncoder.load(model_dir=tmp_path)
    (tmp_path / MANIFEST_FILE).write_text("{")
    with pytest.raises(EncoderLoadError, match=r"unreadable manifest\.json"):
        TextEncoder.load(model_dir=tmp_path)


def test_stock_encoder_embeddings(stock_encoder: TorchEncoder) -> None:
    assert stock_encoder.name == "minilm-l6-v2"
    assert not stock_encoder.has_sentiment
    assert stock_encoder.encode([]).shape == (0, EMBEDDING_DIM)
    encoded = stock_encoder.encode_full(["The invoice is wrong.", "Our invoice has an error."])
    assert encoded.sentiment_logits is None
    np.testing.assert_allclose(np.linalg.norm(encoded.embeddings, axis=1), 1.0, rtol=1e-5)
    assert float(encoded.embeddings[0] @ encoded.embeddings[1]) > 0.7


def test_service_encoder_keeps_the_stock_embedding(service_encoder: TextEncoder, stock_encoder: TorchEncoder) -> None:
    # The fine-tuned model is distilled towards the stock embedding, which the stage scorer was fitted on.
    texts = [
        "Setup took forever and support never answered.",
        "Love the new dashboards!",
        "Is there a free trial?",
        "We were charged twice this month and still have no refund.",
        "The driver left the parcel in the rain.",
    ]
    cosines = np.sum(service_encoder.encode(texts) * stock_encoder.encode(texts), axis=1)
    assert cosines.mean() > 0.95  # the build reports ~0.97 mean, ~0.95 at p5 on feedback text
    assert cosines.min() > 0.92


def test_another_stock_model_is_loaded_with_its_own_width(tmp_path: Path) -> None:
    # train_stage --encoder-path compares encoders: a model of another width must load and pool alike.
    from transformers import BertConfig, BertModel

    from services.nlp.models.encoder import default_model_path

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64)
    BertModel(config).save_pretrained(tmp_path / "tiny-bert")
    (tmp_path / "tiny-bert" / "tokenizer.json").write_bytes((default_model_path() / "tokenizer.json").read_bytes())
    encoder = TorchEncoder.stock(tmp_path / "tiny-bert", threads=1)
    assert (encoder.name, encoder.dim) == ("tiny-bert", 32)
    assert encoder.encode([]).shape == (0, 32)
    embeddings = encoder.encode(["The invoice is wrong.", "Hi"])
    assert embeddings.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)


def test_train_stage_compares_another_encoder_only_without_writing(tmp_path: Path) -> None:
    from services.nlp.models import train_stage

    with pytest.raises(SystemExit) as refused:
        train_stage.main(["--encoder-path", str(tmp_path), "--out", str(tmp_path / "scorer.json")])
    assert refused.value.code == 2
    assert not (tmp_path / "scorer.json").exists()
