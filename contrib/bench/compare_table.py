#!/usr/bin/env python3
"""Reads the parley-bench reports written by compare.sh (<out>/<server>-<run>.json) and prints the
comparison table: for every metric the median over the repeats with the spread (min-max), and the ratio
of each peer to Parley (peer / Parley for costs, so 3.0 means the peer needs three times as much).

Usage: compare_table.py OUT_DIR SERVER...   (the first server is the reference, normally parley)
"""
import glob
import json
import os
import statistics
import sys


def load(out, server, label):
    """Results of every repeat of <label> (files <server>-<label>-<n>.json), oldest first."""
    results = []
    for path in sorted(glob.glob(os.path.join(out, f"{server}-{label}-*.json"))):
        suffix = path[len(os.path.join(out, f"{server}-{label}-")):-len(".json")]
        if not suffix.isdigit():
            continue
        try:
            with open(path) as f:
                results.append(json.load(f)["results"])
        except (OSError, ValueError, KeyError):
            pass
    return results


def pick(results, *keys):
    values = []
    for r in results:
        v = r
        try:
            for k in keys:
                v = v[k]
        except (KeyError, TypeError):
            continue
        if isinstance(v, (int, float)):
            values.append(float(v))
    return values


def chat_half_rate(out, server):
    try:
        with open(os.path.join(out, f"{server}-chat-half-rate.txt")) as f:
            return [float(f.read().strip() or 0)]
    except (OSError, ValueError):
        return []


def chat_peak(out, server):
    try:
        with open(os.path.join(out, f"{server}-chat-peak.txt")) as f:
            return [float(f.read().strip() or 0)]
    except OSError:
        return []


def muc_rate(out, server, size):
    """The offered deliveries/s whose runs are compared: the highest the server sustained, or, when it
    sustained none, the lowest tried (its figures are then those of an overloaded server)."""
    try:
        with open(os.path.join(out, f"{server}-muc{size}-sustained.txt")) as f:
            sustained = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return None
    if sustained:
        return sustained
    tried = sorted({int(os.path.basename(p).split("-")[2])
                    for p in glob.glob(os.path.join(out, f"{server}-muc{size}-*-*.json"))})
    return tried[0] if tried else None


# (label, unit, scale, lower is better, how to get the values, Parley's budget or None)
def metrics(out, server, muc_sizes):
    idle = load(out, server, "idle")
    login = load(out, server, "login")
    chat = load(out, server, "chat-half")
    mam = load(out, server, "mam")
    rows = [
        ("idle: sessions held", "", 1, None, pick(idle, "sessions_online"), None),
        ("idle: server memory per session", "KiB", 1 / 1024, True, pick(idle, "server_bytes_per_session"),
         ("<=", 16)),
        ("login: server CPU per login", "ms", 1, True, pick(login, "server_cpu_ms_per_login"), ("peer/3", None)),
        ("login: logins/s (client on the same cores)", "/s", 1, False, pick(login, "logins_per_second"), None),
        ("login: latency p99", "ms", 1, True, pick(login, "latency_ms", "p99"), None),
        ("login: failures", "", 1, True, pick(login, "failed"), None),
        ("chat: peak rate (p99 < 50 ms, no loss)", "msg/s", 1, False, chat_peak(out, server), None),
        ("chat at half the peak: offered rate (the lowest tried when no rate met the bound)", "msg/s", 1, None,
         chat_half_rate(out, server), None),
        ("chat at half the peak: server CPU per message", "µs", 1, True,
         pick(chat, "server_cpu_us_per_message"), ("<=", 35)),
        ("chat at half the peak: latency p99", "ms", 1, True, pick(chat, "latency_ms", "p99"), ("<", 5)),
        ("chat at half the peak: lost", "", 1, True, pick(chat, "lost"), ("<=", 0)),
    ]
    for size in muc_sizes:
        rate = muc_rate(out, server, size)
        muc = load(out, server, f"muc{size}-{rate}") if rate else []
        rows += [
            (f"muc {size} occupants: offered deliveries/s compared (highest with ≤ 0.1 % lost)", "/s", 1, None,
             [float(rate)] if rate else [], None),
            (f"muc {size} occupants: server CPU per delivered stanza", "µs", 1, True,
             pick(muc, "server_cpu_us_per_delivery"), ("<=", 6)),
            (f"muc {size} occupants: deliveries/s", "/s", 1, False, pick(muc, "deliveries_per_second"), None),
            (f"muc {size} occupants: latency p99", "ms", 1, True, pick(muc, "latency_ms", "p99"), None),
            (f"muc {size} occupants: lost", "", 1, True, pick(muc, "lost"), None),
        ]
    rows += [
        ("mam fill: server CPU per archived message", "µs", 1, True,
         pick(mam, "fill_server_cpu_us_per_message"), None),
        ("mam paging: server CPU per page", "ms", 1, True, pick(mam, "page_server_cpu_ms_per_page"), None),
        ("mam paging: page latency p99", "ms", 1, True, pick(mam, "page_latency_ms", "p99"), None),
        ("mam paging: consistent runs", "", 1, False, [1.0 if r.get("consistent") else 0.0 for r in mam], None),
    ]
    return rows


