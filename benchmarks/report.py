"""Write benchmarks/report.md, its plots and (optionally) the README table from run_benchmarks.py's results.

    python benchmarks/report.py [benchmarks/results/latest.json] [--readme]
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "benchmarks" / "report.md"
PLOTS = ROOT / "benchmarks" / "plots"
README = ROOT / "README.md"
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
LINEOCR = ("lineocr-default", "lineocr-fast")
REFERENCES = ("tesseract", "rapidocr")


def error(result: dict) -> float:
    """The headline error of a set: CER for crops, end-to-end CER for pages."""
    return result["cer"] if result["kind"] == "crops" else result["end_to_end_cer"]


def by_set(results: dict) -> dict[str, dict[str, dict]]:
    """{set name: {system: result}}, sets in run order."""
    out: dict[str, dict[str, dict]] = {}
    for system, rows in results.items():
        for row in rows:
            out.setdefault(row["set"], {})[system] = row
    return out


def ratios(results: dict) -> dict[tuple[str, str], dict]:
    """For each (lineocr config, reference): per set `error` = lineocr error / reference error and `speed` =
    reference ms / lineocr ms (above 1: lineocr is faster); `geo_error`, `geo_speed` are their geometric means
    over the sets where both are defined."""
    sets = by_set(results)
    out = {}
    for ours in (s for s in LINEOCR if s in results):
        for ref in (s for s in REFERENCES if s in results):
            per_set = {}
            for name, row in sets.items():
                a, b = row.get(ours), row.get(ref)
                if a and b:
                    per_set[name] = {"error": error(a) / error(b) if error(b) else None,
                                     "speed": b["ms_per_item"] / a["ms_per_item"] if a["ms_per_item"] else None}
            out[(ours, ref)] = {"sets": per_set, **{f"geo_{k}": _geomean([v[k] for v in per_set.values()])
                                                    for k in ("error", "speed")}}
    return out


def _geomean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v]
    return statistics.geometric_mean(kept) if kept else None


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:.1%}"


def summary_table(report: dict) -> str:
    """Sets as rows, systems as columns: headline error and ms per item."""
    names = list(report["results"])
    lines = ["| set | kind | items | " + " | ".join(names) + " |", "|---|---|---|" + "---|" * len(names)]
    for name, row in by_set(report["results"]).items():
        any_row = next(iter(row.values()))
        cells = [f"{_pct(error(row[s]))} · {row[s]['ms_per_item']:.0f} ms" if s in row and row[s]["ms_per_item"]
                 else "" for s in names]
        lines.append(f"| {name} | {any_row['kind']} | {any_row['items']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def detail_table(report: dict) -> str:
    head = ("| set | system | CER | CER (no spaces) | line acc. | det. P / R / hmean | end-to-end CER | BoT F1 | "
            "ms / item | CPU ms / item | lines / s |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in by_set(report["results"]).items():
        for system, r in row.items():
            if r["kind"] == "crops":
                acc = [_pct(r["cer"]), _pct(r["cer_no_space"]), _pct(r["line_accuracy"]), "", "", ""]
            else:
                d = r["detection"]
                acc = ["", "", "", f"{d['precision']:.3f} / {d['recall']:.3f} / {d['hmean']:.3f}",
                       _pct(r["end_to_end_cer"]), f"{r['bag_of_tokens_f1']:.3f}"]
            failed = f" ({len(r['failed'])} failed)" if r["failed"] else ""
            lines.append(f"| {name} | {system}{failed} | " + " | ".join(acc) +
                         f" | {r['ms_per_item']} | {r['cpu_ms_per_item']} | {r['lines_per_s']} |")
    return "\n".join(lines)


def speed_table(report: dict) -> str:
    lines = ["| system | ms / page (mean over page sets) | CPU ms / page | ms / crop | CPU ms / crop | "
             "lines / s (all sets) | peak RSS crops / pages | load time crops / pages |", "|---" * 8 + "|"]
    for system, rows in report["results"].items():
        mean = {(k, f): statistics.mean([r[f] for r in rows if r["kind"] == k and r[f]] or [0])
                for k in ("pages", "crops") for f in ("ms_per_item", "cpu_ms_per_item")}
        seconds = sum(r["ms_per_item"] * r["items"] for r in rows if r["ms_per_item"]) / 1000
        total_lines = sum(r["truth_lines"] for r in rows)
        w = report["workers"][system]
        rss = " / ".join(f"{w[k]['peak_rss_mb']:.0f} MB" if k in w else "–" for k in ("crops", "pages"))
        load = " / ".join(f"{w[k]['load_ms'] / 1000:.1f} s" if k in w else "–" for k in ("crops", "pages"))
        lines.append(f"| {system} | " + " | ".join(f"{mean[k, f]:.0f}" for k in ("pages", "crops")
                                                   for f in ("ms_per_item", "cpu_ms_per_item")) + " | "
                     f"{total_lines / seconds if seconds else 0:.1f} | {rss} | {load} |")
    return "\n".join(lines)


def ratio_table(report: dict) -> str:
    pairs = ratios(report["results"])
    if not pairs:
        return "(no reference installed)"
    head = "| set | " + " | ".join(f"{a} vs {b}: error × / speed ×" for a, b in pairs) + " |"
    lines = [head, "|---|" + "---|" * len(pairs)]
    fmt = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
    for name in by_set(report["results"]):
        cells = [f"{fmt(p['sets'][name]['error'])} / {fmt(p['sets'][name]['speed'])}" if name in p["sets"] else ""
                 for p in pairs.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| **geometric mean** | " + " | ".join(
        f"**{fmt(p['geo_error'])} / {fmt(p['geo_speed'])}**" for p in pairs.values()) + " |")
    return "\n".join(lines)


def plots(report: dict, folder: Path = PLOTS) -> list[Path]:
    """cer_per_scenario.png (crop CER and page end-to-end CER per scenario suite, one bar per system) and
    accuracy_vs_speed.png (bag-of-tokens F1 against ms per page, mean over page sets, one point per system)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    names = list(report["results"])
    sets = by_set(report["results"])
    fig, axes = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True)
    scenarios = sorted({n.split("/")[0] for n, row in sets.items() if next(iter(row.values()))["group"] == "scenario"})
    width = 0.8 / max(len(names), 1)
    for ax, kind in zip(axes, ("crops", "pages")):
        for i, system in enumerate(names):
            values = [min(error(sets[f"{s}/{kind}"][system]), 1.5) if system in sets.get(f"{s}/{kind}", {}) else 0
                      for s in scenarios]
            ax.bar([x + i * width for x in range(len(scenarios))], values, width, label=system)
        ax.set_ylabel("CER (crops)" if kind == "crops" else "end-to-end CER (pages)")
        ax.grid(axis="y", alpha=0.3)
    axes[1].set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(scenarios))], scenarios, rotation=15)
    axes[0].legend(ncol=len(names), fontsize=8)
    axes[0].set_title("Scenario suites (held-out fonts and text, Chromium-rendered): error per system (capped at 150%)")
    fig.tight_layout()
    first = folder / "cer_per_scenario.png"
    fig.savefig(first, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 5))
    for system in names:
        pages = [r for r in report["results"][system] if r["kind"] == "pages" and r["ms_per_item"]]
        if pages:
            x = statistics.mean(r["ms_per_item"] for r in pages)
            y = statistics.mean(r["bag_of_tokens_f1"] for r in pages)
            ax.scatter(x, y, s=80, label=system)
            ax.annotate(system, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel("ms per page (mean over page sets, log scale)")
    ax.set_ylabel("bag-of-tokens F1 (mean over page sets)")
    ax.set_title(f"Accuracy vs speed, {report['threads']} threads, {report['machine']['cores']} shared cores")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    second = folder / "accuracy_vs_speed.png"
    fig.savefig(second, dpi=110)
    plt.close(fig)
    return [first, second]


def _build(report: dict) -> str:
    b = report.get("lineocr")
    if not b:
        return ""
    dirty = " plus uncommitted changes in the working tree" if b["dirty"] else ""
    return f" lineocr at commit {b['commit']}{dirty}, recognizer weights sha256 {b['weights_sha256']}…."


def markdown(report: dict) -> str:
    m = report["machine"]
    load = ", ".join(f"{v} at the {k}" for k, v in m["load_average"].items())
    rows = [r for rs in report["results"].values() for r in rs if r["ms_per_item"]]
    wall_per_cpu = (sum(r["ms_per_item"] * r["items"] for r in rows)
                    / sum(r["cpu_ms_per_item"] * r["items"] for r in rows))
    versions = "\n".join(f"- `{s}`: {v}" for s, v in report["systems"].items())
    return f"""# lineocr benchmarks vs Tesseract and PP-OCR

Measured {report['date']} on {m['cpu']}, {m['cores']} cores, Python {m['python']} ({m['platform']}). **The machine
was shared while measuring** (training jobs, other helpers' tests and builds ran alongside; 1/5/15-minute load
averages {load}), so wall times are upper bounds and noisy (all reads took {wall_per_cpu:.1f} × their CPU time, with 2
threads); CPU ms per item is the steadier figure.
Every system ran with {report['threads']} compute threads (lineocr `runtime.threads`, onnxruntime intra-op threads
for rapidocr, `OMP_THREAD_LIMIT` for Tesseract), each in its own process with its model loaded once and one warm-up
read, items handed to the systems in turn. Run time {report['run_s']} s.{_build(report)}

    {report['command']}

Systems:
{versions}

Refresh everything (results, this report, plots, README table) with `python benchmarks/run_benchmarks.py --readme`;
rebuild the report alone from `benchmarks/results/latest.json` with `python benchmarks/report.py`.

## What is measured

- **Shared real sets** (`../shared/data`, first {report['max_pages']} pages / {report['max_crops']} crops of each):
  SROIE receipts (compared case-insensitively: its labels are upper case), English word and field crops, ReCTS
  Chinese signboard crops and photos, CCPD licence-plate crops.
- **Scenario suites** (`benchmarks/suites`, built by `benchmarks/build_suites.py`): the seed article's five
  scenarios (clean print, complex background, Chinese handwriting style, low-resolution screenshots, English with
  math) plus vertical Chinese and pages rotated by 90/180/270 degrees, each as pages with line boxes and as line
  crops. Rendered by headless Chromium (not the training renderer) in the held-out font families (AR PL UMing CN,
  LXGW WenKai Mono, FreeSans, FreeSerif) with held-out corpus lines.
- Crops are read as one line (lineocr `detect.type=whole`, Tesseract `--psm 7`, rapidocr recognizer only); pages go
  through each system's full pipeline. Metrics are DESIGN.md's (`pipeline/evaluate.py`): CER for crops,
  end-to-end CER for pages (matched lines' errors plus unmatched predictions as insertions, so it can pass 100%).

Caveats, to read the numbers right:
- Samples are small (a few hundred crops, a few dozen pages): differences of a few points are noise.
- "Held-out" fonts are unseen families, not unseen designs: LXGW WenKai (trained on) is the proportional twin of
  LXGW WenKai Mono, and FreeSans / FreeSerif follow the Helvetica / Times designs that Liberation and URW fonts in
  training also follow. The handwriting scenario is a Kai-style font with jittered glyphs, not real handwriting.
- Tesseract runs Debian's `tesseract-ocr-chi-sim` / `-eng` models (tessdata_fast, 4.1.0) with the Tesseract 5 library
  from the tesserocr wheel, engine kept loaded. Its command line (and pytesseract) starts a process per image, which
  adds about a second per image here to load `chi_sim+eng`. Tesseract's text has the spaces between hanzi removed
  (its `chi_sim` splits every character into a word); the no-space CER column is blind to spacing altogether.
- Vertical crops are given to every reader as they are (tall); none of the crop readers turns them, and Tesseract's
  vertical model (`chi_sim_vert`) is not installed. The rotated suites test each system's own orientation handling.
- rapidocr keeps its defaults (PP-OCRv6 small det + rec, the PP-OCR 0/180 angle classifier, text score ≥ 0.5,
  detection input resized so the short side is 736).

## Summary: headline error (CER for crops, end-to-end CER for pages) · ms per item

{summary_table(report)}

![error per scenario](plots/cer_per_scenario.png)

![accuracy vs speed](plots/accuracy_vs_speed.png)

## Ratios against each reference

error × = lineocr error / reference error (below 1: lineocr is more accurate); speed × = reference ms / lineocr ms
(above 1: lineocr is faster).

{ratio_table(report)}

## Speed and memory

Peak RSS is each system's worker process (Python, libraries and models included), one for crops and one for pages.

{speed_table(report)}

## All metrics

{detail_table(report)}
"""


def update_readme(report: dict, readme: Path = README) -> bool:
    """Replace the README's table between the benchmark markers; False when the markers are missing."""
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        return False
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    block = (f"\n{report['date']}, {report['threads']} threads, {report['machine']['cpu']} "
             f"({report['machine']['cores']} shared cores); headline error (CER for crops, end-to-end CER for pages) "
             f"· ms per item:\n\n{summary_table(report)}\n")
    readme.write_text(head + START + block + END + tail, encoding="utf-8")
    return True


def write(report: dict, readme: bool = False, folder: Path = REPORT.parent) -> None:
    """report.md and plots/ into `folder` (benchmarks/: the committed report); with `readme`, the README table."""
    plots(report, folder / "plots")
    (folder / "report.md").write_text(markdown(report), encoding="utf-8")
    if readme and not update_readme(report):
        print(f"README.md has no {START} ... {END} block: not updated")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, nargs="?", default=ROOT / "benchmarks" / "results" / "latest.json")
    ap.add_argument("--readme", action="store_true")
    args = ap.parse_args()
    write(json.loads(args.results.read_text(encoding="utf-8")), readme=args.readme)


if __name__ == "__main__":
    main()
