"""Client benchmark: every WebSocket client against one fixed, fast echo server (uWebSockets).

    python -m bench.client.run [--clients a,b] [--schemes ws,wss] [--rounds 3] [--duration 2]
                               [--sizes 64,1024,65536] [--latency-rate 1000] [--latency-duration 3]
                               [--json out.json] [--plot out.png] [--uvloop] [--quick]

One echo server per scheme runs for the whole run, pinned to CPU 0: ``--server picows``
(default: picows' Cython server on uvloop, ``bench/client/echo_server.py``) or
``--server socketify`` (uWebSockets: ``bench/servers/socketify_server.py`` for ws://,
``bench/client/echo_server.py --impl socketify`` for wss://), wss:// with a trustme
certificate. Each client runs in its own fresh process
(``bench/client/clients.py``) pinned to CPU 1; rounds are interleaved (each round runs every
client once per scheme, in a rotated order). Tables give medians over rounds and ratios to
picows in the same run; latency percentiles come from one HDR histogram per client holding
every sample of every round. See bench/client/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = sys.executable
DEFAULT_CLIENTS = "wsfast-cb,wsfast-cb-pure,wsfast-coro,wsfast-coro-pure,picows,picows-ws,websockets,aiohttp"
# aiofastnet on/off comparisons; busy-polling loops (wsfast.spinning_loop_factory) for both
EXTRA = ("wsfast-cb-afn,wsfast-coro-afn,wsfast-cb-noafn,wsfast-coro-noafn,picows-noafn,"
         "wsfast-cb-spin,picows-spin")
BASE = {"callback": "picows", "coroutine": "picows-ws"}
STYLE = {
    "wsfast-cb": "callback", "wsfast-cb-pure": "callback", "wsfast-cb-afn": "callback",
    "wsfast-cb-spin": "callback", "picows-spin": "callback",
    "picows": "callback", "picows-noafn": "callback",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin(cpu: int):
    def fn() -> None:
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError:
            pass
    return fn


def start_server(args, scheme: str, tmp: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    if scheme == "ws" and args.server == "socketify":
        cmd = [PY, "-m", "bench.servers.socketify_server", "--port", str(port)]
    else:
        cmd = [PY, "-m", "bench.client.echo_server", "--impl", args.server, "--port", str(port)]
        if scheme == "wss":
            cmd += ["--cert", os.path.join(tmp, "cert.pem"), "--key", os.path.join(tmp, "key.pem")]
        if args.server == "picows":
            cmd.append("--uvloop")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=pin(args.server_cpu))
    line = proc.stdout.readline().strip()  # type: ignore[union-attr]
    if line != "READY":
        proc.kill()
        raise SystemExit(f"{scheme} server did not start: {line!r}")
    return proc, port


def make_certs(tmp: str) -> None:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(os.path.join(tmp, "ca.pem"))
    cert.private_key_pem.write_to_path(os.path.join(tmp, "key.pem"))
    cert.cert_chain_pems[0].write_to_path(os.path.join(tmp, "cert.pem"))


def other_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def run_client(args, client: str, scheme: str, port: int, server_pid: int, tmp: str) -> dict:
    uri = f"{scheme}://127.0.0.1:{port}/"
    cmd = [PY, "-m", "bench.client.clients", "--client", client, "--uri", uri,
           "--sizes", args.sizes, "--duration", str(args.duration), "--warmup", str(args.warmup),
           "--latency-rate", str(args.latency_rate), "--latency-duration", str(args.latency_duration),
           "--server-pid", str(server_pid), "--cpu", str(args.client_cpu)]
    if scheme == "wss":
        cmd += ["--ca", os.path.join(tmp, "ca.pem")]
    if args.uvloop:
        cmd.append("--uvloop")
    busy0, total0 = other_cpu()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    busy1, total1 = other_cpu()
    if out.returncode != 0:
        return {"client": client, "error": out.stderr.strip().splitlines()[-1:] or ["failed"]}
    result = json.loads(out.stdout)
    result["machine_busy"] = (busy1 - busy0) / max(1, total1 - total0)  # both CPUs, all processes
    return result


def hdr(samples_ns: list[int]):
    from hdrh.histogram import HdrHistogram

    h = HdrHistogram(1, 60_000_000, 3)  # 1 us .. 60 s, 3 significant digits (values in us)
    for v in samples_ns:
        h.record_value(max(1, v // 1000))
    return h


def med(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(raw: list[dict], clients: list[str], schemes: list[str], sizes: list[str]) -> dict:
    summary: dict = {}
    for scheme in schemes:
        rows = [r for r in raw if r.get("scheme") == scheme and "error" not in r]
        s: dict = {"rate": {}, "latency": {}}
        for client in clients:
            mine = [r for r in rows if r["client"] == client]
            if not mine:
                continue
            s["rate"][client] = {}
            for size in sizes:
                vals = [r["rate"][size] for r in mine if size in r["rate"]]
                s["rate"][client][size] = {
                    key: med([v[key] for v in vals])
                    for key in ("rate", "client_cpu_us", "client_sys_us", "client_cpu_share", "server_cpu_share")
                }
            lat = [r["latency"] for r in mine if "latency" in r]
            if lat:
                h = hdr([x for r in lat for x in r["samples"]])
                s["latency"][client] = {
                    "count": h.get_total_count(),
                    "p50_us": h.get_value_at_percentile(50),
                    "p99_us": h.get_value_at_percentile(99),
                    "p99.9_us": h.get_value_at_percentile(99.9),
                    "max_us": h.get_max_value(),
                    "rate": med([r["rate"] for r in lat]),
                    "client_cpu_us": med([r["client_cpu_us"] for r in lat]),
                    "percentiles": [
                        (p, h.get_value_at_percentile(p))
                        for p in (0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100)
                    ],
                }
        summary[scheme] = s
    return summary


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:5.2f}x" if a is not None and b else "   - "


def print_tables(summary: dict, sizes: list[str]) -> None:
    for scheme, s in summary.items():
        print(f"\n## {scheme}:// round trips (one message in flight), median over rounds")
        print("rate = round trips/s; cpu = client CPU us per round trip (sys = kernel part); "
              "ratios to picows (coroutine clients' CPU also to picows-ws)")
        head = f"{'client':18}" + "".join(
            f" | {int(z) // 1024 if int(z) >= 1024 else z}{'K' if int(z) >= 1024 else 'B':1} rate  x pic   cpu(sys)   x pic  x p-ws"
            for z in sizes)
        print(head)
        base = s["rate"].get("picows", {})
        base_ws = s["rate"].get("picows-ws", {})
        for client, per in s["rate"].items():
            line = f"{client:18}"
            for size in sizes:
                v, b, bw = per[size], base.get(size, {}), base_ws.get(size, {})
                line += (f" | {v['rate'] or 0:9.0f} {ratio(v['rate'], b.get('rate'))}"
                         f" {v['client_cpu_us'] or 0:5.1f}({v['client_sys_us'] or 0:4.1f})"
                         f" {ratio(v['client_cpu_us'], b.get('client_cpu_us'))}"
                         f" {ratio(v['client_cpu_us'], bw.get('client_cpu_us'))}")
            print(line)
        shares = [(c, z, per[z]["server_cpu_share"]) for c, per in s["rate"].items() for z in sizes]
        top = max(shares, key=lambda t: t[2] or 0) if shares else None
        if top:
            print(f"server CPU share: max {top[2]:.0%} of one core (client {top[0]}, {top[1]} B)")
        if s["latency"]:
            print(f"\n## {scheme}:// latency of single 64 B round trips, paced (steady load), HDR histogram, us")
            print(f"{'client':18} {'n':>7} {'rate/s':>7} {'p50':>7} {'p99':>7} {'p99.9':>8} {'max':>8}  p99 x picows  cpu/rt")
            lb = s["latency"].get("picows", {})
            for client, v in s["latency"].items():
                print(f"{client:18} {v['count']:7d} {v['rate'] or 0:7.0f} {v['p50_us']:7d} {v['p99_us']:7d}"
                      f" {v['p99.9_us']:8d} {v['max_us']:8d}  {ratio(v['p99_us'], lb.get('p99_us'))}"
                      f"  {v['client_cpu_us'] or 0:6.1f}")


def spread(raw: list[dict], clients: list[str], schemes: list[str], sizes: list[str]) -> dict:
    """Per-round ratios to the baseline clients: {scheme: {client: {key: [ratios]}}}.

    Each round runs every client once, back to back, so a ratio taken within one round
    pairs runs that saw the same machine: its spread over rounds is the noise band the
    medians above sit in. Keys: ``rate@SIZE`` and ``cpu@SIZE`` (to picows), ``cpu-ws@SIZE``
    (to picows-ws) and ``p99`` (each round's own histogram, to picows').
    """
    out: dict = {}
    for scheme in schemes:
        by = {(r["client"], r["round"]): r for r in raw
              if r.get("scheme") == scheme and "error" not in r}
        rounds = sorted({rnd for _, rnd in by})
        p99 = {key: hdr(r["latency"]["samples"]).get_value_at_percentile(99)
               for key, r in by.items() if r.get("latency", {}).get("samples")}
        out[scheme] = {}
        for client in clients:
            ratios: dict[str, list[float]] = {}

            def add(key: str, mine: float | None, base: float | None) -> None:
                if mine is not None and base:
                    ratios.setdefault(key, []).append(mine / base)

            for rnd in rounds:
                r, pic, pws = by.get((client, rnd)), by.get(("picows", rnd)), by.get(("picows-ws", rnd))
                if r is None:
                    continue
                for size in sizes:
                    v = r["rate"].get(size, {})
                    if pic is not None and size in pic["rate"]:
                        add(f"rate@{size}", v.get("rate"), pic["rate"][size]["rate"])
                        add(f"cpu@{size}", v.get("client_cpu_us"), pic["rate"][size]["client_cpu_us"])
                    if pws is not None and size in pws["rate"]:
                        add(f"cpu-ws@{size}", v.get("client_cpu_us"), pws["rate"][size]["client_cpu_us"])
                add("p99", p99.get((client, rnd)), p99.get(("picows", rnd)))
            out[scheme][client] = ratios
    return out


def print_spread(spreads: dict, sizes: list[str]) -> None:
    def band(values: list[float] | None) -> str:
        if not values:
            return f"{'-':>16}"
        return f"{min(values):4.2f} {statistics.median(values):4.2f} {max(values):4.2f}".rjust(16)

    for scheme, per in spreads.items():
        print(f"\n## {scheme}:// ratios within each round: min median max over rounds")
        print("rate and cpu to picows, cpu-ws to picows-ws (coroutine clients), p99 to picows")
        head = f"{'client':18}" + "".join(
            f" | {z + 'B rate':>16} {z + 'B cpu':>16} {z + 'B cpu-ws':>16}" for z in sizes) + f" | {'p99':>16}"
        print(head)
        for client, ratios in per.items():
            if client in ("picows", "picows-ws") or not ratios:
                continue
            line = f"{client:18}"
            for size in sizes:
                line += (f" | {band(ratios.get(f'rate@{size}'))} {band(ratios.get(f'cpu@{size}'))}"
                         f" {band(ratios.get(f'cpu-ws@{size}'))}")
            print(line + f" | {band(ratios.get('p99'))}")


def plot(summary: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    schemes = [s for s in summary if summary[s]["latency"]]
    fig, axes = plt.subplots(1, len(schemes), figsize=(7 * len(schemes), 5), squeeze=False)
    for ax, scheme in zip(axes[0], schemes):
        for client, v in summary[scheme]["latency"].items():
            pts = [(p, val) for p, val in v["percentiles"] if p < 100]
            xs = [1 / (1 - p / 100) for p, _ in pts]
            ax.plot(xs, [val for _, val in pts], marker=".", label=client)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = [1, 2, 10, 100, 1000, 10000]
        ax.set_xticks(ticks)
        ax.set_xticklabels(["0%", "50%", "90%", "99%", "99.9%", "99.99%"])
        ax.set_xlabel("percentile")
        ax.set_ylabel("round trip, us")
        ax.set_title(f"{scheme}:// 64 B round-trip latency (HDR)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--clients", default=DEFAULT_CLIENTS, help=f"comma list; extras: {EXTRA}")
    p.add_argument("--schemes", default="ws,wss")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=2.0)
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--sizes", default="64,1024,65536")
    p.add_argument("--latency-rate", type=float, default=1000.0)
    p.add_argument("--latency-duration", type=float, default=3.0)
    p.add_argument("--server", choices=("picows", "socketify"), default="picows",
                   help="the fixed echo server (picows: Cython + aiofastnet, on uvloop; socketify: uWebSockets)")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--uvloop", action="store_true")
    p.add_argument("--quick", action="store_true", help="2 rounds of 1 s, 2 s of latency")
    p.add_argument("--json")
    p.add_argument("--plot")
    args = p.parse_args()
    if args.quick:
        args.rounds, args.duration, args.warmup, args.latency_duration = 2, 1.0, 0.3, 2.0
    clients = [c for c in args.clients.split(",") if c]
    schemes = [s for s in args.schemes.split(",") if s]
    sizes = [z for z in args.sizes.split(",") if z]
    raw: list[dict] = []
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        make_certs(tmp)
        servers = {scheme: start_server(args, scheme, tmp) for scheme in schemes}
        try:
            total = args.rounds * len(schemes) * len(clients)
            done = 0
            for rnd in range(args.rounds):
                order = clients[rnd % len(clients):] + clients[:rnd % len(clients)]
                for scheme in schemes:
                    proc, port = servers[scheme]
                    for client in order:
                        done += 1
                        print(f"\r[{done}/{total}] round {rnd + 1} {scheme} {client:18}", end="", file=sys.stderr, flush=True)
                        r = run_client(args, client, scheme, port, proc.pid, tmp)
                        r.update(round=rnd, scheme=scheme)
                        if "error" in r:
                            print(f"\n{client} {scheme}: {r['error']}", file=sys.stderr)
                        raw.append(r)
            print(file=sys.stderr)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(5)
    summary = summarize(raw, clients, schemes, sizes)
    print_tables(summary, sizes)
    summary_spread = spread(raw, clients, schemes, sizes)
    if args.rounds > 1:
        print_spread(summary_spread, sizes)
    busy = [r["machine_busy"] for r in raw if "machine_busy" in r]
    if busy:
        print(f"\nmachine busy (both CPUs, every process) while clients ran: median {statistics.median(busy):.0%} "
              f"(the server + client pair alone would be ~{1 / os.cpu_count():.0%} or less)")
    if args.json:
        meta = {"python": sys.version, "platform": platform.platform(), "cpus": os.cpu_count(),
                "args": vars(args), "seconds": time.time() - started, "loadavg": os.getloadavg()}
        for r in raw:
            if "latency" in r:
                r["latency"]["samples_count"] = len(r["latency"].pop("samples"))
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "summary": summary, "spread": summary_spread, "raw": raw},
                      f, indent=1)
    if args.plot:
        plot(summary, args.plot)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
