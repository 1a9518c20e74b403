"""bench/results.md and bench/results.png from bench/run.py's figures."""

import os

from common import BENCH, fmt_ci

METHOD = (
    "Every ratio is workload time traced / untraced within one round; a benchmark runs "
    "ROUNDS (16) rounds, each running every configuration once (untraced, the tool, "
    "the floor, bpftrace, ...) in an order shuffled per round. The figure is the median "
    "of the per-round ratios with a distribution-free 95% confidence interval of the "
    "median from order statistics: the k-th smallest and k-th largest of n values, k the "
    "largest with P(Binomial(n, 1/2) < k) <= 2.5% (n = 16: the 4th and 13th, 97.9% "
    "coverage). A target is **met** only when the interval of the per-round difference "
    "(tool ratio - floor ratio, or tool - bpftrace) lies entirely within it, **missed** "
    "when it lies entirely outside, **undecided** otherwise. The floor: programs that "
    "only return, on the same tracepoints as the tool, attached in the same rounds.")


def kib(stats):
    return "-" if not stats else "%.1f" % (stats["median"] / 1024)


def throughput(results):
    lines = ["## Throughput: slowdown ratios, median [95% CI]", ""]
    for name, r in results.items():
        if "error" in r:
            lines += ["### %s: %s" % (name, r["error"]), ""]
            continue
        lines += ["### %s" % name, "", r.get("workload", "") + "; %d rounds, %s s"
                  % (r.get("rounds", 0), r.get("bench_seconds", "?")), "",
                  "| configuration | ratio to untraced |", "| --- | --- |"]
        for stats in r.get("ratios", {}).values():
            lines.append("| %s | %s |" % (stats["label"], fmt_ci(stats)))
        lines.append("")
    lines += ["## Targets: per-round differences, median [95% CI]", "",
              "| benchmark | check | difference | verdict |", "| --- | --- | --- | --- |"]
    for name, r in results.items():
        for c in r.get("checks", []):
            lines.append("| %s | %s | %s | %s |" % (name, c["label"], fmt_ci(c, ""),
                                                    c["verdict"]))
    lines += ["", "| benchmark | events/s (tool) | printed | lost | tool CPU s per run | "
              "notes |", "| --- | --- | --- | --- | --- | --- |"]
    for name, r in results.items():
        if "error" not in r:
            lines.append("| %s | %s | %s | %s | %s | %s |" % (
                name, r.get("events_per_s", "-"), r.get("events_printed", "-"),
                r.get("events_lost", "-"), r.get("tool_cpu_s", "-"), r.get("notes", "")))
    return lines


PHASES = [("start", "python, imports, options, Registry()"), ("import_bcc", "import bcc"),
          ("text", "C text, BTF offsets"), ("compile", "compile (BPF(text=...))"),
          ("verifier", "verifier/load"), ("attach", "attach"),
          ("listing_beside", "registry's first listing (beside the compile)"),
          ("listing", "after the load: the listing's end, maps, header"),
          ("trim_after_ready", "after \"tracing\", not in the total: the compiler's memory handed back")]


