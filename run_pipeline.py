#!/usr/bin/env python3
"""lineocr command line.

    python run_pipeline.py INPUT... [--config configs/default.yaml] [--set KEY=VALUE]... \
        [--format text|json|jsonl|hocr|tsv] [--output PATH] [--workers N]
    python run_pipeline.py INPUT... --engine ray [--address ADDR] [--workers N] [--batch-size N] [--output PATH] ...
    python run_pipeline.py eval --manifest M.jsonl [--config ...] [--set KEY=VALUE]... [--case-insensitive]
    python run_pipeline.py serve [--host 127.0.0.1] [--port 5000] [--config ...] [--set KEY=VALUE]... [--workers N]

Exit status: 0 when every input was read, 1 when some failed (each named on stderr, the rest still written),
2 for bad usage or config.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from pathlib import Path
from typing import Iterator

from pipeline.config import load_config
from pipeline.document import Document
from pipeline.imageio import InputError, expand_inputs
from pipeline.pipeline import Pipeline
from pipeline.registry import ConfigError
from pipeline.writers import FORMATS

_worker: Pipeline | None = None


def _init_worker(config: dict) -> None:
    global _worker
    _worker = Pipeline(config)


def _read_one(path: str) -> Document:
    assert _worker is not None
    return next(_worker.map([path]))


def read_all(config: dict, paths: list[str], workers: int) -> Iterator[Document]:
    """Documents in input order, from this process or from `workers` processes (threads split among them)."""
    if workers <= 1:
        yield from Pipeline(config).map(paths)
        return
    config = {**config, "runtime": {**config["runtime"], "threads": max(1, config["runtime"]["threads"] // workers)}}
    Pipeline(config)  # fail fast on a bad config, before any worker starts
    with multiprocessing.get_context("spawn").Pool(workers, _init_worker, (config,)) as pool:
        yield from pool.imap(_read_one, paths)


class Output:
    """Where documents go: stdout, one JSONL file, or one file per input in a folder."""

    def __init__(self, fmt: str, target: str | None, count: int) -> None:
        self.fmt, self.count = fmt, count
        self.render, self.ext = FORMATS[fmt]
        self.file = self.folder = None
        self.used: set[str] = set()
        if target and fmt == "jsonl":
            self.file = open(target, "w", encoding="utf-8")
        elif target:
            self.folder = Path(target)
            self.folder.mkdir(parents=True, exist_ok=True)

    def write(self, doc: Document, index: int) -> None:
        body = self.render(doc)
        if self.folder is not None:
            stem = Path(doc.source).stem or "input"
            name, n = stem + self.ext, 1
            while name in self.used:
                name, n = f"{stem}_{n}{self.ext}", n + 1
            self.used.add(name)
            (self.folder / name).write_text(body, encoding="utf-8")
        elif self.file is not None:
            self.file.write(body)
            self.file.flush()
        else:
            if self.fmt == "text" and self.count > 1:
                sys.stdout.write(f"==> {doc.source} <==\n")
            sys.stdout.write(body)
            sys.stdout.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def cmd_ocr(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="run_pipeline.py", description="OCR images, folders and PDFs.")
    ap.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (recursive) or PDFs")
    ap.add_argument("--config", default=None, help="YAML config (default: configs/default.yaml)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    ap.add_argument("--format", default=None, choices=sorted(FORMATS), help="default: text (--engine ray: jsonl)")
    ap.add_argument("--output", help="a file for --format jsonl, otherwise a folder with one file per input "
                                     "(--engine ray: a .jsonl file, or a folder or URI for part-*.jsonl shards)")
    ap.add_argument("--workers", type=int, default=None,
                    help="processes reading inputs in parallel (default 1; --engine ray: actors, default as many "
                         "as the cluster's CPUs // runtime.threads)")
    ap.add_argument("--engine", default="local", choices=("local", "ray"), help="where the pipeline runs")
    ap.add_argument("--address", help="--engine ray: the cluster to join (default: RAY_ADDRESS or a local Ray)")
    ap.add_argument("--batch-size", type=int, default=None, help="--engine ray: inputs per actor call (default 8)")
    args = ap.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        ap.error("--workers must be >= 1")
    if args.engine == "ray":
        return cmd_ocr_ray(ap, args)
    if args.address or args.batch_size is not None:
        ap.error("--address and --batch-size apply to --engine ray only")
    try:
        config = load_config(args.config, args.set)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    paths, failed = [], 0
    for item in args.inputs:
        try:
            paths.extend(expand_inputs([item]))
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    from tqdm import tqdm

    out = Output(args.format or "text", args.output, len(paths))
    try:
        docs = read_all(config, paths, args.workers or 1)
        for index, doc in enumerate(tqdm(docs, total=len(paths), disable=len(paths) <= 1, file=sys.stderr, unit="input")):
            if doc.error:
                failed += 1
                print(f"error: {doc.error}", file=sys.stderr)
                continue
            out.write(doc, index)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        out.close()
    return 1 if failed else 0


def cmd_ocr_ray(ap: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """`--engine ray`: the same rows as `--format jsonl`, computed by a Ray actor pool (README, Scale-out with Ray)."""
    if args.format not in (None, "jsonl"):
        ap.error("--engine ray writes --format jsonl only")
    args.batch_size = 8 if args.batch_size is None else args.batch_size
    if args.batch_size < 1:
        ap.error("--batch-size must be >= 1")
    try:
        from pipeline import ray_engine
    except ImportError as exc:
        print(f"error: --engine ray needs the ray extra: pip install -e '.[ray]' ({exc})", file=sys.stderr)
        return 2
    try:
        errors = ray_engine.run(args.inputs, args.output, args.config, args.set, address=args.address,
                                workers=args.workers, batch_size=args.batch_size)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1 if errors else 0


def cmd_eval(argv: list[str]) -> int:
    from pipeline.evaluate import evaluate_manifest

    ap = argparse.ArgumentParser(prog="run_pipeline.py eval", description="Score a manifest (DESIGN.md metrics).")
    ap.add_argument("--manifest", required=True, type=Path)
    ap.add_argument("--config", default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--case-insensitive", action="store_true", help="fold case before comparing (SROIE labels)")
    args = ap.parse_args(argv)
    try:
        first = json.loads(args.manifest.read_text(encoding="utf-8").splitlines()[0])
    except (OSError, IndexError, ValueError) as exc:
        print(f"error: {args.manifest}: cannot read the manifest ({exc})", file=sys.stderr)
        return 2
    crops = "text" in first and "lines" not in first
    try:
        pipeline = Pipeline.from_config(args.config, ["detect.type=whole", *args.set] if crops else args.set)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = evaluate_manifest(args.manifest, pipeline, case_insensitive=args.case_insensitive)
    print(json.dumps(result, ensure_ascii=False, indent=1))
    return 0


def cmd_serve(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="run_pipeline.py serve", description="Serve the REST API and the web page.",
                                 epilog="Environment: DEVICE (cpu), MAX_IMAGE_WIDTH, MAX_IMAGE_PIXELS, MAX_BODY_MB, "
                                        "WORKERS, MAX_QUEUE (README, Service).")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    ap.add_argument("--port", type=int, default=5000)
    ap.add_argument("--config", default=None, help="YAML config (default: configs/default.yaml)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    ap.add_argument("--workers", type=int, default=None, help="OCR threads (default: CPU cores // runtime.threads)")
    args = ap.parse_args(argv)
    try:
        import uvicorn

        from pipeline.service import Settings, create_app
    except ImportError as exc:
        print(f"error: the service needs the serve extra: pip install -e '.[serve]' ({exc})", file=sys.stderr)
        return 2
    fields = {} if args.workers is None else {"workers": args.workers}
    try:
        app = create_app(Settings.from_env(config=args.config, sets=args.set, **fields))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "eval":
        return cmd_eval(argv[1:])
    if argv and argv[0] == "serve":
        return cmd_serve(argv[1:])
    return cmd_ocr(argv)


if __name__ == "__main__":
    sys.exit(main())
