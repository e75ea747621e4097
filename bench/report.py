"""Tables, JSON summary and an optional PNG plot for bench.run results.

Re-render a saved run:  ``python -m bench.report results.json [--plot out.png]``
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys

BASELINE = "picows"  # default reference server of the ratios (bench.run --reference)
LOWER_IS_BETTER = {"KiB/conn"}


def fmt_value(v: float, unit: str) -> str:
    if unit in LOWER_IS_BETTER:
        return f"{v:.2f} {unit}"
    short = unit.replace("deliveries/s", "dlv/s").replace("handshakes/s", "hs/s")
    if v >= 1e6:
        return f"{v / 1e6:.2f}M {short}"
    if v >= 1e3:
        return f"{v / 1e3:.1f}k {short}"
    return f"{v:.0f} {short}"


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(samples: list[dict]) -> dict:
    """(server, case) -> median value (over samples without error) and CPU medians."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for s in samples:
        groups.setdefault((s["server"], s["case"]), []).append(s)
    out = {}
    for key, ss in groups.items():
        good = [s for s in ss if not s.get("error")]
        out[key] = {
            "server": key[0], "case": key[1],
            "unit": next((s.get("unit") for s in ss if s.get("unit")), ""),
            "median": _median([s["value"] for s in good]),
            "values": [s.get("value") for s in ss],
            "n": len(good), "errors": [s["error"] for s in ss if s.get("error")],
            "server_util": _median([s.get("server_util") for s in good]),
            "gen_util": _median([s.get("gen_util") for s in good]),
            "foreign_util": _median([s.get("foreign_util") for s in good]),
            "server_us_per_msg": _median([s.get("server_us_per_msg") for s in good]),
            "gen_us_per_msg": _median([s.get("gen_us_per_msg") for s in good]),
            # game cases: publish-to-receipt latency (ms), median over rounds of each percentile
            "latency_p50_ms": _median([s.get("latency_p50_ms") for s in good]),
            "latency_p99_ms": _median([s.get("latency_p99_ms") for s in good]),
        }
    return out


def negotiated(samples: list[dict]) -> dict[str, str]:
    """server -> the TLS protocol/cipher its wss:// samples negotiated (``"tls"`` in the
    load generator's results; distinct values joined by " / ")."""
    seen: dict[str, list[str]] = {}
    for s in samples:
        if s.get("tls") and s["tls"] not in seen.setdefault(s["server"], []):
            seen[s["server"]].append(s["tls"])
    return {server: " / ".join(v) for server, v in seen.items() if v}


def deflate_answers(samples: list[dict]) -> dict[str, str]:
    """server -> its permessage-deflate answer (``Sec-WebSocket-Extensions``) in a
    ``--deflate`` run (distinct values joined by " / ")."""
    seen: dict[str, list[str]] = {}
    for s in samples:
        ans = (s.get("deflate") or {}).get("answer")
        if ans and ans not in seen.setdefault(s["server"], []):
            seen[s["server"]].append(ans)
    return {server: " / ".join(v) for server, v in seen.items() if v}


def deflate_wire(samples: list[dict]) -> dict[tuple[str, str], dict]:
    """(server, case) -> the ``deflate`` info of its first sample whose messages were
    checked (payload, generator frame and server frame sizes, whether the server compressed)."""
    out: dict[tuple[str, str], dict] = {}
    for s in samples:
        d = s.get("deflate") or {}
        if d.get("verified") and (s["server"], s["case"]) not in out:
            out[(s["server"], s["case"])] = d
    return out


def summary_rows(summary: dict) -> list[dict]:
    return list(summary.values())


def baseline_of(servers: list[str], reference: str = BASELINE) -> str:
    """The server ratios are computed against: ``reference`` if it ran, else the first."""
    return reference if reference in servers else servers[0]


