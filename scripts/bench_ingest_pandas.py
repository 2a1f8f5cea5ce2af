#!/usr/bin/python3
"""The pandas peer of `cohort features` for scripts/bench-ingest.sh.

Reads a customer_id,date,amount CSV, merges each customer's same-day rows
(the BTYD convention), and computes per customer over the calibration window
frequency x, recency t_x and age T (weeks), the repeat-purchase monetary mean,
and the holdout spend and purchase days -- the idiomatic read_csv + groupby
route. Writes them as CSV and prints a JSON line of totals that the shell
script compares with cohort's output.

usage: bench_ingest_pandas.py LOG CALIBRATION_END HORIZON_DAYS OUT
"""
import json
import sys
import time

import pandas as pd


def main():
    path, cal_end, horizon_days, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    began = time.time()
    cal_end = pd.Timestamp(cal_end)
    hold_end = cal_end + pd.Timedelta(days=horizon_days)

    df = pd.read_csv(path, usecols=["customer_id", "date", "amount"],
                     dtype={"customer_id": str, "date": str, "amount": "float64"})
    df["date"] = pd.to_datetime(df["date"], format="%Y-%m-%d")
    df = df[df["date"] <= hold_end]
    days = df.groupby(["customer_id", "date"], sort=True)["amount"].sum().reset_index()

    cal = days[days["date"] <= cal_end]
    g = cal.groupby("customer_id", sort=True)
    first = g["date"].min()
    last = g["date"].max()
    n = g.size()
    total = g["amount"].sum()
    first_spend = g["amount"].first()  # days are sorted by date within a customer
    x = n - 1
    summary = pd.DataFrame({
        "x": x,
        "t_x": (last - first).dt.days / 7.0,
        "T": (cal_end - first).dt.days / 7.0,
        "monetary": ((total - first_spend) / x.where(x > 0)).fillna(0.0),
    })
    hold = days[(days["date"] > cal_end)].groupby("customer_id")["amount"].agg(["sum", "size"])
    summary["holdout_spend"] = hold["sum"].reindex(summary.index).fillna(0.0)
    summary["holdout_purchases"] = hold["size"].reindex(summary.index).fillna(0).astype("int64")
    summary.to_csv(out)

    print(json.dumps({
        "rows": int(len(df)),
        "customers": int(len(summary)),
        "sum_x": int(summary["x"].sum()),
        "sum_holdout_spend": round(float(summary["holdout_spend"].sum()), 2),
        "seconds": round(time.time() - began, 2),
        "pandas": pd.__version__,
    }))


if __name__ == "__main__":
    main()
