"""Benchmark lineocr against Tesseract and PP-OCR (rapidocr) on the shared real sets and the scenario suites.

    python benchmarks/run_benchmarks.py [--threads 2] [--max-pages 30] [--max-crops 60] [--systems ...]
                                        [--only SET...] [--out benchmarks/results] [--readme]

Every system runs in its own worker process (one per system and input kind, model loaded once, one warm-up read),
so peak RSS is per system; items are sent to the systems in turn, starting with a different system each item, so
machine drift hits all alike. Each worker times its own reads (wall and CPU time, image decoding included).
Accuracy is scored with `pipeline.evaluate` (DESIGN.md metrics). Results go to <out>/latest.json; then
benchmarks/report.py writes benchmarks/report.md and the plots (into <out> when --out is not the default, so a
trial run leaves the committed report alone; with --readme, also the README table).
The scenario suites are built first when missing (benchmarks/build_suites.py).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.document import Document, Line, Page  # noqa: E402
from pipeline.evaluate import _ignored, evaluate_manifest, load_manifest  # noqa: E402
from benchmarks import systems  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SUITES = ROOT / "benchmarks" / "suites"
RESULTS = ROOT / "benchmarks" / "results"  # the default --out: the report and plots then go to benchmarks/
SHARED_SETS = [  # (name, manifest relative to the data folder, case-insensitive)
    ("sroie_dev", "sroie_dev/manifest.jsonl", True),
    ("en_crops", "en_crops/manifest.jsonl", False),
    ("zh_rects_sample/crops", "zh_rects_sample/crops/manifest.jsonl", False),
    ("zh_rects_sample", "zh_rects_sample/manifest.jsonl", False),
    ("zh_plates_ccpd", "zh_plates_ccpd/manifest.jsonl", False),
]


@dataclass
class BenchSet:
    name: str
    manifest: Path
    kind: str  # "crops" or "pages"
    case_insensitive: bool
    rows: list[dict]
    group: str  # "shared" or "scenario"


def bench_sets(max_pages: int, max_crops: int, only: list[str] | None) -> list[BenchSet]:
    """The shared sets and every scenario suite, each cut to its first max_pages / max_crops rows."""
    found = [(name, DATA / rel, folded, "shared") for name, rel, folded in SHARED_SETS]
    for manifest in sorted(SUITES.glob("*/*/manifest.jsonl")):
        found.append((f"{manifest.parent.parent.name}/{manifest.parent.name}", manifest, False, "scenario"))
    out = []
    for name, manifest, folded, group in found:
        if only and name not in only or not manifest.is_file():
            continue
        rows = load_manifest(manifest)
        kind = "pages" if "lines" in rows[0] else "crops"
        out.append(BenchSet(name, manifest, kind, folded, rows[:max_pages if kind == "pages" else max_crops], group))
    return out


class Worker:
    """One system's reader in a child process, fed image paths on stdin, answering one JSON line per image."""

    def __init__(self, system: str, kind: str, threads: int, log) -> None:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_THREAD_LIMIT=str(threads))
        self.system = system
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker", system, kind, str(threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        self.ready = self._answer()  # {"load_ms"}

    def _answer(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.system} worker died (see the worker log)")
        return json.loads(line)

    def read(self, path: Path) -> dict:
        self.proc.stdin.write(json.dumps({"image": str(path)}) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self) -> dict:
        """Stops the worker; returns {"peak_rss_mb"}."""
        self.proc.stdin.close()
        out = self._answer()
        self.proc.wait()
        return out


def worker_main(system: str, kind: str, threads: int) -> None:
    """The worker loop: answers are written to the real stdout; anything libraries print goes to stderr."""
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    import cv2

    cv2.setNumThreads(threads)
    start = time.perf_counter()
    read = systems.make_reader(system, kind, threads)
    print(json.dumps({"load_ms": round((time.perf_counter() - start) * 1000, 1)}), file=out, flush=True)
    for raw in sys.stdin:
        path = Path(json.loads(raw)["image"])
        wall, cpu = time.perf_counter(), _cpu_s()
        try:
            answer = {"doc": read(path).to_dict()}
        except Exception as exc:  # noqa: BLE001 - a failed read is a result
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answer.update(ms=round((time.perf_counter() - wall) * 1000, 2), cpu_ms=round((_cpu_s() - cpu) * 1000, 2))
        print(json.dumps(answer, ensure_ascii=False), file=out, flush=True)
    print(json.dumps({"peak_rss_mb": round(_peak_rss_kb() / 1024, 1)}), file=out, flush=True)


def _peak_rss_kb() -> int:
    """This process's peak RSS (VmHWM: ru_maxrss would include the parent's, inherited through fork) or, for the
    Tesseract command line, its largest child's."""
    status = Path("/proc/self/status").read_text()
    own = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def _cpu_s() -> float:
    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))


def doc_from_dict(d: dict) -> Document:
    """Rebuild a Document from `Document.to_dict()` output."""
    from shapely.geometry import Polygon

    pages = [Page(p["page"], p["width"], p["height"], [
        Line(Polygon(line["points"]) if len(line["points"]) >= 3 else Polygon(), line["text"], line["confidence"],
             line.get("angle", 0), line.get("vertical", False)) for line in p["lines"]]) for p in d["pages"]]
    return Document(d["source"], pages)


