"""``insider watch`` against the fake EDGAR's scripted day: feed, faults, gaps, events, restarts, signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from aiohttp import web
from test_download import assert_same_store

from engine.edgar.alerts import EventWriter, WebhookSender
from engine.edgar.download import download_range
from engine.edgar.http import EdgarClient
from engine.edgar.urls import EdgarUrls
from engine.edgar.watch import Watcher
from engine.edgar.watch_state import NEW_YORK, STATE, WATCH_DIR, WatchSettings, WatchState, poll_interval
from engine.errors import UserError
from engine.replay import FakeEdgar, load_filings
from engine.replay.feed import CurrentFeed, FeedFault, Publication, ReplayClock, as_owner, restamp
from engine.replay.filings import synthetic_copies
from engine.scoring.config import ScoreConfig
from engine.scoring.live import live_market_caps, live_scores
from engine.scoring.watch_rules import WatchRules, evaluate
from engine.store.datasets import Store
from parsers.tables import TableBuilder

AGENT = "Insider Engine tests tests@example.com"
DAY = date(2030, 1, 2)
TSLA, MUSK_BUY = 1318605, "0001494730-20-000001"


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2030, 1, 2, hour, minute, second)


@pytest.fixture(scope="module")
def filings(filings_dir: Path):
    return load_filings(filings_dir)


def scripted(filings) -> list[Publication]:
    """A day: 30 ordinary filings from 09:00 to 15:00 (every form), a TSLA CEO buy copied as three
    insiders' buys at 10:15, 10:30 and 10:45, and a Form 4 accepted at 16:30, after the close."""
    ordinary = [f for f in filings if f.ciks[0][0] != TSLA and f.filing_date.year >= 2019][:30]
    musk = next(f for f in filings if f.accession == MUSK_BUY)
    late = next(f for f in ordinary if f.form_type == "4")
    sources = [
        *[(at(9) + timedelta(minutes=12 * i), f) for i, f in enumerate(ordinary)],
        (at(10, 15), musk),
        (at(10, 30), as_owner(musk, 9000001, "Doe Jane")),
        (at(10, 45), as_owner(musk, 9000002, "Roe Richard")),
        (at(16, 30), late),
    ]
    sources.sort(key=lambda pair: pair[0])
    publications = []
    for number, (moment, source) in enumerate(sources):
        (copy,) = synthetic_copies([source], 1, start=DAY, first=number)
        publications.append(Publication(moment, restamp(copy, moment)))
    return publications


def write_caps(path: Path, publications: list[Publication]) -> Path:
    """Market caps for every scripted issuer: 5 bn, TSLA 1 bn (so the CEO's $10m buy is 100 bp)."""
    issuers = sorted({p.filing.ciks[0][0] for p in publications})
    pl.DataFrame(
        {
            "date": [date(2029, 12, 31)] * len(issuers),
            "issuer_cik": issuers,
            "market_cap": [1e9 if cik == TSLA else 5e9 for cik in issuers],
        }
    ).write_csv(path)
    return path