def ratio(summary: dict, server: str, case: str, base: str):
    a = summary.get((server, case), {}).get("median")
    b = summary.get((base, case), {}).get("median")
    if a is None or not b:
        return None
    return a / b


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def format_report(summary: dict, servers: list[str], cases: list[str], meta: dict | None = None,
                  samples: list[dict] | None = None) -> str:
    """The text report: throughput/memory table with ratios to the reference server
    (``meta["reference"]``, default picows; the first server if it did not run), CPU table,
    noise footer, failures and skips (for a ``--tls`` run, the negotiated ciphers; for a
    ``--deflate`` run, each server's permessage-deflate answer and, from ``samples``, the
    bytes on the wire per message)."""
    reference = (meta or {}).get("reference") or BASELINE
    base = baseline_of(servers, reference) if servers else reference
    tls = bool(meta and meta.get("tls"))
    deflate = bool(meta and meta.get("deflate"))
    case_col = "case (wss://)" if tls else "case"
    mode = ("wss:// (TLS) " if tls else "") + ("permessage-deflate " if deflate else "")
    rows = []
    for case in cases:
        unit = next((summary[(s, case)]["unit"] for s in servers if (s, case) in summary), "")
        row = [case + (" (lower=better)" if unit in LOWER_IS_BETTER else "")]
        for s in servers:
            e = summary.get((s, case))
            if e is None:
                row.append("-")
            elif e["median"] is None:
                row.append("ERROR")
            else:
                r = ratio(summary, s, case, base)
                row.append(fmt_value(e["median"], e["unit"]) + (f" {r:5.2f}x" if r is not None else "      "))
        rows.append(row)
    out = []
    if meta:
        out.append(f"# {meta.get('time', '')}  Python {meta.get('python', '')}  {meta.get('cpus')} CPUs; "
                   f"{meta.get('pinning', '')}; servers on {'uvloop' if meta.get('uvloop_servers') else 'asyncio'}; "
                   f"{'wss:// (TLS, load generator on uvloop TLS); ' if tls else ''}"
                   f"{'permessage-deflate on every connection (no context takeover either way); ' if deflate else ''}"
                   f"median of {meta.get('rounds')} interleaved rounds, {meta.get('duration')} s each; "
                   f"reference server {base}")
    title = f"{mode}throughput / memory" if mode else "Throughput / memory"
    why = ""
    if base != reference:
        why = f" ({reference}, the usual reference, did not run)"
    elif deflate and base != BASELINE:
        why = f" ({BASELINE} has no permessage-deflate)"
    out.append(f"\n{title}, median; ratio = server / {base} in this run{why}\n")
    out.append(_table([case_col] + servers, rows))

    cpu_rows = []
    for case in cases:
        row = [case]
        for s in servers:
            e = summary.get((s, case))
            if not e or e["server_util"] is None:
                row.append("-")
            else:
                row.append(f"{e['server_util'] * 100:3.0f}%/{e['gen_util'] * 100:3.0f}%"
                           f" {e['server_us_per_msg']:6.1f}/{e['gen_us_per_msg']:5.1f}us")
        cpu_rows.append(row)
    out.append(f"\n{mode}CPU in the measured window: server%/generator% of one core, "
               "server/generator CPU microseconds per message (delivery, handshake)\n")
    out.append(_table([case_col] + servers, cpu_rows))
    lat_rows = []
    for case in cases:
        if not any((summary.get((s, case)) or {}).get("latency_p50_ms") is not None for s in servers):
            continue
        row = [case]
        for s in servers:
            e = summary.get((s, case))
            if not e or e.get("latency_p50_ms") is None:
                row.append("-")
            else:
                row.append(f"{e['latency_p50_ms']:7.2f} / {e['latency_p99_ms']:7.2f} ms")
        lat_rows.append(row)
    if lat_rows:
        out.append(f"\n{mode}Latency from publish to receipt by the generator, p50 / p99 "
                   "(median over rounds), every message\n")
        out.append(_table([case_col] + servers, lat_rows))
    wire = deflate_wire(samples or []) if deflate else {}
    if wire:
        wrows = []
        for case in cases:
            info = next((wire[(s, case)] for s in servers if (s, case) in wire), None)
            if info is None:
                continue
            row = [case, str(info.get("payload_bytes") or "-"), str(info.get("client_frame_bytes") or "-")]
            for s in servers:
                d = wire.get((s, case))
                if d is None:
                    row.append("-")
                    continue
                size = d.get("echo_frame_bytes")
                size = "/".join(map(str, size)) if isinstance(size, list) else str(size)
                comp = d.get("echo_compressed")
                row.append(size + ("" if comp is True else " raw" if comp is False else " mixed"))
            wrows.append(row)
        out.append("\npermessage-deflate: bytes on the wire per message (frame with header). payload = "
                   "uncompressed size; gen = the generator's frame; server columns = the echo "
                   "(broadcast: the delivery) as the server sent it, checked in full before measuring; "
                   "'raw' = sent uncompressed (RSV1 clear)\n")
        out.append(_table([case_col, "payload", "gen"] + servers, wrows))
    fu = [e["foreign_util"] for e in summary.values() if e.get("foreign_util") is not None]
    if fu:
        out.append(f"\nOther processes on the machine used a median {statistics.median(fu) * 100:.0f}% "
                   f"(max {max(fu) * 100:.0f}%) of one core during the measured windows.")
    errs = [(k, e["errors"]) for k, e in summary.items() if e["errors"]]
    for (s, c), es in errs:
        out.append(f"! {s} / {c}: {len(es)} failed sample(s): {es[0]}")
    if meta and meta.get("skipped"):
        for s, why in meta["skipped"].items():
            out.append(f"! {s} skipped: {why}")
    if deflate and meta.get("deflate_negotiated"):
        answers = meta["deflate_negotiated"]
        out.append("permessage-deflate offered: permessage-deflate; client_no_context_takeover; "
                   "server_no_context_takeover. Answers:")
        for s, a in answers.items():
            out.append(f"  {s}: {a}")
    if tls and meta.get("tls_negotiated"):
        ciphers = meta["tls_negotiated"]
        if len(set(ciphers.values())) == 1 and set(ciphers) >= set(servers):
            out.append(f"TLS negotiated with every server: {next(iter(ciphers.values()))}")
        else:
            out.append("TLS negotiated: " + "; ".join(f"{s} {c}" for s, c in ciphers.items()))
    return "\n".join(out)


