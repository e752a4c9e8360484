#!/usr/bin/env python3
"""Turns the raw outputs of tests/bench/run.sh into results.json, results.md
and PNG plots (gnuplot). Standard library only.

    python3 tests/bench/report.py tests/out/bench [--readme README.md]

With --readme, the table between the README's "bench:begin" and
"bench:end" markers is replaced by the new one, and the plots, results.json
and profile.txt are copied to docs/bench/ beside it.
"""
import glob
import json
import os
import shutil
import subprocess
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else "tests/out/bench"
README = sys.argv[sys.argv.index("--readme") + 1] if "--readme" in sys.argv else None
STAGES = ["decode", "queue", "worker", "return", "reorder", "total"]


def load(name, default=None):
    try:
        with open(os.path.join(OUT, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def fmt(v, digits=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


machine = load("machine.json", {})
sweeps = {}
for path in sorted(glob.glob(os.path.join(OUT, "sessions-*.json"))):
    d = load(os.path.basename(path))
    if d:
        sweeps[(d["codec"], d["frame_skip"])] = d
video_out = {}
for path in sorted(glob.glob(os.path.join(OUT, "video-output-skip*.json"))):
    d = load(os.path.basename(path))
    if d:
        video_out[d["frame_skip"]] = d
throughput = []
if os.path.exists(os.path.join(OUT, "throughput.jsonl")):
    with open(os.path.join(OUT, "throughput.jsonl")) as f:
        throughput = [json.loads(line) for line in f if line.strip()]
formats = load("format_cost.json", [])
g2g = load("glass-to-glass.json", {})
profile_run = load("profile-run.json", {})
soak = load("soak.json", {})
fuzz = load("fuzz.json", {})
noisy = load("noisy.json", {})


def step(sweep, n):
    for s in sweep.get("steps", []):
        if s["sessions"] == n:
            return s
    return None


def best_step(sweep):
    """The largest session count within the aims (the sweep's last good step)."""
    good = [s for s in sweep.get("steps", []) if s.get("within_aims")]
    return good[-1] if good else None


def workers_cores(s):
    return sum(v for k, v in s.get("other_cores", {}).items() if k.startswith("worker"))


def cpu_row(label, skip, s):
    return (f"| {label} | {skip} | {s['sessions']} | {s['data_path_cores']:.2f} | {workers_cores(s):.2f} | "
            f"{s.get('other_cores', {}).get('redis', 0):.2f} | {s['data_path_cpu_ms_per_frame']:.2f} | "
            f"{s['cpu_ratio']:.2f} | {s['rss_kib_per_session'] / 1024:.1f} | {s['redis_bytes_per_session'] / 1048576:.1f} |")


def fleet_fps(workers, effect):
    return next((t["throughput"]["fps"] for t in throughput
                 if t["workers"] == workers and t["throughput"]["effect"] == effect), None)


def first_failing(sweep):
    bad = [s for s in sweep.get("steps", []) if not s.get("within_aims")]
    return bad[0] if bad else None


results = {"machine": machine, "sessions": {}, "video_output": {}, "throughput": throughput,
           "formats": formats, "glass_to_glass": g2g, "soak": soak, "fuzz": fuzz, "noisy": noisy, "aims": {}}
for (codec, skip), d in sweeps.items():
    results["sessions"][f"{codec}_skip{skip}"] = d
for skip, d in video_out.items():
    results["video_output"][f"skip{skip}"] = d

# ---------------------------------------------------------------- the aims
aims = []
# Glass-to-glass percentiles of tests/e2e/video.js' summary, by path.
G2G_ECHOTEST = g2g.get("echotestG2gMs") or {}
G2G_DATACHANNEL = ((g2g.get("both") or {}).get("g2gMs") or {}).get("datachannel") or {}
G2G_VIDEO_BOTH = ((g2g.get("both") or {}).get("g2gMs") or {}).get("video") or {}
G2G_VIDEO = (g2g.get("video") or {}).get("g2gMs") or {}
# Where every path was timed (the same point for all, tests/e2e/video.js'
# G2G_POINT). A summary without it comes from a run that timed echotest at
# requestVideoFrameCallback and the data channel at JPEG decode: its paths are
# not comparable, so no aim is judged from it.
G2G_POINT = g2g.get("g2gPoint")
# Each processed session runs beside its own echotest (the same load): the
# data channel beside output=both's, the video track beside output=video's.
G2G_ECHOTEST_VIDEO = g2g.get("echotestBesideVideoG2gMs") or {}
dc, vt = G2G_DATACHANNEL.get("p50"), G2G_VIDEO.get("p50")
if G2G_POINT:
    for label, v, floor in (("data channel", dc, G2G_ECHOTEST.get("p50")), ("video track", vt, G2G_ECHOTEST_VIDEO.get("p50"))):
        if v is not None and floor is not None:
            aims.append(("Glass-to-glass p50 within 33 ms of echotest's (" + label + ")",
                         f"{v:.0f} ms vs {floor:.0f} ms: {v - floor:+.0f} ms", v - floor <= 33))
one = step(sweeps.get(("vp8", 1), {}), 1)
if one:
    aims.append(("All 30 fps processed for one client (FRAME_SKIP=1, VP8)",
                 f"{one['processed_fps_per_client_mean']:.1f} fps, drops {one['drops_pct']:.1f}%",
                 one["processed_fps_per_client_mean"] >= 29.5))
for codec in ("vp8", "h264"):
    sw = sweeps.get((codec, 3))
    if sw:
        n = sw["max_sessions_within_aims"]
        aims.append((f"At least 16 sessions at FRAME_SKIP=3 ({codec.upper()}, p95 ≤ 100 ms, drops ≤ 1%)",
                     f"{n} sessions", n >= 16))
for codec in ("vp8", "h264"):
    for skip in (1, 3):
        sw = sweeps.get((codec, skip))
        one = step(sw, 1) if sw else None
        best = best_step(sw) if sw else None
        if one and best:
            aims.append((f"Data path CPU per frame ≤ 1.25 × libavcodec decode ({codec.upper()}, FRAME_SKIP={skip})",
                         f"{one['cpu_ratio']:.2f}× at 1 session, {best['cpu_ratio']:.2f}× at {best['sessions']} "
                         f"(decode {sw['libavcodec_decode_ms']:.2f} ms/frame)",
                         best["cpu_ratio"] <= 1.25))
for skip, d in sorted(video_out.items()):
    s = step(d, 4) or step(d, 1)
    if s:
        aims.append((f"… with the video track (decode + encode, VP8, FRAME_SKIP={skip})",
                     f"{s['cpu_ratio']:.2f}× at {s['sessions']} sessions (encode {d['libavcodec_encode_ms']:.2f} ms/frame)",
                     s["cpu_ratio"] <= 1.25))
if soak.get("growth_pct") is not None:
    minutes = soak["seconds"] / 60
    aims.append((f"Soak: RSS growth from minute 1 to the end ≤ 5% ({soak['sessions']} sessions, "
                 f"{minutes:.0f} min, ASan/LSan)",
                 f"{soak['growth_pct']:+.2f}% ({soak['rss_kib_baseline'] / 1024:.0f} → {soak['rss_kib_end'] / 1024:.0f} MiB), "
                 f"{soak['leak_reports']} leak / {soak['error_reports']} error reports",
                 soak["growth_pct"] <= 5 and soak["leak_reports"] == 0 and soak["error_reports"] == 0))
results["aims"] = [{"aim": a, "measured": m, "met": ok} for a, m, ok in aims]

# ---------------------------------------------------------------- Markdown
md = []
md.append(f"Measured {machine.get('date', '?')} at commit {machine.get('commit', '?')} on "
          f"{machine.get('cores', '?')} cores ({machine.get('cpu', '?')}), {machine.get('memory_gib', '?')} GiB, "
          f"{machine.get('os', '?')}; Janus {machine.get('janus', '?')}, Redis {machine.get('redis', '?')}, "
          f"FFmpeg {machine.get('ffmpeg', '?')}.")
any_sweep = next(iter(sweeps.values()), {})
if any_sweep:
    md.append(f"Source: {os.path.basename(any_sweep.get('source', '?'))} at 640x480, 30 fps, encoded once at "
              f"~{any_sweep.get('source_kbps', 0):.0f} kbit/s (≈{any_sweep.get('packets_per_frame', 0):.1f} RTP packets "
              f"per frame), sensor noise ±{any_sweep.get('sensor_noise', '?')}; workers: 2, effect `invert`.")
md.append("")
md.append("| Aim | Measured | Met |")
md.append("|---|---|---|")
for a, m, ok in aims:
    md.append(f"| {a} | {m} | {'yes' if ok else '**no**'} |")
md.append("")

md.append("**Sessions** (loadgen: the plugin's data path with real Redis and workers; Janus' ICE/DTLS/SRTP/SCTP "
          "not included). Largest count with p95 ≤ 100 ms and drops ≤ 1%, and the first count past it:")
md.append("")
md.append("| Codec | FRAME_SKIP | Max sessions | p95 there (ms) | fps/client there | next count: p95 / drops |")
md.append("|---|---:|---:|---:|---:|---|")
for (codec, skip), d in sorted(sweeps.items()):
    b = best_step(d)
    f = first_failing(d)
    nxt = f"{f['sessions']}: {f['p95_ms']:.0f} ms / {f['drops_pct']:.1f}%" if f else "not reached"
    md.append(f"| {codec.upper()} | {skip} | {d['max_sessions_within_aims']} | {fmt(b and b['p95_ms'])} | "
              f"{fmt(b and b['processed_fps_per_client_min'])} | {nxt} |")
md.append("")

sw = sweeps.get(("vp8", 3))
if sw:
    md.append("**Server-side latency per stage**, ms (VP8, FRAME_SKIP=3; capture = the frame's first RTP packet "
              "reaching the plugin, sent = handed to the data channel):")
    md.append("")
    md.append("| Sessions | " + " | ".join(f"{s} p50 / p95 / p99" for s in STAGES) + " |")
    md.append("|---:|" + "---|" * len(STAGES))
    for s in sw["steps"]:
        if s["sessions"] in (1, 8, 16) or s is best_step(sw):
            cells = []
            for st in STAGES:
                p = s["stages_ms"].get(st, {})
                cells.append(f"{fmt(p.get('p50'))} / {fmt(p.get('p95'))} / {fmt(p.get('p99'))}")
            md.append(f"| {s['sessions']} | " + " | ".join(cells) + " |")
    md.append("")

md.append("**CPU and memory** per session count (cores used during the window; data path = the plugin's "
          "threads in the load generator; ratio = data path CPU per decoded frame ÷ libavcodec's decode of the same "
          "frames timed alone in the same process):")
md.append("")
md.append("| Codec | FRAME_SKIP | Sessions | data path cores | workers cores | Redis cores | CPU/frame (ms) | ratio | "
          "RSS per session (MiB) | Redis per session (MiB) |")
md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for (codec, skip), d in sorted(sweeps.items()):
    for s in d["steps"]:
        if s["sessions"] in (1, 4, 8, 16, 32) or s is best_step(d):
            md.append(cpu_row(codec.upper(), skip, s))
for skip, d in sorted(video_out.items()):
    for s in d["steps"]:
        md.append(cpu_row("VP8 + video track", skip, s))
md.append("")

if g2g:
    md.append("**Glass-to-glass in Chromium** (includes Janus: headless Chromium's fake camera, VP8, through Janus to "
              "the plugin and back; the floor is Janus' echotest on the same pattern), ms, every path timed at one point: "
              + (G2G_POINT or "NOT RECORDED (an older run timed the paths at different points: not comparable)") + ":")
    md.append("")
    md.append("| Path | p50 | p95 | p99 |")
    md.append("|---|---:|---:|---:|")
    rows = [("echotest (the floor), beside both outputs", G2G_ECHOTEST), ("Ooblex, data channel", G2G_DATACHANNEL),
            ("Ooblex, video track (both outputs)", G2G_VIDEO_BOTH),
            ("echotest (the floor), beside the video track only", G2G_ECHOTEST_VIDEO), ("Ooblex, video track only", G2G_VIDEO)]
    for label, v in rows:
        if v:
            md.append(f"| {label} | {fmt(v.get('p50'), 0)} | {fmt(v.get('p95'), 0)} | {fmt(v.get('p99'), 0)} |")
    md.append("")

if noisy and os.path.exists(os.path.join(OUT, "noisy.md")):
    md.append("**Noisy neighbour** (includes Janus: tests/bench/noisy.sh, two Chromium sessions, three workers; "
              "the fast client measured alone, then beside a client whose frames take 500 ms; fair_share off = "
              "the plugin as it was):")
    md.append("")
    with open(os.path.join(OUT, "noisy.md")) as f:
        md.extend(line.rstrip("\n") for line in f)
    md.append("")

if throughput:
    md.append("**Throughput with 1, 2 and 4 workers** on CPU-heavy effects (frames straight into the queue; "
              "processed fps for the whole fleet):")
    md.append("")
    effects = sorted({t["throughput"]["effect"] for t in throughput})
    md.append("| Workers | " + " | ".join(f"`{e}`" for e in effects) + " |")
    md.append("|---:|" + "---:|" * len(effects))
    for w in sorted({t["workers"] for t in throughput}):
        cells = [fmt(fleet_fps(w, e)) for e in effects]
        md.append(f"| {w} | " + " | ".join(cells) + " |")
    md.append("")

if formats:
    md.append("**Transport format cost** (per 640x480 frame, tests/bench/format_cost):")
    md.append("")
    md.append("| Format | plugin pack (ms) | bytes | Redis LPUSH+RPOP (ms) | worker unpack + invert (ms) | total (ms) |")
    md.append("|---|---:|---:|---:|---:|---:|")
    for f in formats:
        total = f["pack_ms"] + f["redis_ms"] + f["worker_ms"]
        md.append(f"| {f['format']} | {f['pack_ms']:.2f} | {f['bytes']} | {f['redis_ms']:.2f} | {f['worker_ms']:.2f} | "
                  f"{total:.2f} |")
    md.append("")

if soak:
    md.append(f"**Soak** (tests/bench/soak.sh: {soak['sessions']} VP8 sessions, FRAME_SKIP=3, for {soak['seconds']} s "
              "through the load generator built with ASan + LSan + UBSan, 2 sanitized workers; RSS of the load "
              f"generator every {soak['sample_s']:.0f} s):")
    md.append("")
    md.append("| RSS at baseline | RSS at end | growth | slope | of which the generator's own frame log | "
              "fps/client | sanitizer reports |")
    md.append("|---:|---:|---:|---:|---:|---:|---:|")
    slope = soak.get("slope_kib_per_min")
    md.append(f"| {fmt(soak.get('rss_kib_baseline'))} KiB at {fmt(soak.get('baseline_s'), 0)} s | "
              f"{fmt(soak.get('rss_kib_end'))} KiB | "
              f"{'–' if soak.get('growth_pct') is None else format(soak['growth_pct'], '+.2f') + '%'} | "
              f"{'–' if slope is None else format(slope, '+.0f') + ' KiB/min'} | {fmt(soak.get('own_samples_kib'), 0)} KiB | "
              f"{fmt(soak.get('processed_fps_per_client'))} | {len(soak.get('sanitizer_reports', []))} |")
    md.append("")

if fuzz.get("targets"):
    md.append(f"**Fuzzing** (tests/fuzz/run.sh, libFuzzer + ASan + UBSan, {fuzz.get('seconds_per_target')} s per target, "
              "one core):")
    md.append("")
    md.append("| Target | execs | execs/s | cov | ft | corpus | result |")
    md.append("|---|---:|---:|---:|---:|---:|---|")
    for t in fuzz["targets"]:
        md.append(f"| {t['target']} | {t['execs']} | {t['execs_per_sec']} | {t['cov']} | {t['ft']} | {t['corpus']} | "
                  f"{'ok' if t['status'] == 'ok' else '**' + t['status'] + '**: ' + t.get('reproducer', '')} |")
    md.append("")

with open(os.path.join(OUT, "results.md"), "w") as f:
    f.write("\n".join(md))
with open(os.path.join(OUT, "results.json"), "w") as f:
    json.dump(results, f, indent=1)

# ---------------------------------------------------------------- plots


def gnuplot(script):
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True, cwd=OUT)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"report: gnuplot failed: {e}", file=sys.stderr)


def write(name, lines):
    with open(os.path.join(OUT, name), "w") as f:
        f.write("\n".join(lines) + "\n")


TERM = "set terminal pngcairo size 900,520 font 'DejaVu Sans,10'\nset grid\nset key top left\n"
if sweeps:
    plots_p95, plots_drops = [], []
    for (codec, skip), d in sorted(sweeps.items()):
        name = f"plot-sessions-{codec}-{skip}.dat"
        write(name, [f"{s['sessions']} {s['p95_ms']:.2f} {s['drops_pct']:.2f} {s['processed_fps_per_client_min']:.2f}"
                     for s in d["steps"]])
        plots_p95.append(f"'{name}' using 1:2 with linespoints lw 2 title '{codec.upper()} FRAME\\_SKIP={skip}'")
        plots_drops.append(f"'{name}' using 1:3 with linespoints lw 2 title '{codec.upper()} FRAME\\_SKIP={skip}'")
    gnuplot(TERM + "set output 'sessions.png'\nset multiplot layout 1,2 title 'Concurrent 640x480 30 fps sessions (loadgen, 2 workers)'\n"
            "set xlabel 'sessions'\nset ylabel 'p95 latency, first packet to sent (ms)'\nset logscale y\n"
            "set arrow from graph 0, first 100 to graph 1, first 100 nohead dt 2 lc rgb 'red'\n"
            "plot " + ", ".join(plots_p95) + "\nunset logscale y\nunset arrow\nset ylabel 'drops (%)'\n"
            "set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb 'red'\n"
            "plot " + ", ".join(plots_drops) + "\nunset multiplot\n")
    sw = sweeps.get(("vp8", 3))
    if sw:
        write("plot-cores.dat", [f"{s['sessions']} {s['data_path_cores']:.3f} "
                                 f"{workers_cores(s):.3f} "
                                 f"{s.get('other_cores', {}).get('redis', 0):.3f} {s['generator_cores']:.3f}"
                                 for s in sw["steps"]])
        gnuplot(TERM + "set output 'cpu.png'\nset title 'Where the 2 cores go (VP8, FRAME\\_SKIP=3)'\n"
                "set xlabel 'sessions'\nset ylabel 'cores'\nset style data histograms\nset style histogram rowstacked\n"
                "set style fill solid 0.8 border -1\nset boxwidth 0.7\n"
                "plot 'plot-cores.dat' using 2:xtic(1) title 'plugin data path', '' using 3 title 'workers', "
                "'' using 4 title 'Redis', '' using 5 title 'load generator'\n")
        st = sw["steps"][0]
        write("plot-stages.dat", [f"{s} {st['stages_ms'].get(s, {}).get('p50', 0):.3f} "
                                  f"{st['stages_ms'].get(s, {}).get('p95', 0):.3f} {st['stages_ms'].get(s, {}).get('p99', 0):.3f}"
                                  for s in STAGES])
        gnuplot(TERM + "set output 'stages.png'\nset title 'Server-side latency per stage, one session (VP8, FRAME\\_SKIP=3)'\n"
                "set ylabel 'ms'\nset style data histograms\nset style histogram clustered gap 1\n"
                "set style fill solid 0.8 border -1\n"
                "plot 'plot-stages.dat' using 2:xtic(1) title 'p50', '' using 3 title 'p95', '' using 4 title 'p99'\n")
if throughput:
    effects = sorted({t["throughput"]["effect"] for t in throughput})
    rows = []
    for w in sorted({t["workers"] for t in throughput}):
        rows.append(f"{w} " + " ".join(f"{fleet_fps(w, e) or 0:.2f}" for e in effects))
    write("plot-throughput.dat", rows)
    plots = [f"'plot-throughput.dat' using 1:{i + 2} with linespoints lw 2 title '{e.replace('_', chr(92) + '_')}'"
             for i, e in enumerate(effects)]
    gnuplot(TERM + "set key bottom right\nset output 'throughput.png'\nset title 'Fleet throughput on 2 cores, CPU-heavy effects'\n"
            "set xlabel 'workers'\nset ylabel 'processed frames per second'\nset xtics (1, 2, 4)\nset yrange [0:*]\n"
            "plot " + ", ".join(plots) + "\n")
if g2g:
    rows = []
    for label, v in (("echotest", G2G_ECHOTEST), ("data\\_channel", G2G_DATACHANNEL), ("video\\_track", G2G_VIDEO)):
        if v:
            rows.append(f"{label} {v.get('p50', 0)} {v.get('p95', 0)} {v.get('p99', 0) or 0}")
    write("plot-g2g.dat", rows)
    gnuplot(TERM + "set output 'glass-to-glass.png'\nset title 'Glass-to-glass in Chromium through Janus (VP8)'\n"
            "set ylabel 'ms'\nset style data histograms\nset style histogram clustered gap 1\n"
            "set style fill solid 0.8 border -1\nset yrange [0:*]\n"
            "plot 'plot-g2g.dat' using 2:xtic(1) title 'p50', '' using 3 title 'p95', '' using 4 title 'p99'\n")
if soak.get("samples"):
    write("plot-soak.dat", [f"{t / 60:.3f} {k / 1024:.1f}" for t, k in soak["samples"]])
    gnuplot(TERM + "set output 'soak.png'\nset title 'Soak: RSS of the load generator, "
            f"{soak['sessions']} sessions under ASan/LSan'\nset xlabel 'minutes'\nset ylabel 'RSS (MiB)'\n"
            "set yrange [0:*]\nplot 'plot-soak.dat' using 1:2 with lines lw 2 title 'RSS'\n")
if README:
    with open(README) as f:
        text = f.read()
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        plots = sorted(os.path.basename(p) for p in glob.glob(os.path.join(OUT, "*.png")))
        shown = md + ["", "Plots of this run: " + ", ".join(f"[{p[:-4]}](docs/bench/{p})" for p in plots) + "."]
        with open(README, "w") as f:
            f.write(head + begin + "\n" + "\n".join(shown) + "\n" + end + tail)
        dest = os.path.join(os.path.dirname(os.path.abspath(README)), "docs", "bench")
        os.makedirs(dest, exist_ok=True)
        for name in plots + ["results.json", "profile.txt"]:
            if os.path.exists(os.path.join(OUT, name)):
                shutil.copy(os.path.join(OUT, name), dest)
    else:
        print(f"report: no {begin} / {end} markers in {README}", file=sys.stderr)
print("\n".join(md))
