"""Scale-out on Ray: the same pipeline in a Ray Data actor pool, writing the local engine's JSONL rows.

    from pipeline import ray_engine
    errors = ray_engine.run(["scans/"], output="out/", sets=["runtime.threads=1"], address="auto")

Ray Data reads the inputs as bytes (`read_binary_files`: local files and folders, or object-store URIs such as
``s3://bucket/scans/``); each actor builds the Pipeline once and turns a batch of inputs into rows
``{"source", "jsonl", "error"}``: `jsonl` is the line `--format jsonl` writes for that input (empty when it failed),
`error` the local engine's message (empty when it was read). Needs the `ray` extra (``pip install -e '.[ray]'``):
importing this module without it raises ImportError.
"""
from __future__ import annotations

import os
import re
import sys
from typing import Any, Iterable, TextIO

import numpy as np
import ray
import ray.data
from pyarrow import fs
from ray.data.block import BlockAccessor
from ray.data.datasource import Datasink

from pipeline.config import load_config
from pipeline.imageio import IMAGE_EXTENSIONS, PDF_EXTENSIONS, InputError, expand_inputs
from pipeline.pipeline import Pipeline
from pipeline.writers import to_jsonl

INPUT_EXTENSIONS = sorted(ext[1:] for ext in IMAGE_EXTENSIONS | PDF_EXTENSIONS)
SHARD_NAME = re.compile(r"part-\d+\.jsonl")
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class PipelineActor:
    """A map_batches callable class: one Pipeline per actor, built once; a batch of (path, bytes) in, rows out."""

    def __init__(self, config: dict, prefix: str = "") -> None:
        self.ocr = Pipeline(config)
        self.prefix = prefix  # the URI scheme Ray strips from object-store paths ("s3://"), so `source` keeps it

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[str]]:
        rows: dict[str, list[str]] = {"source": [], "jsonl": [], "error": []}
        for path, data in zip(batch["path"], batch["bytes"]):
            source = path if not self.prefix or path.startswith(self.prefix) else self.prefix + path
            jsonl, error = "", ""
            try:
                jsonl = to_jsonl(self.ocr(bytes(data), name=source))
            except InputError as exc:
                error = str(exc)
            except Exception as exc:  # one bad page must not stop a million-page job: it is reported instead
                error = f"{source}: {type(exc).__name__}: {exc}"
            rows["source"].append(source)
            rows["jsonl"].append(jsonl)
            rows["error"].append(error)
        return rows


def expand(inputs: Iterable[str]) -> tuple[list[str], list[str]]:
    """The paths to read and the messages for inputs that do not exist. Local inputs are expanded as the local
    engine does (folders walked, sorted, images and PDFs kept); URIs are left for Ray to list."""
    paths, missing = [], []
    for item in map(os.fspath, inputs):
        try:
            paths.extend([item] if _URI.match(item) else expand_inputs([item]))
        except InputError as exc:
            missing.append(str(exc))
    return paths, missing


def read(paths: list[str], config: dict, workers: int | None = None, batch_size: int = 8) -> ray.data.Dataset:
    """A dataset of rows {source, jsonl, error}, one per input. Each actor takes `runtime.threads` CPUs; `workers`
    actors (default: as many as the cluster's CPUs allow); reading takes no CPU of its own, so actors holding every
    CPU do not starve it. URIs (one scheme for all) keep their image and PDF files.
    Ray must be initialized (`run` does it)."""
    threads = config["runtime"]["threads"]
    if workers is None:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1) // threads))
    uri = _URI.match(paths[0])
    ds = ray.data.read_binary_files(paths, include_paths=True, num_cpus=0,
                                    file_extensions=INPUT_EXTENSIONS if uri else None)
    return ds.map_batches(PipelineActor, fn_constructor_kwargs={"config": config, "prefix": uri.group(0) if uri else ""},
                          batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=threads,
                          batch_format="numpy")