def fmt(v):
    if v is None:
        return "–"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def cell(values, scale):
    if not values:
        return "–", None
    vs = [v * scale for v in values]
    med = statistics.median(vs)
    if len(vs) > 1 and max(vs) != min(vs):
        return f"{fmt(med)} ({fmt(min(vs))}–{fmt(max(vs))})", med
    return fmt(med), med


def main():
    out, servers = sys.argv[1], sys.argv[2:]
    muc_sizes = sorted({int(os.path.basename(p).split("-")[1][3:])
                        for p in glob.glob(os.path.join(out, "*-muc*-sustained.txt"))
                        if os.path.basename(p).split("-")[1][3:].isdigit()})
    table = {s: metrics(out, s, muc_sizes) for s in servers}
    ref = servers[0]
    header = ["metric", "unit"] + [f"{s} median (min–max)" for s in servers]
    header += [f"{s}/{ref}" for s in servers[1:]]
    header.append(f"{ref} budget")
    lines = [header]
    for i, row in enumerate(table[ref]):
        label, unit, scale, lower, _, budget = row
        cells, meds = [], {}
        for s in servers:
            c, m = cell(table[s][i][4], scale)
            cells.append(c)
            meds[s] = m
        ratios = []
        for s in servers[1:]:
            if lower is None or meds[s] is None or not meds[ref]:
                ratios.append("–")
            else:
                ratios.append(f"{meds[s] / meds[ref]:.2f}×")
        verdict = ""
        if budget and meds[ref] is not None:
            kind, limit = budget
            if kind == "peer/3":
                peers = [meds[s] for s in servers[1:] if meds[s] is not None]
                if peers:
                    limit = min(peers) / 3
                    ok = meds[ref] <= limit
                    verdict = f"≤ {fmt(limit)} (⅓ of the better peer): " + ("met" if ok else
                                                                           f"missed by {meds[ref] / limit:.1f}×")
            else:
                ok = meds[ref] <= limit if kind == "<=" else meds[ref] < limit
                verdict = f"{kind} {fmt(limit)}: " + ("met" if ok else (
                    f"missed by {meds[ref] / limit:.1f}×" if limit else "missed"))
        lines.append([label, unit] + cells + ratios + [verdict])

    # A Markdown table (pastes into docs/PERFORMANCE.md as is).
    widths = [max(len(l[c]) for l in lines) for c in range(len(header))]
    def render(l):
        return "| " + " | ".join(x.ljust(w) for x, w in zip(l, widths)) + " |"
    print(render(lines[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for l in lines[1:]:
        print(render(l))
    try:
        with open(os.path.join(out, "run.txt")) as f:
            print()
            print(f.read().rstrip())
    except OSError:
        pass


if __name__ == "__main__":
    main()