def score(bench: BenchSet, answers: list[dict]) -> dict:
    """DESIGN metrics of one system's answers on `bench` (one answer per row, in order) plus speed:
    ms_per_item and cpu_ms_per_item (means over successful reads), lines_per_s (ground-truth lines over the
    summed wall time of all reads)."""
    rows = [dict(row, image=str((bench.manifest.parent / row["image"]).resolve())) for row in bench.rows]
    by_image = {row["image"]: answer for row, answer in zip(rows, answers)}

    def replay(path: Path) -> Document:
        answer = by_image[str(path)]
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return doc_from_dict(answer["doc"])

    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "manifest.jsonl"
        manifest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        result = evaluate_manifest(manifest, replay, case_insensitive=bench.case_insensitive)
    ok = [a for a in answers if "error" not in a]
    lines = sum(1 if bench.kind == "crops" else sum(not _ignored(line) for line in row["lines"]) for row in bench.rows)
    total_s = sum(a["ms"] for a in answers) / 1000
    result.pop("ms_per_image", None)
    result.pop("ms_per_page", None)
    result.update(set=bench.name, group=bench.group, truth_lines=lines,
                  ms_per_item=round(sum(a["ms"] for a in ok) / len(ok), 1) if ok else None,
                  cpu_ms_per_item=round(sum(a["cpu_ms"] for a in ok) / len(ok), 1) if ok else None,
                  lines_per_s=round(lines / total_s, 2) if total_s else None)
    return result


def run(benches: list[BenchSet], names: list[str], threads: int, log) -> tuple[dict, dict]:
    """Read every item with every system in turn; returns ({system: [set results]}, {system: {kind: worker info}})."""
    results: dict[str, list[dict]] = {s: [] for s in names}
    info: dict[str, dict] = {s: {} for s in names}
    for kind in ("crops", "pages"):
        todo = [b for b in benches if b.kind == kind]
        if not todo:
            continue
        workers = {s: Worker(s, kind, threads, log) for s in names}
        first = todo[0].manifest.parent / todo[0].rows[0]["image"]
        for w in workers.values():
            w.read(first)  # warm-up, not counted
        for bench in todo:
            answers: dict[str, list[dict]] = {s: [] for s in names}
            for i, row in enumerate(bench.rows):
                for k in range(len(names)):
                    system = names[(i + k) % len(names)]
                    answers[system].append(workers[system].read(bench.manifest.parent / row["image"]))
            for system in names:
                results[system].append(score(bench, answers[system]))
            print(f"{bench.name}: " + ", ".join(f"{s} {_headline(results[s][-1]):.1%}" for s in names), file=sys.stderr)
        for system, w in workers.items():
            info[system][kind] = w.ready | w.close()
    return results, info


def _headline(result: dict) -> float:
    return result["cer"] if result["kind"] == "crops" else result["end_to_end_cer"]


def machine() -> dict:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    return {"cpu": fields.get("Model name", platform.processor()).strip(), "cores": os.cpu_count(),
            "python": platform.python_version(), "platform": platform.platform()}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def lineocr_build() -> dict:
    """The commit measured, whether the working tree differed from it, and the shipped weights' digest (the
    recognizer is replaced from time to time: a table belongs to one weight file)."""
    git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, cwd=ROOT).stdout.strip()  # noqa: E731
    weights = ROOT / "models" / "weights" / "crnn_zh_en.onnx"
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--",
                              "pipeline", "stages", "configs", "models", "lm")),
            "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest()[:12]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="compute threads for every system (default 2)")
    ap.add_argument("--max-pages", type=int, default=8, help="first rows read of each page set")
    ap.add_argument("--max-crops", type=int, default=30, help="first rows read of each crop set")
    ap.add_argument("--systems", nargs="+", default=list(systems.SYSTEMS), choices=systems.SYSTEMS)
    ap.add_argument("--only", nargs="+", metavar="SET", help="run only these sets (names as in the report)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--readme", action="store_true", help="also refresh the README's benchmark table")
    ap.add_argument("--worker", nargs=3, metavar=("SYSTEM", "KIND", "THREADS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker_main(args.worker[0], args.worker[1], int(args.worker[2]))
        return
    if not any(SUITES.glob("*/*/manifest.jsonl")):
        from benchmarks import build_suites
        build_suites.build(SUITES, pages=6, crops=40, seed=8)
    names = [s for s in args.systems if systems.available(s)]
    missing = sorted(set(args.systems) - set(names))
    if missing:
        print(f"not installed, skipped: {', '.join(missing)} (benchmarks/install_references.sh)", file=sys.stderr)
    benches = bench_sets(args.max_pages, args.max_crops, args.only)
    args.out.mkdir(parents=True, exist_ok=True)
    start, load = time.time(), _load()
    with open(args.out / "workers.log", "w") as log:
        results, info = run(benches, names, args.threads, log)
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": machine() | {"load_average": {"start": load, "end": _load()}},
              "lineocr": lineocr_build(),
              "threads": args.threads, "max_pages": args.max_pages, "max_crops": args.max_crops,
              "command": " ".join(["python", "benchmarks/run_benchmarks.py", *sys.argv[1:]]),
              "run_s": round(time.time() - start), "systems": {s: systems.version(s) for s in names},
              "workers": info, "results": results}
    (args.out / "latest.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    from benchmarks import report as report_module
    folder = report_module.REPORT.parent if args.out.resolve() == RESULTS else args.out
    report_module.write(report, readme=args.readme, folder=folder)


if __name__ == "__main__":
    main()
