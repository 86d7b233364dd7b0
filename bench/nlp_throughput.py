"""NLP throughput bench: the service's inference path against a plain transformers loop, on the same texts.

Usage::

    python bench/nlp_throughput.py [--texts 2048] [--words 25] [--batch 64] [--threads 2]

Each path runs in its own fresh process (so each one's peak RSS is its own) over the same texts of
exactly ``--words`` words, in batches of ``--batch`` (the consumer's default batch size), after two
warm-up batches:

- ``service``: ``Analyzer.analyze`` on the demo journey map, i.e. redaction, language id, the encoder
  (the fine-tuned int8 ONNX model when built), sentiment, journey stage and key phrases;
- ``service-encoder``: the encoder pass alone (embedding + sentiment logits), to show what the rest costs;
- ``plain``: what one would write with transformers: ``AutoTokenizer`` + ``AutoModel`` (fp32, torch,
  padding to the longest text of each batch), mean pooling and a linear sentiment head. With
  ``--plain-model DIR`` it runs another sentence model instead (embeddings only): what a larger encoder
  would cost against the stock MiniLM, e.g. ``--modes plain`` once with and once without it.

Reports texts/s (texts / total time), median and p99 latency per batch, and peak RSS. Texts are
sentences of the UCI set (``--data``) joined and cut to length, or the project's journey texts when
that folder is missing.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODES = ("service", "service-encoder", "plain")
WARMUP_BATCHES = 2


def make_texts(count: int, words: int, data_dir: Path, seed: int = 7) -> list[str]:
    """``count`` texts of exactly ``words`` words, from real sentences, deterministic for ``seed``."""
    sentences: list[str] = []
    uci = data_dir / "uci-sentiment"
    if uci.is_dir():
        for name in ("amazon_cells_labelled.txt", "yelp_labelled.txt", "imdb_labelled.txt"):
            for line in (uci / name).read_text(encoding="latin-1").splitlines():
                sentence = line.rpartition("\t")[0].strip()
                if sentence:
                    sentences.append(sentence)
    else:
        from services.nlp.models.journey_sets import Split, load_sets

        sentences += [i.text for split in Split for s in load_sets(split) for i in s.items]
    rng = random.Random(seed)
    texts: list[str] = []
    while len(texts) < count:
        chosen: list[str] = []
        while len(chosen) < words:
            chosen += rng.choice(sentences).split()
        texts.append(" ".join(chosen[:words]))
    return texts


def _service(threads: int) -> Callable[[list[str]], object]:
    from services.nlp.models import Analyzer, TextInput
    from shared.contracts.journey_map import JourneyMap

    analyzer = Analyzer.load(JourneyMap.load(ROOT / "services" / "demo" / "journey_map.yaml"), threads=threads)
    print(f"service model: {analyzer.model_version}", file=sys.stderr)
    return lambda batch: analyzer.analyze([TextInput(t) for t in batch])


def _service_encoder(threads: int) -> Callable[[list[str]], object]:
    from services.nlp.models import TextEncoder

    encoder = TextEncoder.load(threads=threads)
    print(f"service encoder: {encoder.name}", file=sys.stderr)
    return encoder.encode_full


def _plain(threads: int, model_path: Path | None = None) -> Callable[[list[str]], object]:
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from services.nlp.models.encoder import default_model_path
    from services.nlp.models.sentiment import SentimentHead

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    torch.set_num_threads(threads)
    path = str(model_path or default_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    # The linear sentiment head reads MiniLM's 384-d embedding; another model (--plain-model) gives embeddings only.
    head = SentimentHead.load() if model_path is None else None
    weights, bias = (torch.from_numpy(head.weights), torch.from_numpy(head.bias)) if head else (None, None)
    print(f"plain model: {Path(path).name} ({model.config.hidden_size}-d)", file=sys.stderr)

    def run(batch: list[str]) -> object:
        with torch.inference_mode():
            encoded = tokenizer(batch, padding=True, truncation=True, max_length=256, return_tensors="pt")
            hidden = model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=1)
            if weights is None or bias is None:
                return pooled.numpy()
            return torch.softmax(pooled @ weights.T + bias, dim=1).numpy()

    return run


def measure(
    mode: str, texts: Sequence[str], batch: int, threads: int, plain_model: Path | None = None
) -> dict[str, Any]:
    """Run one path in this process and return its figures."""
    loaded_at = time.perf_counter()
    if mode == "plain":
        run = _plain(threads, plain_model)
    else:
        run = {"service": _service, "service-encoder": _service_encoder}[mode](threads)
    load_seconds = time.perf_counter() - loaded_at
    batches = [list(texts[i : i + batch]) for i in range(0, len(texts), batch)]
    for warmup in batches[:WARMUP_BATCHES]:
        run(warmup)
    latencies = []
    started = time.perf_counter()
    for chunk in batches:
        t0 = time.perf_counter()
        run(chunk)
        latencies.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    return {
        "mode": mode,
        "texts": len(texts),
        "texts_per_s": len(texts) / total,
        "batch_p50_ms": 1000 * float(np.percentile(latencies, 50)),
        "batch_p99_ms": 1000 * float(np.percentile(latencies, 99)),
        "load_s": load_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Spawn one process per path, then print the comparison."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--texts", type=int, default=2048)
    parser.add_argument("--words", type=int, default=25)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--plain-model", type=Path, help="the plain loop runs this sentence model (a directory that "
                        "AutoModel loads) instead of the stock MiniLM, embeddings only: what another encoder costs")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of " + ", ".join(MODES))
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    texts = make_texts(args.texts, args.words, args.data)

    if args.child:
        print(json.dumps(measure(args.child, texts, args.batch, args.threads, args.plain_model)))
        return 0

    print(f"{len(texts)} texts of {args.words} words, batches of {args.batch}, {args.threads} threads")
    results = {}
    for mode in args.modes.split(","):
        command = [sys.executable, __file__, "--child", mode, *(argv if argv is not None else sys.argv[1:])]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{mode}: failed\n{done.stderr[-2000:]}")
            return 1
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
        for line in done.stderr.splitlines():
            if line.startswith(("service model:", "service encoder:", "plain model:")):
                print(line)
    print(f"{'path':<18}{'texts/s':>9}{'p50 batch ms':>14}{'p99 batch ms':>14}{'peak RSS MB':>13}{'load s':>8}")
    for mode, r in results.items():
        print(
            f"{mode:<18}{r['texts_per_s']:>9.1f}{r['batch_p50_ms']:>14.1f}{r['batch_p99_ms']:>14.1f}"
            f"{r['peak_rss_mb']:>13.0f}{r['load_s']:>8.1f}"
        )
    if "service" in results and "plain" in results and args.plain_model is None:  # the same model on both paths
        ratio = results["service"]["texts_per_s"] / results["plain"]["texts_per_s"]
        print(f"service / plain: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