def startup(starts):
    floor = starts["bcc_floor"]
    limit = floor["total"]["median"] + 0.2
    lines = ["## Start-up: launch to \"tracing\", by phase", "",
             "BCC's floor, same run: `import bcc` %.3f s, compiling an empty program "
             "%.3f s, launch to done %s; target: at most that floor + 0.2 s = %.2f s "
             "(met when the total's interval is under it). Phases are seconds, from the "
             "line ctrace.bpf prints under CTRACE_TIMINGS=1; total: median [95%% interval]; "
             "a tool's default options: its benchmark's 16 rounds, other options and a "
             "boot's first start (the kernel offsets parsed from BTF, not read back from "
             "/run/ctrace as later starts do): 6 runs (interval: min-max, 96.9%%)." % (floor["import_bcc"]["median"],
                                              floor["compile"]["median"],
                                              fmt_ci(floor["total"], " s"), limit), "",
             "| tool, options | " + " | ".join(label for _, label in PHASES)
             + " | total | target | bpftrace, same job |",
             "| --- " * (len(PHASES) + 4) + "|"]
    for label, p in starts["tools"].items():
        total = p["total"]
        verdict = ("met" if total.get("hi", 99) <= limit else
                   "missed" if total.get("lo", 0) > limit else "undecided")
        bt = starts["bpftrace"].get(label)         # the default options' row
        lines.append("| %s | %s | %s | %s | %s |" % (
            label, " | ".join("%.3f" % p[k]["median"] if p.get(k) else "-" for k, _ in PHASES),
            fmt_ci(total, " s"), verdict, fmt_ci(bt, " s") if bt else ""))
    lines += ["", "## Memory once tracing (MiB, median of the start-up runs)", "",
              "Anonymous (/proc/PID/smaps_rollup) is the tool's private memory; "
              "Private_Clean+Private_Dirty adds file pages mapped by no other process "
              "(libbcc/LLVM's, which count as private while no other BCC tool runs: it "
              "varies with what else runs); the peak is VmHWM. Default options: measured "
              "at the end of the benchmark's runs; other options: once the tool has handed "
              "the compiler's memory back, just after \"tracing\". "
              "'before/after trim': the anonymous memory just before and after "
              "ctrace.bpf hands the compiler's freed heap back (malloc_trim(0)) once it "
              "has printed \"tracing\"; it then drops the compiler's code (libLLVM's and "
              "libclang's text) from the process, so the peak is the compile's. "
              "Goal: <= 40 MiB anonymous, peak < 150 MiB.", "",
              "| tool, options | anonymous | private | peak RSS | anon before trim | "
              "anon after trim | goal |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, p in starts["tools"].items():
        private = None
        if p.get("private_dirty_kb") and p.get("private_clean_kb"):
            private = {"median": p["private_dirty_kb"]["median"]
                       + p["private_clean_kb"]["median"]}
        anon, peak = p.get("anonymous_kb"), p.get("peak_rss_kb")
        goal = "met" if anon and peak and anon["median"] <= 40 * 1024 and \
            peak["median"] < 150 * 1024 else "MISSED"
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            label, kib(anon), kib(private), kib(peak), kib(p.get("anon_before_trim_kb")),
            kib(p.get("anon_after_trim_kb")), goal))
    return lines


def scaling(scale):
    lines = ["## How cost grows (make bench-scale, %s)" % scale.get("date", ""), "",
             scale.get("method", ""), "",
             "| scenario | open loop ratio (containeropen) | the loop's own CPU, ratio | tool "
             "| CPU s | anonymous MiB | peak MiB | start-up s | unnamed exec events |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in scale.get("rows", []):
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            row["scenario"], fmt_ci(row.get("ratio")), fmt_ci(row.get("cpu_ratio")),
            row["tool"], row.get("cpu_s", "-"),
            row.get("anon_mib", "-"), row.get("peak_mib", "-"), row.get("startup_s", "-"),
            row.get("unnamed", "")))
    return lines


def chart(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    labels, meds, los, his = [], [], [], []
    for name, r in results.items():
        for stats in r.get("ratios", {}).values():
            labels.append("%s: %s" % (name, stats["label"]))
            meds.append(stats["median"])
            los.append(stats["median"] - stats.get("lo", stats["median"]))
            his.append(stats.get("hi", stats["median"]) - stats["median"])
    fig, ax = plt.subplots(figsize=(11, 0.32 * len(labels) + 1.5))
    ys = list(range(len(labels)))[::-1]
    colors = ["tab:gray" if "floor" in l else "tab:orange" if "bpftrace" in l else "tab:blue"
              for l in labels]
    ax.barh(ys, [m - 1 for m in meds], left=1, color=colors, alpha=0.6)
    ax.errorbar(meds, ys, xerr=[los, his], fmt="none", ecolor="black", capsize=3)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=7)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter
    ax.xaxis.set_major_locator(FixedLocator([0.9, 1, 1.1, 1.2, 1.5, 2, 3, 5, 10]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: "%gx" % v))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("workload time / untraced, median of per-round ratios with 95% CI "
                  "(gray: floor, orange: bpftrace)")
    ax.set_title("ctrace: slowdown of each workload, interleaved rounds")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def write(results, starts, scale, machine, seconds):
    lines = ["# ctrace benchmark report", "",
             "Measured by `make bench` on %s, in %.0f s. %s" % (machine, seconds, METHOD), ""]
    lines += throughput(results)
    good = {k: v for k, v in results.items() if "error" not in v}
    if chart(good, os.path.join(BENCH, "results.png")):
        lines += ["", "![slowdown ratios with 95% intervals](results.png)"]
    lines += [""] + startup(starts)
    if scale:
        lines += [""] + scaling(scale)
    lines += ["", "How cost grows with 1, 50, 200 idle containers and a churn of starts: "
              "[results-scale.md](results-scale.md) (`make bench-scale`)."]
    lines += ["", "Raw figures: bench/out/*.json (every round's figures under `raw`)."]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(BENCH, "results.md"), "w") as f:
        f.write(text)
    return text