def run(inputs: Iterable[str], output: str | None = None, config: str | dict | None = None, sets: Iterable[str] = (),
        address: str | None = None, workers: int | None = None, batch_size: int = 8, rows_per_shard: int = 1000,
        stdout: TextIO | None = None) -> list[str]:
    """OCR `inputs` on Ray; returns the error messages, one per input that failed (each also printed on stderr
    as `error: MESSAGE`, like the command line); every other input is written.

    `output`: None writes the JSONL rows to `stdout` (default sys.stdout); a path ending in ``.jsonl`` is one file
    written by the driver, like the local engine's `--output FILE`; anything else is a folder (local or object-store
    URI) receiving ``part-NNNNN.jsonl`` shards of about `rows_per_shard` rows written by the workers, in input order
    (shards of an earlier run there are replaced). `address`: the Ray cluster (None: ``RAY_ADDRESS`` or a local
    instance); an already initialized Ray is used as it is. Raises ConfigError for a bad config, before any work.
    """
    config = load_config(config, sets)
    Pipeline(config)  # fail fast on a bad config, before the cluster does any work
    paths, errors = expand(inputs)
    for message in errors:
        print(f"error: {message}", file=sys.stderr)
    if not paths:
        return errors
    if not ray.is_initialized():
        ray.init(address=address)
    context = ray.data.DataContext.get_current()
    preserve = context.execution_options.preserve_order
    context.execution_options.preserve_order = True
    try:
        ds = read(paths, config, workers, batch_size)
        if output is None or output.endswith(".jsonl"):
            errors += _write_here(ds, output, stdout or sys.stdout)
        else:
            sink = JsonlShards(output, rows_per_shard)
            ds.write_datasink(sink, ray_remote_args={"num_cpus": 0})  # writers must not wait for busy actors
            for message in sink.errors:
                print(f"error: {message}", file=sys.stderr)
            errors += sink.errors
    finally:
        context.execution_options.preserve_order = preserve
    return errors


def _write_here(ds: ray.data.Dataset, output: str | None, stdout: TextIO) -> list[str]:
    """Rows through the driver, to stdout or one file; errors go on stderr as they come."""
    errors = []
    out = open(output, "w", encoding="utf-8") if output else stdout
    try:
        for row in ds.iter_rows():
            if row["error"]:
                errors.append(row["error"])
                print(f"error: {row['error']}", file=sys.stderr)
            else:
                out.write(row["jsonl"])
                out.flush()
    finally:
        if output:
            out.close()
    return errors


class JsonlShards(Datasink):
    """Each write task writes its rows' JSONL to `part-<task>.jsonl` under `output` and returns its error messages;
    the driver's instance collects them in `errors`."""

    def __init__(self, output: str, rows_per_shard: int = 1000) -> None:
        self.uri = output if _URI.match(output) else os.path.abspath(output)
        self.rows_per_shard = rows_per_shard
        self.errors: list[str] = []

    def on_write_start(self, schema: Any = None) -> None:
        filesystem, root = fs.FileSystem.from_uri(self.uri)
        filesystem.create_dir(root, recursive=True)
        for info in filesystem.get_file_info(fs.FileSelector(root)):
            if info.type == fs.FileType.File and SHARD_NAME.fullmatch(info.base_name):
                filesystem.delete_file(info.path)

    def write(self, blocks: Iterable[Any], ctx: Any) -> list[str]:
        lines, errors = [], []
        for block in blocks:
            table = BlockAccessor.for_block(block).to_arrow()
            for jsonl, error in zip(table["jsonl"].to_pylist(), table["error"].to_pylist()):
                if error:
                    errors.append(error)
                else:
                    lines.append(jsonl)
        if lines:
            filesystem, root = fs.FileSystem.from_uri(self.uri)
            with filesystem.open_output_stream(f"{root}/part-{ctx.task_idx:05d}.jsonl") as stream:
                stream.write("".join(lines).encode("utf-8"))
        return errors

    def on_write_complete(self, write_result: Any) -> None:
        self.errors = [error for returned in write_result.write_returns for error in returned]

    @property
    def min_rows_per_write(self) -> int:
        return self.rows_per_shard
