"""What SQLMesh's own state says about a project iotctl rendered, as one JSON line.

Usage: python -c HELPER REQUEST_JSON   (run with the Python of SQLMesh's venv, in the project)

REQUEST_JSON: {"gateway", "device_metrics", "site_rollup", "check_days": [first, last] | null}

Answers, from SQLMesh's state rather than from files on disk:
  prod         whether the prod environment exists (a first plan that failed leaves none)
  has_changes  whether the local project differs from prod (a plan is due)
  missing      per model, the days `sqlmesh run` would build now (closed days not yet built)
  stale_days   built days whose stored rows no longer equal what the model's own query
               gives over the warehouse now: late data, a repaired load, or a restatement
               that deleted a day and failed before inserting it again (DuckDB has no
               transactions). Only checked when prod exists and has no pending changes.
"""
import json
import math
import sys
from datetime import date, datetime, timedelta, timezone

from sqlglot import exp


def day_of(millis):
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc).date()


def days_of(intervals):
    days = set()
    for start, end in intervals:
        day = day_of(start)
        while day < day_of(end):
            days.add(day)
            day += timedelta(days=1)
    return days


def per_day(adapter, query, dialect):
    """{day: (rows, warning, critical, value_sum)} of a query with the daily model's columns."""
    totals = (
        exp.select(
            "event_date",
            "SUM(sample_count)",
            "SUM(warning_breaches)",
            "SUM(critical_breaches)",
            "SUM(avg_value * sample_count)",
        )
        .from_(query.subquery("q"))
        .group_by("event_date")
    )
    result = {}
    for day, rows, warning, critical, value_sum in adapter.fetchall(totals):
        if isinstance(day, datetime):
            day = day.date()
        elif not isinstance(day, date):
            day = date.fromisoformat(str(day)[:10])
        result[day] = (int(rows or 0), int(warning or 0), int(critical or 0), float(value_sum or 0.0))
    return result


def same(left, right):
    if left is None or right is None:
        return left == right
    return left[:3] == right[:3] and math.isclose(left[3], right[3], rel_tol=1e-9, abs_tol=1e-6)


def stale(ctx, snapshots, request):
    """Built days of the daily models whose stored rows differ from a recomputation."""
    adapter = ctx.engine_adapter
    device_metrics = snapshots[request["device_metrics"]]
    site_rollup = snapshots[request["site_rollup"]]
    built = days_of(device_metrics.intervals)
    if not built:
        return []
    # Every day from the first built to the last: a gap inside is a hole too (a restatement
    # removes a day's interval before it rebuilds the day).
    first, last = min(built), max(built)
    if request.get("check_days"):
        wanted = [date.fromisoformat(d) for d in request["check_days"]]
        first, last = max(first, wanted[0]), min(last, wanted[1])
    if first > last:
        return []
    built = {first + timedelta(days=n) for n in range((last - first).days + 1)}
    recomputed = ctx.render(request["device_metrics"], start=first.isoformat(), end=last.isoformat())
    expected = per_day(adapter, recomputed, adapter.dialect)
    stored_table = exp.to_table(ctx.table_name(request["device_metrics"], environment="prod", prod=True))
    window = exp.column("event_date").between(exp.Literal.string(first.isoformat()), exp.Literal.string(last.isoformat()))
    stored = per_day(adapter, exp.select("*").from_(stored_table).where(window), adapter.dialect)
    rollup_table = exp.to_table(ctx.table_name(request["site_rollup"], environment="prod", prod=True))
    rollup_built = days_of(site_rollup.intervals)
    rolled = per_day(adapter, exp.select("*").from_(rollup_table).where(window), adapter.dialect)
    found = []
    for day in sorted(built):
        want = expected.get(day)
        have = stored.get(day)
        rollup = rolled.get(day) if day in rollup_built else have
        if not same(want, have) or not same(want, rollup):
            found.append(
                {
                    "day": day.isoformat(),
                    "warehouse_rows": want[0] if want else 0,
                    "model_rows": have[0] if have else 0,
                    "rollup_rows": rollup[0] if rollup else 0,
                }
            )
    return found


def main():
    request = json.loads(sys.argv[1])
    from sqlmesh import Context

    ctx = Context(paths=["."], gateway=request["gateway"])
    answer = {"prod": False, "has_changes": True, "missing": [], "stale_days": []}
    # Reading state through the context would create SQLMesh's state tables on a warehouse
    # that has none (a migration): `iotctl plan` must not write, so look first.
    if ctx._new_state_sync().get_versions(validate=False).schema_version == 0:
        print(json.dumps(answer))
        return
    if ctx.state_reader.get_environment("prod") is not None:
        answer["prod"] = True
        plan = ctx.plan_builder("prod", skip_tests=True, skip_linter=True).build()
        answer["has_changes"] = bool(plan.has_changes)
        scheduler = ctx.scheduler(environment="prod")
        snapshots = {s.name: s for s in scheduler.snapshots.values()}
        by_name = {ctx.get_model(name).fqn: name for name in (request["device_metrics"], request["site_rollup"])}
        for snapshot, intervals in scheduler.merged_missing_intervals().items():
            days = sorted(d.isoformat() for d in days_of(intervals))
            if days:
                answer["missing"].append({"model": snapshot.model.name, "days": days})
        if not answer["has_changes"]:
            named = {by_name[fqn]: s for fqn, s in snapshots.items() if fqn in by_name}
            answer["stale_days"] = stale(ctx, named, request)
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
