"""Roster import speed: 50 000 rows (CSV in GBK, and XLSX) into a fresh SQLite database.

Baseline measured in the same run: reading the same CSV with the standard csv module
(decode + split, nothing else).  Prints seconds, rows/s and the ratio to the baseline.

    .venv/bin/python bench/roster_bench.py [--rows 50000] [--xlsx]
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.kiosk.rosterdata import HEADER, csv_bytes, rows  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--xlsx", action="store_true", help="also time an XLSX of the same rows")
    args = ap.parse_args()

    from kiosk import create_app
    from kiosk.db import get_db
    from kiosk.services import roster, terms

    body = rows(args.rows)
    data = csv_bytes(HEADER, body, "gbk")

    t0 = time.perf_counter()
    n = sum(1 for _ in csv.reader(io.StringIO(data.decode("gbk"))))
    baseline = time.perf_counter() - t0
    assert n == args.rows + 1

    def run(payload: bytes, name: str) -> tuple[float, float]:
        with tempfile.TemporaryDirectory() as tmp:
            app = create_app({"INSTANCE_PATH": tmp, "SECRET_KEY": "bench"})
            db = get_db(app)
            db.upgrade()
            with db.session() as s:
                term = terms.ensure_term(s, "2027-07")
            s = db.sessionmaker()
            t = time.perf_counter()
            rep = roster.import_roster(s, term, payload, name, actor="bench")
            s.commit()
            first = time.perf_counter() - t
            assert rep.created == args.rows and not rep.errors, rep.issues[:3]
            t = time.perf_counter()
            rep = roster.import_roster(s, term, payload, name, actor="bench")
            s.commit()
            again = time.perf_counter() - t
            assert rep.unchanged == args.rows
            s.close()
            db.engine.dispose()
        return first, again

    first, again = run(data, "bench.csv")
    print(f"rows: {args.rows}")
    print(f"baseline csv.reader decode+split: {baseline:.2f} s")
    print(f"CSV (GBK) import into empty term:  {first:.2f} s  ({args.rows / first:,.0f} rows/s, "
          f"{first / baseline:.1f}x baseline)")
    print(f"CSV (GBK) re-import, no changes:   {again:.2f} s  ({args.rows / again:,.0f} rows/s, "
          f"{again / baseline:.1f}x baseline)")
    if args.xlsx:
        import openpyxl

        wb = openpyxl.Workbook(write_only=True)
        ws = wb.create_sheet()
        ws.append(HEADER)
        for r in body:
            ws.append(r)
        buf = io.BytesIO()
        wb.save(buf)
        first_x, _ = run(buf.getvalue(), "bench.xlsx")
        print(f"XLSX import into empty term:       {first_x:.2f} s  ({args.rows / first_x:,.0f} rows/s, "
              f"{first_x / baseline:.1f}x baseline)")


if __name__ == "__main__":
    main()
