"""Writes the airport subset used as real points of interest by the geofence
evaluation: every airport with an IATA code in Germany, Great Britain and Japan,
from the ``airportsdata`` package (MIT licence).

Usage: ``python training/airports_fixture.py`` (writes ``fixtures/geo/airports.json``).
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COUNTRIES = ("DE", "GB", "JP")


def subset() -> dict:
    import airportsdata

    rows = [
        {"iata": code, "name": a["name"], "country": a["country"], "lat": round(a["lat"], 6), "lon": round(a["lon"], 6)}
        for code, a in sorted(airportsdata.load("IATA").items())
        if a["country"] in COUNTRIES
    ]
    return {
        "source": f"airportsdata {importlib.metadata.version('airportsdata')} (MIT licence), IATA airports in {', '.join(COUNTRIES)}",
        "airports": rows,
    }


def main() -> None:
    out = ROOT / "fixtures" / "geo" / "airports.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    data = subset()
    out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"airports_fixture: {len(data['airports'])} airports -> {out}")


if __name__ == "__main__":
    main()