def plot(summary: dict, servers: list[str], cases: list[str], path: str, tls: bool = False,
         reference: str = BASELINE, deflate: bool = False) -> None:
    """PNG bar chart of every server's ratio to the reference server per case (log scale)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = baseline_of(servers, reference)
    others = [s for s in servers]
    width = 0.8 / max(1, len(others))
    fig, ax = plt.subplots(figsize=(min(24, max(8, 1.1 * len(cases) * max(1, len(others)) / 2.5)), 5.5))
    for i, s in enumerate(others):
        xs, ys = [], []
        for j, c in enumerate(cases):
            r = ratio(summary, s, c, base)
            if r is not None:
                xs.append(j + (i - (len(others) - 1) / 2) * width)
                ys.append(r)
        bars = ax.bar(xs, ys, width, label="null (generator ceiling)" if s == "null" else s)
        for x, y in zip(xs, ys):
            ax.text(x, y, f"{y:.2g}", ha="center", va="bottom", fontsize=6, rotation=90)
    labels = []
    for c in cases:
        unit = next((summary[(s, c)]["unit"] for s in servers if (s, c) in summary), "")
        labels.append(c + ("\n(lower=better)" if unit in LOWER_IS_BETTER else ""))
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_ylabel(f"ratio to {base} (same run, log scale)")
    ax.set_title(f"{'wss:// (TLS): ' if tls else ''}{'permessage-deflate: ' if deflate else ''}"
                 f"WebSocket servers relative to {base}\n"
                 f"(median of rounds; higher = faster, except memory)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="render a bench.run JSON file")
    p.add_argument("json")
    p.add_argument("--plot", default=None)
    a = p.parse_args(argv)
    with open(a.json) as f:
        data = json.load(f)
    meta = data.get("meta", {})
    summary = summarize(data["samples"])
    servers = meta.get("servers") or sorted({s for s, _ in summary})
    cases = meta.get("cases") or sorted({c for _, c in summary})
    print(format_report(summary, servers, cases, meta, data["samples"]))
    if a.plot:
        plot(summary, servers, cases, a.plot, tls=bool(meta.get("tls")),
             reference=meta.get("reference") or BASELINE, deflate=bool(meta.get("deflate")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