def client(**options) -> EdgarClient:
    defaults = dict(rate=200, backoff=0.01, pause_seconds=0.2, retries=2, timeout=5.0)
    return EdgarClient(AGENT, **{**defaults, **options})


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def day_run(filings, tmp_path_factory):
    """The scripted day watched poll by poll on a clock the test moves, then settled after 22:00; an
    ``insider update`` of the same day into a second store; and a restarted watch."""
    root = tmp_path_factory.mktemp("watch")
    publications = scripted(filings)
    caps = write_caps(root / "caps.csv", publications)
    clock = ReplayClock(at(8, 59), speed=1.0)
    faults = [
        FeedFault("outage", at(11, 0), at(11, 20)),
        FeedFault("429", at(12, 0), at(12, 0, 1), retry_after="1"),
        FeedFault("403-rate", at(13, 0), at(13, 0, 1)),
        FeedFault("scroll", at(14, 59), at(15, 10), depth=2),
    ]
    feed = CurrentFeed(publications, clock, faults=faults)
    settings = WatchSettings(market_caps=str(caps), rules=WatchRules(filing=True))
    steps = [at(9, 30), at(10, 20), at(10, 50), at(11, 15), at(11, 30), at(12, 0)]
    steps += [at(13, 0), at(15, 5), at(15, 30), at(16, 45), at(21, 0), at(22, 5)]
    out: dict = {"publications": publications, "root": root, "polls": []}

    async def run() -> None:
        async with FakeEdgar([], feed=feed, today=DAY) as server:
            urls = EdgarUrls(server.base_url, server.base_url)
            async with client() as http:
                writer = EventWriter(root / "events.jsonl")
                watcher = Watcher(Store(root / "watched"), http, urls, settings, writer, now=clock.aware)
                async with watcher:
                    for step in steps:
                        clock.move_to(step)
                        before = len(read_events(root / "events.jsonl"))
                        await watcher.cycle()
                        await watcher.evaluated()
                        out["polls"].append((step, read_events(root / "events.jsonl")[before:]))
                writer.close()
                out["report"], out["pauses"] = watcher.report, http.stats.pauses
                out["feed_hits"] = [h for h in server.hits if "browse-edgar" in h.path]
                out["update"] = await download_range(Store(root / "updated"), http, urls, DAY, DAY, today=DAY)
                clock.move_to(at(22, 30))
                again = Watcher(
                    Store(root / "watched"), http, urls, settings, EventWriter(root / "again.jsonl")
                )
                async with again:
                    await again.cycle()
                out["again"] = again.report

    asyncio.run(run())
    return out


def test_every_scripted_filing_is_stored_and_the_store_equals_update(day_run) -> None:
    root = day_run["root"]
    expected = {p.filing.accession for p in day_run["publications"]}
    assert Store(root / "watched").accessions() == expected
    assert day_run["update"].complete and day_run["update"].stored == len(expected)
    assert_same_store(root / "watched", root / "updated")


def test_each_watched_filing_raises_one_event_with_its_score_and_latency(day_run) -> None:
    events = read_events(day_run["root"] / "events.jsonl")
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))
    filing_events = {e["trigger_accessions"][0]: e for e in events if e["rule"] == "filing"}
    assert set(filing_events) == {p.filing.accession for p in day_run["publications"]}
    sample = filing_events[next(iter(filing_events))]
    assert set(sample) >= {
        "id",
        "rule",
        "issuer_cik",
        "issuer_name",
        "ticker",
        "accessions",
        "insiders",
        "values",
        "score",
        "accepted_at",
        "available_date",
        "availability",
        "latency_seconds",
        "source",
    }
    assert set(sample["score"]) == {
        "date",
        "insider",
        "raw",
        "cluster",
        "rank",
        "of",
        "pct",
        "previous_insider",
    }
    by_time = {p.filing.accession: p.at for p in day_run["publications"]}
    for accession, event in filing_events.items():
        accepted = datetime.fromisoformat(event["accepted_at"])
        assert accepted.replace(tzinfo=None) == by_time[accession]
        assert accepted.utcoffset() == timedelta(hours=-5)
        assert event["latency_seconds"] >= 0


def test_a_filing_accepted_after_the_close_counts_from_the_next_calendar_day(day_run) -> None:
    (late,) = [p for p in day_run["publications"] if p.at == at(16, 30)]
    events = read_events(day_run["root"] / "events.jsonl")
    (event,) = [
        e for e in events if e["rule"] == "filing" and e["trigger_accessions"] == [late.filing.accession]
    ]
    assert event["available_date"] == "2030-01-03" and event["score"]["date"] == "2030-01-03"
    assert (
        "at or after the 16:00 close: counts from the next calendar day, 2030-01-03" in event["availability"]
    )
    early = next(e for e in read_events(day_run["root"] / "events.jsonl") if e["rule"] == "filing")
    assert early["available_date"] == "2030-01-02" and "before the 16:00 close" in early["availability"]


