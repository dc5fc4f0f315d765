"""The practice exercises' red team: every exercise done wrong the ways a beginner would.

A beginner here knows functions and dicts and has never used asyncio. Each
:class:`Wrong` is one such answer, the slip its message must name, the ✅ it must not
get (for what did not happen), and words its first hint must hold (or must not).
``tests/test_practice.py`` checks every one; run this file to write the table the
closing note quotes, from real checks of every answer::

    .venv/bin/python tests/practice_red_team.py /work/coord/practice-table.md
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Wrong:
    """One wrong answer and what its check must say.

    Attributes:
        exercise: The exercise's id.
        how: The mistake, in a few words (the table's row).
        source: The learner's cell.
        slip: The slip id the verdict must name.
        words: Words the message must hold.
        no_tick: Check labels that must not get a ✅ (they did not happen).
        hint: Words the first hint must hold.
        not_in_hint: Words the first hint must not hold (advice for another mistake).
        virtual: Judged on virtual time (pure asyncio: no thread, no blocking call).
    """

    exercise: str
    how: str
    source: str
    slip: str
    words: str
    no_tick: tuple[str, ...] = ()
    hint: str = ""
    not_in_hint: tuple[str, ...] = ()
    virtual: bool = True


WRONGS: tuple[Wrong, ...] = (
    # -- 01 · the commute
    Wrong(
        "01_highway", "calls without await",
        """
async def commute():
    return [call("chat"), call("maps"), call("weather")]
""",
        "not_awaited", "never awaited",
        ("the event loop stayed free", "the cars drove at once", "each service called once"),
        "does not run it",
    ),
    Wrong(
        "01_highway", "three awaits in a row",
        """
async def commute():
    chat = await call("chat")
    maps = await call("maps")
    weather = await call("weather")
    return [chat, maps, weather]
""",
        "one_after_another", "one after another", ("the cars drove at once",), "one-lane road",
    ),
    Wrong(
        "01_highway", "functions handed to gather, not calls",
        """
async def chat():
    return await call("chat")

async def maps():
    return await call("maps")

async def weather():
    return await call("weather")

async def commute():
    return await asyncio.gather(chat, maps, weather)
""",
        "uncalled", "not a call of it", ("the event loop stayed free",), "recipe",
    ),
    Wrong(
        "01_highway", "a list of calls handed to gather",
        """
async def commute():
    return await asyncio.gather([call("chat"), call("maps"), call("weather")])
""",
        "not_unpacked", "one list of calls", ("the event loop stayed free",), "spreads it out",
    ),
    Wrong(
        "01_highway", "call_blocking, the jam's own calls",
        """
async def commute():
    return [call_blocking("chat"), call_blocking("maps"), call_blocking("weather")]
""",
        "blocked", "held the event loop",
        ("the event loop stayed free", "the cars drove at once"), "keeps the wheel",
        virtual=False,
    ),
    Wrong(
        "01_highway", "gather's future returned without await",
        """
async def commute():
    return asyncio.gather(call("chat"), call("maps"), call("weather"))
""",
        "gather_not_awaited", "future", ("the three answers came back, in order",), "promise",
    ),
    Wrong(
        "01_highway", "asyncio.run inside async def",
        """
async def commute():
    return [asyncio.run(call("chat")), asyncio.run(call("maps")), asyncio.run(call("weather"))]
""",
        "asyncio_run", "asyncio.run", ("the event loop stayed free",), "already on a running",
    ),
    # -- 02 · the polite courier
    Wrong(
        "02_polite_courier", "still wraps with time.sleep",
        """
def wrap(parcel):
    time.sleep(SECOND)
    return f"📦 {parcel}"

async def polite_courier(parcel):
    await asyncio.sleep(SECOND)
    return wrap(parcel)
""",
        "blocked", "held the event loop",
        ("the event loop stayed free", "three couriers at once take one courier's time"),
        "keeps the wheel", virtual=False,
    ),
    Wrong(
        "02_polite_courier", "time.sleep in the courier itself",
        """
async def polite_courier(parcel):
    time.sleep(SECOND)
    time.sleep(SECOND)
    return f"📦 {parcel}"
""",
        "blocked", "held the event loop",
        ("the event loop stayed free", "three couriers at once take one courier's time"),
        "keeps the wheel", virtual=False,
    ),
    Wrong(
        "02_polite_courier", "to_thread(wrap(parcel)): extra parentheses",
        """
def wrap(parcel):
    time.sleep(SECOND)
    return f"📦 {parcel}"

async def polite_courier(parcel):
    await asyncio.sleep(SECOND)
    return await asyncio.to_thread(wrap(parcel))
""",
        "extra_parentheses", "handed to_thread what it returned",
        ("every parcel delivered, wrapped",), "to_thread(f, x)", ("time.sleep",),
        virtual=False,
    ),
    Wrong(
        "02_polite_courier", "asyncio.sleep without await",
        """
async def polite_courier(parcel):
    asyncio.sleep(SECOND)
    asyncio.sleep(SECOND)
    return f"📦 {parcel}"
""",
        "not_awaited", "never awaited", ("three couriers at once take one courier's time",),
        "does not run it",
    ),
    Wrong(
        "02_polite_courier", "a plain def",
        """
def polite_courier(parcel):
    return f"📦 {parcel}"
""",
        "plain_def", "plain def", ("every parcel delivered, wrapped",), "async def",
    ),
    Wrong(
        "02_polite_courier", "asyncio.sleep(1): real seconds",
        """
async def polite_courier(parcel):
    await asyncio.sleep(1)
    await asyncio.sleep(1)
    return f"📦 {parcel}"
""",
        "long_waits", "real seconds", ("three couriers at once take one courier's time",),
        "clock.to_real of one",
    ),
    # -- 02 · the order of three sleep(0) hops (filmed by the stepper)
    Wrong(
        "02_sleep_zero_order", "each hopper runs to its end first",
        'predicted_order = ["🚕 1", "🚕 2", "🚌 1", "🚌 2", "🚚 1", "🚚 2"]\n',
        "ran_to_the_end", "hands the loop back", ("in the order the loop ran them",),
        "back of the ready queue",
    ),
    Wrong(
        "02_sleep_zero_order", "the last task made starts first",
        'predicted_order = ["🚚 1", "🚌 1", "🚕 1", "🚚 2", "🚌 2", "🚕 2"]\n',
        "start_order", "order gather() made them", ("in the order the loop ran them",),
        "order you hand them over",
    ),
    Wrong(
        "02_sleep_zero_order", "the second round reversed",
        'predicted_order = ["🚕 1", "🚌 1", "🚚 1", "🚚 2", "🚌 2", "🚕 2"]\n',
        "back_of_the_queue", "first come, first served", ("in the order the loop ran them",),
        "toll booth",
    ),
    Wrong(
        "02_sleep_zero_order", "the lines without their emoji",
        'predicted_order = ["1", "1", "1", "2", "2", "2"]\n',
        "not_the_printed_lines", "six lines the hops print",
        ("each of the six printed lines, once",),
        "exactly as the cell prints them",
    ),
    # -- 03 · the thread pool
    Wrong(
        "03_pool_size", "three threads", "pool_size = 3\n", "too_few_threads", "too few threads",
        ("nobody waited in line",), "fixed number of lanes", virtual=False,
    ),
    Wrong(
        "03_pool_size", "one thread", "pool_size = 1\n", "too_few_threads", "waits in line",
        ("nobody waited in line", "as fast as the highway"), "fixed number of lanes",
        virtual=False,
    ),
    Wrong(
        "03_pool_size", "twenty threads", "pool_size = 20\n", "too_many_threads",
        "never carried one", ("no thread sat idle",), "paid for and never used", virtual=False,
    ),
    Wrong(
        "03_pool_size", "the number in quotes", 'pool_size = "6"\n', "pool_size_text",
        "quotes make text", ("as fast as the highway",), "no quotes",
    ),
    Wrong(
        "03_pool_size", "a decimal point", "pool_size = 6.0\n", "pool_size_fraction",
        "decimal point", ("as fast as the highway",), "no decimal point",
    ),
    # -- 04 · the morning route
    Wrong(
        "04_morning_route", "awaits one after the other",
        """
morning_app = FastAPI()

@morning_app.get("/morning")
async def morning():
    weather = await services.fetch_weather()
    chat = await services.get_ai_reply()
    return {"weather": weather, "chat": chat}
""",
        "one_after_another", "one after another", ("weather and chat were gathered",),
        "one-lane road", virtual=False,
    ),
    Wrong(
        "04_morning_route", "calls both services, awaits neither",
        """
morning_app = FastAPI()

@morning_app.get("/morning")
async def morning():
    weather = services.fetch_weather()
    chat = services.get_ai_reply()
    return {"weather": weather, "chat": chat}
""",
        "not_awaited", "never awaited", ("weather and chat were gathered",), "does not run it",
    ),
    Wrong(
        "04_morning_route", "functions handed to gather, not calls",
        """
morning_app = FastAPI()

@morning_app.get("/morning")
async def morning():
    weather, chat = await asyncio.gather(services.fetch_weather, services.get_ai_reply)
    return {"weather": weather, "chat": chat}
""",
        "uncalled", "not a call of it", ("weather and chat were gathered",), "recipe",
    ),
    Wrong(
        "04_morning_route", "gather without await",
        """
morning_app = FastAPI()

@morning_app.get("/morning")
async def morning():
    weather, chat = asyncio.gather(services.fetch_weather(), services.get_ai_reply())
    return {"weather": weather, "chat": chat}
""",
        "gather_not_awaited", "without awaiting", ("weather and chat were gathered",),
        "promise",
    ),
    Wrong(
        "04_morning_route", "a plain def route",
        """
morning_app = FastAPI()

@morning_app.get("/morning")
def morning():
    return {"weather": services.fetch_weather(), "chat": services.get_ai_reply()}
""",
        "plain_def_route", "plain def", ("weather and chat were gathered",), "async def",
        virtual=False,
    ),
    # -- 06 · the toll booth
    Wrong(
        "06_toll_booth", "gather with no booth",
        """
async def drive_all(names):
    return await asyncio.gather(*(citylib.call(n) for n in names))
""",
        "no_booth", "nothing made the fourth car wait",
        ("never more than three through", "all three gates used"),
        "three gates",
    ),
    Wrong(
        "06_toll_booth", "the semaphore around the whole gather",
        """
async def drive_all(names):
    booth = asyncio.Semaphore(3)
    async with booth:
        return await asyncio.gather(*(citylib.call(n) for n in names))
""",
        "booth_outside", "entered once, by drive_all itself",
        ("never more than three through", "all three gates used"), "one holder",
    ),
    Wrong(
        "06_toll_booth", "the semaphore held while making the calls, not while they drive",
        """
async def drive_all(names):
    booth = asyncio.Semaphore(3)
    calls = []
    for name in names:
        async with booth:
            calls.append(citylib.call(name))
    return await asyncio.gather(*calls)
""",
        "booth_outside", "not by each car while it drives",
        ("never more than three through", "all three gates used"), "each car must hold a gate",
    ),
    Wrong(
        "06_toll_booth", "a new semaphore for every car",
        """
async def drive_all(names):
    async def one(name):
        async with asyncio.Semaphore(3):
            return await citylib.call(name)

    return await asyncio.gather(*(one(n) for n in names))
""",
        "booth_per_car", "booth of its own",
        ("never more than three through", "all three gates used"),
        "same Semaphore",
    ),
    Wrong(
        "06_toll_booth", "a for loop of awaits",
        """
async def drive_all(names):
    answers = []
    for name in names:
        answers.append(await citylib.call(name))
    return answers
""",
        "one_at_a_time", "took turns through one gate", ("all three gates used",),
        "one car at a time",
    ),
    Wrong(
        "06_toll_booth", "calls without await",
        """
async def drive_all(names):
    return [citylib.call(n) for n in names]
""",
        "not_awaited", "never awaited",
        ("never more than three through", "all three gates used", "the event loop stayed free"),
        "does not run it",
    ),
    # -- 06 · the timeout with a fallback
    Wrong(
        "06_timeout_fallback", "a deadline, but no except",
        """
async def chat_or_sorry():
    async with crashes.timeout(2):
        return await citylib.call("chat")
    return FALLBACK
""",
        "deadline_not_caught", "your deadline worked", ("gives up on a hung chat after 2 s",),
        "unless an except catches it", ("nothing cut",),
    ),
    Wrong(
        "06_timeout_fallback", "no deadline at all",
        """
async def chat_or_sorry():
    return await citylib.call("chat")
""",
        "no_deadline", "nothing cut the hung call off", ("gives up on a hung chat after 2 s",),
        "cancels whatever is still awaited",
    ),
    Wrong(
        "06_timeout_fallback", "an except with no deadline",
        """
async def chat_or_sorry():
    try:
        return await citylib.call("chat")
    except TimeoutError:
        return FALLBACK
""",
        "no_deadline", "an except alone never cuts anything off",
        ("gives up on a hung chat after 2 s",), "cancels whatever is still awaited",
    ),
    Wrong(
        "06_timeout_fallback", "the call inside the deadline not awaited",
        """
async def chat_or_sorry():
    try:
        async with crashes.timeout(2):
            return citylib.call("chat")
    except TimeoutError:
        return FALLBACK
""",
        "not_awaited", "never awaited", ("gives up on a hung chat after 2 s",),
        "does not run it",
    ),
    # -- 07 · the stream that shouts
    Wrong(
        "07_shout", "a plain for over the stream",
        """
async def shout(prompt):
    for token in streaming.stream_reply(prompt):
        yield token.upper()
""",
        "plain_for", "plain for", ("every token, shouted", "the first token came at once"),
        "async for", ("return",),
    ),
    Wrong(
        "07_shout", "return a list instead of yield",
        """
async def shout(prompt):
    tokens = []
    async for token in streaming.stream_reply(prompt):
        tokens.append(token.upper())
    return tokens
""",
        "returns_not_yields", "not a stream", ("every token, shouted",), "yield",
    ),
    Wrong(
        "07_shout", "collect every token, then yield",
        """
async def shout(prompt):
    tokens = [t async for t in streaming.stream_reply(prompt)]
    for t in tokens:
        yield t.upper()
""",
        "collected_first", "one-shot reply in disguise", ("the first token came at once",),
        "runs to the end",
    ),
    Wrong(
        "07_shout", "the stream function not called",
        """
async def shout(prompt):
    async for token in streaming.stream_reply:
        yield token.upper()
""",
        "uncalled", "not a call of it", ("every token, shouted",), "recipe",
    ),
    Wrong(
        "07_shout", "tokens not in capitals",
        """
async def shout(prompt):
    async for token in streaming.stream_reply(prompt):
        yield token
""",
        "not_shouted", "not in capitals", ("every token, shouted",), ".upper()",
    ),
    Wrong(
        "07_shout", "await on the stream",
        """
async def shout(prompt):
    tokens = await streaming.stream_reply(prompt)
    for t in tokens:
        yield t.upper()
""",
        "awaited_stream", "you awaited a stream", ("every token, shouted",), "async for",
    ),
)  # fmt: skip


def _cell(text: str) -> str:
    return "<br>".join(line.replace("|", "\\|") for line in text.strip().splitlines())


def table(results: list[tuple[Wrong, Any, str]]) -> str:
    """The markdown table: exercise, wrong answer, message, first hint (from real checks)."""
    rows = [
        "| exercise | wrong answer | message: the mistake (✅ that stand) | first hint |",
        "|---|---|---|---|",
    ]
    for wrong, verdict, hint in results:
        answer = "<br>".join(f"`{line}`" for line in _cell(wrong.source).split("<br>") if line)
        ticks = [c.label for c in verdict.checks if c.ok]
        message = "<br>".join(line.strip() for line in verdict.slip.lines())
        if ticks:
            message += "<br>(✅ " + "; ✅ ".join(ticks) + ")"
        first = hint.split(":\n", 1)[-1]
        rows.append(
            f"| {wrong.exercise} | **{wrong.how}**<br>{answer} | {_cell(message)} | "
            f"{_cell(first)} |"
        )
    return "\n".join(rows)


def main(out: str) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_practice import check_wrong

    results = []
    for wrong in WRONGS:
        verdict, hint = check_wrong(wrong)
        results.append((wrong, verdict, hint))
        print(f"{wrong.exercise}: {wrong.how}: {verdict.slip.id if verdict.slip else '-'}")
    Path(out).write_text(table(results) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "practice-table.md")
