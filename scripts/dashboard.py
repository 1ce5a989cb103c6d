"""Renders the operator dashboard from infra/dashboard.json into template.yaml.

Usage: python3 scripts/dashboard.py [--check] [--layout]

The dashboard's widgets and metrics are written once, in infra/dashboard.json; the template's
`DashboardBody` line is generated from it. `--check` (run by `make test`) fails when the
template is not what the list renders; `--layout` prints the widget grid.
"""

import json
import re
import sys

TEMPLATE = "template.yaml"
SOURCE = "infra/dashboard.json"
WIDTH, HEIGHT, PER_ROW = 12, 6, 2


def widgets():
    with open(SOURCE) as f:
        spec = json.load(f)["widgets"]
    rendered = []
    for n, w in enumerate(spec):
        if "search" in w:
            metrics = [[{"expression": w["search"], "id": "e1", "label": ""}]]
        else:
            metrics = [[ns, name, dim, value, {"stat": stat, "label": f"{name} {stat}" if len({m[4] for m in w["metrics"]}) > 1 else value}]
                       for ns, name, dim, value, stat in w["metrics"]]
        rendered.append({
            "type": "metric",
            "x": (n % PER_ROW) * WIDTH,
            "y": (n // PER_ROW) * HEIGHT,
            "width": WIDTH,
            "height": HEIGHT,
            "properties": {
                "title": w["title"],
                "region": "${AWS::Region}",
                "view": "timeSeries",
                "period": 300,
                "metrics": metrics,
            },
        })
    return rendered


def body_line():
    body = json.dumps({"widgets": widgets()}, separators=(",", ":"))
    return "      DashboardBody: !Sub '" + body.replace("'", "''") + "'"


def main():
    if "--layout" in sys.argv:
        for w in widgets():
            print(f"  row {w['y'] // HEIGHT + 1} {'left ' if w['x'] == 0 else 'right'}  {w['properties']['title']}")
        return
    with open(TEMPLATE) as f:
        text = f.read()
    pattern = re.compile(r"^      DashboardBody: !Sub '.*'$", re.M)
    if not pattern.search(text):
        sys.exit(f"{TEMPLATE}: no DashboardBody line to generate")
    wanted = pattern.sub(lambda _: body_line(), text)
    if "--check" in sys.argv:
        if wanted != text:
            sys.exit(f"{TEMPLATE}: the dashboard is not what {SOURCE} renders; run python3 scripts/dashboard.py")
        print(f"dashboard: {len(widgets())} widgets, as {SOURCE} renders them")
        return
    with open(TEMPLATE, "w") as f:
        f.write(wanted)


if __name__ == "__main__":
    main()