def test_the_ceo_buys_raise_officer_cluster_and_crossing_events(day_run) -> None:
    events = read_events(day_run["root"] / "events.jsonl")
    tsla = {p.at: p.filing.accession for p in day_run["publications"] if p.filing.ciks[0][0] == TSLA}
    officer = [e for e in events if e["rule"] == "officer_buy"]
    assert [e["trigger_accessions"] for e in officer] == [[a] for _, a in sorted(tsla.items())]
    first = officer[0]
    assert first["ticker"] == "TSLA" and first["insiders"][0]["name"] == "Musk Elon"
    assert first["values"]["bp_of_market_cap"] == pytest.approx(1e4 * 13037 * 767.0 / 1e9)
    (cluster,) = [e for e in events if e["rule"] == "cluster_buy"]
    assert cluster["id"] == f"cluster_buy:{tsla[at(10, 30)]}"
    assert cluster["trigger_accessions"] == [tsla[at(10, 30)], tsla[at(10, 45)]]
    assert cluster["values"]["distinct_insiders"] == 3
    assert {i["name"] for i in cluster["insiders"]} == {"Musk Elon", "Doe Jane", "Roe Richard"}
    (crossing,) = [e for e in events if e["rule"] == "score_crossing" and e["issuer_cik"] == TSLA]
    previous = crossing["score"]["previous_insider"]  # once, from below: later buys start above 2
    assert crossing["score"]["insider"] >= 2 and (previous is None or abs(previous) < 2)
    assert set(crossing["trigger_accessions"]) <= set(tsla.values())
    assert crossing["score"]["rank"] == 1
    assert all(e["issuer_cik"] == TSLA for e in events if e["rule"] in ("officer_buy", "cluster_buy"))


def test_outage_429_and_scroll_are_survived_and_the_gap_filled_from_the_daily_index(day_run) -> None:
    report = day_run["report"]
    assert report.feed_errors == 1 and day_run["pauses"] >= 2
    faults = [h.fault for h in day_run["feed_hits"] if h.fault]
    assert {"outage", "429", "403-rate", "scroll"} <= set(faults)
    gaps = [(step, e) for step, poll in day_run["polls"] for e in poll if e["rule"] == "feed_gap"]
    (opened,) = [(step, e) for step, e in gaps if e["status"] == "open"]
    assert opened[0] == at(15, 5) and opened[1]["days"] == ["2030-01-02"]
    (filled,) = [(step, e) for step, e in gaps if e["status"] == "filled"]
    assert filled[0] == at(22, 5) and filled[1]["day"] == "2030-01-02" and filled[1]["filings_recovered"] > 0
    late = [e for step, poll in day_run["polls"] if step == at(22, 5) for e in poll if e["rule"] == "filing"]
    assert late and {e["source"] for e in late} == {"daily-index"}
    assert report.days_settled == 1
    # nothing is settled before EDGAR builds the index
    assert not [e for step, poll in day_run["polls"] if step == at(21, 0) for e in poll]


def test_a_restarted_watch_raises_nothing_twice_and_fetches_nothing_again(day_run) -> None:
    again = day_run["again"]
    assert again.events == 0 and again.new_filings == 0 and again.stored == 0
    assert read_events(day_run["root"] / "again.jsonl") == []
    state = json.loads((day_run["root"] / "watched" / WATCH_DIR / STATE).read_text())
    assert state["pending"] == [] and state["days"] == {}


def test_the_poll_interval_follows_filing_hours_and_the_rate_budget() -> None:
    settings = WatchSettings(interval=10, night_interval=120)
    monday_noon = datetime(2030, 1, 7, 12, 0, tzinfo=NEW_YORK)
    assert poll_interval(monday_noon, settings, 10.0) == 10
    assert poll_interval(monday_noon.replace(hour=22, minute=30), settings, 10.0) == 120
    assert poll_interval(monday_noon.replace(hour=5, minute=59), settings, 10.0) == 120
    assert poll_interval(datetime(2030, 1, 5, 12, 0, tzinfo=NEW_YORK), settings, 10.0) == 120  # Saturday
    eager = WatchSettings(interval=0.01, forms=frozenset({"3", "4", "5"}))
    assert poll_interval(monday_noon, eager, 2.0) == pytest.approx(3 / (2.0 * 0.5))
    assert poll_interval(monday_noon, eager, None) == 0.01


