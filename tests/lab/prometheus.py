"""A real Prometheus (Debian's) in a lab namespace: scrape jobs, rule files, instant queries.

    prometheus = Prometheus(lab, monitor, {"lvsmon": ["10.33.0.30:10573"]},
                            rules=[REPO / "deploy/prometheus-lvsmon.rules.yml"])
    prometheus.query('lvsmon_vrrp_masters{vrid="51"}')  # [(labels, value), ...]
    prometheus.wait_for('lvsmon_vrrp_masters{vrid="51"} == 2', what="split brain seen")

Scrapes (unless scrape_seconds says otherwise) and rule evaluations run every second, so a
test waits seconds, not minutes. The API listens on the namespace's loopback only; queries
go through `promtool query` run inside the namespace.
"""

from __future__ import annotations

import json
from pathlib import Path

PORT = 9090


class Prometheus:
    def __init__(self, lab, namespace, jobs: dict[str, list[str]], rules: list[Path] = (),
                 port: int = PORT, extra_job_text: str = "", scrape_seconds: int = 1):  # fmt: skip
        self.lab, self.namespace, self.port = lab, namespace, port
        home = lab.tmpdir / f"prometheus-{namespace.short}"
        (home / "data").mkdir(parents=True)
        # A scrape that times out marks the target's series stale: a slow lab (the guest,
        # under TCG) asks for a longer interval, which is also the timeout.
        text = (f"global:\n  scrape_interval: {scrape_seconds}s\n"
                f"  scrape_timeout: {scrape_seconds}s\n"
                "  evaluation_interval: 1s\n")  # fmt: skip
        if rules:
            text += "rule_files:\n" + "".join(f"  - {path}\n" for path in rules)
        text += "scrape_configs:\n"
        for name, targets in jobs.items():
            text += (f"  - job_name: {name}\n    static_configs:\n"
                     f"      - targets: {json.dumps(targets)}\n")  # fmt: skip
        text += extra_job_text
        (home / "prometheus.yml").write_text(text)
        self.process = namespace.spawn([
            "prometheus", f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
        ], name=f"prometheus-{namespace.short}")  # fmt: skip
        lab.wait_for(lambda: self.query("up") is not None, 60, what="prometheus answering")

    def query(self, expression: str) -> list[tuple[dict, float]]:
        """An instant query: [(labels, value)] (empty when nothing matches)."""
        self.process.check_running()
        done = self.namespace.run(["promtool", "query", "instant", "-o", "json",
                                   f"http://127.0.0.1:{self.port}", expression], timeout=20)
        return [(item["metric"], float(item["value"][1])) for item in json.loads(done.stdout)]

    def values(self, expression: str, label: str) -> dict[str, float]:
        """{label's value: value} of an instant query."""
        return {labels.get(label, ""): value for labels, value in self.query(expression)}

    def wait_for(self, expression: str, timeout: float = 60, what: str | None = None):
        """Wait until the query returns something; returns its samples."""
        return self.lab.wait_for(lambda: self.query(expression), timeout,
                                 what=what or expression)  # fmt: skip