def test_rules_toml_is_read_and_bad_keys_are_named(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        '[cluster_buy]\nmin_insiders = 4\n[officer_buy]\nmin_bp = 5\nroles = ["ceo"]\n'
        "[score_crossing]\nenabled = false\n"
    )
    rules = WatchRules.from_toml(path)
    assert (rules.min_insiders, rules.min_bp, rules.roles, rules.score_crossing) == (4, 5, ("ceo",), False)
    assert rules.enabled == ("cluster_buy", "officer_buy")
    path.write_text("[cluster_buy]\nmin_insider = 4\n")
    with pytest.raises(UserError, match="unknown key 'min_insider' in \\[cluster_buy\\]"):
        WatchRules.from_toml(path)
    path.write_text("[cluster]\n")
    with pytest.raises(UserError, match=r"unknown rule table \[cluster\]"):
        WatchRules.from_toml(path)
    path.write_text("[officer_buy]\nmin_bp = -1\n")
    with pytest.raises(UserError, match="min_bp must be a number >= 0"):
        WatchRules.from_toml(path)


async def _webhook_server(failures: int, release: asyncio.Event):
    received: list[dict] = []
    calls = {"n": 0}

    async def handle(request: web.Request) -> web.Response:
        calls["n"] += 1
        await release.wait()
        if calls["n"] <= failures:
            return web.Response(status=503)
        received.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}/hook", received


def test_the_webhook_never_holds_up_the_caller_and_retries_until_delivered() -> None:
    async def run():
        release = asyncio.Event()
        runner, url, received = await _webhook_server(failures=2, release=release)
        try:
            async with WebhookSender(url, backoff=0.01) as sender:
                for number in range(3):
                    sender.submit({"id": f"filing:{number}"})  # returns at once: the endpoint is stuck
                assert sender.delivered == 0
                release.set()
                await sender.close(grace=10)
            return sender, received
        finally:
            await runner.cleanup()

    sender, received = asyncio.run(run())
    assert [e["id"] for e in received] == ["filing:0", "filing:1", "filing:2"]
    assert (sender.delivered, sender.failed, sender.dropped) == (3, 0, 0)


def test_a_webhook_url_must_be_http() -> None:
    with pytest.raises(UserError, match="not an http"):
        WebhookSender("ftp://example.com/hook")


# the command line: --once for cron, SIGTERM / Ctrl-C, restart


def _cli(store: Path, base_url: str, caps: Path, events: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "engine", "watch", "--store", str(store), "--base-url", base_url,
        "--data-base-url", base_url, "--rate", "200", "--user-agent", AGENT, "--market-caps", str(caps),
        "--events", str(events), "--interval", "0.2", "--night-interval", "0.2",
        "--rules", str(events.with_name("rules.toml")), *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_the_command_runs_once_for_cron_and_stops_cleanly_on_signals(filings, tmp_path: Path) -> None:
    now = datetime.now(NEW_YORK).replace(tzinfo=None, microsecond=0)
    sources = [f for f in filings if f.form_type == "4"][:24]
    publications = []
    for number, source in enumerate(sources):
        moment = now + timedelta(seconds=number // 2 - 2)
        (copy,) = synthetic_copies([source], 1, start=moment.date(), first=number)
        publications.append(Publication(moment, restamp(copy, moment)))
    caps = write_caps(tmp_path / "caps.csv", publications)
    feed = CurrentFeed(publications, ReplayClock(now, speed=1.0))
    server = FakeEdgar([], feed=feed, today=now.date())
    base_url = server.start_in_thread()

    def feed_hits() -> list:
        return [hit for hit in list(server.hits) if "browse-edgar" in hit.path]

    events = tmp_path / "events.jsonl"
    store = tmp_path / "store"
    rules = tmp_path / "rules.toml"
    rules.write_text("[filing]\nenabled = true\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    try:
        once = subprocess.run(_cli(store, base_url, caps, events, "--once"), capture_output=True, text=True,
                              env=env, timeout=120)  # fmt: skip
        assert once.returncode == 0, once.stderr
        assert read_events(events)
        for number in (signal.SIGINT, signal.SIGTERM):
            process = subprocess.Popen(_cli(store, base_url, caps, events), stderr=subprocess.PIPE, text=True,
                                       env=env)  # fmt: skip
            polls, deadline = len(feed_hits()), time.monotonic() + 60
            while process.poll() is None and time.monotonic() < deadline and len(feed_hits()) == polls:
                time.sleep(0.05)  # until this run polls: its signal handlers are in place
            process.send_signal(number)
            _, stderr = process.communicate(timeout=60)
            assert process.returncode == 0, stderr
            assert f"{signal.Signals(number).name}, stopping" in stderr and "polls" in stderr
        # the replay's clock started at `now` with its fraction of a second cut off, so it runs up to 1 s
        # behind the wall clock: wait past the last publication by more than that
        wait = (publications[-1].at - datetime.now(NEW_YORK).replace(tzinfo=None)).total_seconds()
        time.sleep(max(0.0, wait) + 1.5)
        last = subprocess.run(_cli(store, base_url, caps, events, "--once"), capture_output=True, text=True,
                              env=env, timeout=120)  # fmt: skip
        assert last.returncode == 0, last.stderr
    finally:
        server.stop_thread()
    ids = [e["id"] for e in read_events(events)]
    assert len(ids) == len(set(ids))
    assert Store(store).accessions() == {p.filing.accession for p in publications}


def store_of(publications: list[Publication], root: Path) -> Store:
    """The publications parsed and written into a store (what the downloader would store)."""
    builder = TableBuilder()
    for publication in publications:
        builder.add(
            publication.filing.body,
            source=publication.filing.accession,
            accession=publication.filing.accession,
        )
    store = Store(root)
    store.write(builder.build())
    return store


def test_cluster_and_officer_rules_follow_their_thresholds(filings, tmp_path: Path) -> None:
    publications = [p for p in scripted(filings) if p.at <= at(10, 30)]
    store = store_of(publications, tmp_path / "store")
    caps_file = write_caps(tmp_path / "caps.csv", publications)
    tsla = [p.filing.accession for p in publications if p.filing.ciks[0][0] == TSLA]
    batch = pl.DataFrame({"accession": tsla, "issuer_cik": [TSLA] * 2, "date": [DAY] * 2})
    scores, _ = live_scores(store, tsla, [DAY], market_caps=str(caps_file))
    caps = live_market_caps(store, str(caps_file), DAY)

    def fired(**rules) -> dict[str, list[list[str]]]:
        alerts = evaluate(store, batch, scores, caps, WatchRules(**rules), ScoreConfig())
        found: dict[str, list[list[str]]] = {}
        for alert in alerts:
            found.setdefault(alert.rule, []).append(alert.triggers)
        return found

    assert "cluster_buy" not in fired()  # two distinct insiders
    assert fired(min_insiders=2)["cluster_buy"] == [tsla]
    assert fired(window_days=1, min_insiders=2)["cluster_buy"] == [tsla]
    assert fired()["officer_buy"] == [[tsla[0]], [tsla[1]]]
    assert "officer_buy" not in fired(min_bp=101)
    assert "officer_buy" not in fired(roles=("cfo",))
    (crossing,) = fired()["score_crossing"]
    assert crossing == tsla and "score_crossing" not in fired(threshold=50)
    assert fired(score_crossing=False, officer_buy=False, cluster_buy=False) == {}


def test_events_not_raised_because_scoring_failed_are_raised_by_the_next_poll(
    filings, tmp_path: Path
) -> None:
    publications = [p for p in scripted(filings) if p.at <= at(10, 30)]
    caps = write_caps(tmp_path / "caps.csv", publications)
    clock = ReplayClock(at(10, 35), speed=1.0)
    settings = WatchSettings(market_caps=str(caps), rules=WatchRules(filing=True))
    events = tmp_path / "events.jsonl"

    async def run() -> tuple[int, int]:
        async with FakeEdgar([], feed=CurrentFeed(publications, clock), today=DAY) as server:
            urls = EdgarUrls(server.base_url, server.base_url)
            async with client() as http:
                first = Watcher(
                    Store(tmp_path / "store"), http, urls, settings, EventWriter(events), now=clock.aware
                )
                async with first:
                    caps.rename(tmp_path / "away.csv")  # the market data go missing after the start
                    await first.cycle()
                stuck = len(WatchState.load(tmp_path / "store" / WATCH_DIR / STATE).pending)
                (tmp_path / "away.csv").rename(caps)
                second = Watcher(
                    Store(tmp_path / "store"), http, urls, settings, EventWriter(events), now=clock.aware
                )
                async with second:
                    await second.cycle()
                return stuck, second.report.new_filings

    stuck, refetched = asyncio.run(run())
    fours = {p.filing.accession for p in publications if p.filing.form_type.startswith("4")}
    assert stuck == len(fours) and refetched == 0
    raised = [e["trigger_accessions"][0] for e in read_events(events) if e["rule"] == "filing"]
    assert sorted(raised) == sorted(fours)


def test_polls_run_on_while_events_are_raised_and_none_is_lost(filings, tmp_path: Path) -> None:
    """The events of one poll are raised in the background while the next poll fetches: filings of
    the next poll, handed to the downloader but not stored yet, are evaluated after they are stored."""
    publications = [p for p in scripted(filings) if p.at < at(11, 0)]
    caps = write_caps(tmp_path / "caps.csv", publications)
    clock = ReplayClock(at(9, 0), speed=1.0)
    settings = WatchSettings(market_caps=str(caps), rules=WatchRules(filing=True))
    events = tmp_path / "events.jsonl"

    async def run() -> None:
        async with FakeEdgar([], feed=CurrentFeed(publications, clock), today=DAY) as server:
            urls = EdgarUrls(server.base_url, server.base_url)
            async with client() as http:
                watcher = Watcher(
                    Store(tmp_path / "store"), http, urls, settings, EventWriter(events), now=clock.aware
                )
                for late in publications:
                    if late.at > at(9, 50):  # fetched slowly: their poll is still fetching them when
                        server.inject("slow", match=late.filing.accession, delay=3.0)  # A's events end
                async with watcher:
                    for step in (at(9, 50), at(10, 50)):
                        clock.move_to(step)
                        await watcher.cycle()  # no waiting for the events in between

    asyncio.run(run())
    fours = {p.filing.accession for p in publications if p.filing.form_type.startswith("4")}
    raised = [e["trigger_accessions"][0] for e in read_events(events) if e["rule"] == "filing"]
    assert sorted(raised) == sorted(fours)


def test_the_demo_ends_with_a_watch_that_raises_the_scripted_cluster(filings, tmp_path: Path) -> None:
    from engine.cli.demo import demo_market_caps
    from engine.cli.demo_watch import watch_demo

    watched = watch_demo(filings, demo_market_caps(), tmp_path, user_agent=AGENT, rate=200)
    assert watched.report.stored == watched.published == 11 and watched.report.feed_errors == 0
    (cluster,) = [e for e in watched.events if e["rule"] == "cluster_buy"]
    assert cluster["ticker"] == "TSLA" and cluster["values"]["distinct_insiders"] == 3
    assert 0 <= cluster["latency_seconds"] < 60
    assert Store(tmp_path / "watch" / "store").summary()["filings"] == 11
