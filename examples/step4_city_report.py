"""Step 4 of "Build your own Async Highway": plug it into FastAPI.

Change ``def`` to ``async def`` in any FastAPI route and it becomes
highway-compatible, as long as every slow call inside is awaited: a blocking call
(``time.sleep``, ``requests.get``) inside ``async def`` freezes the whole event loop,
worse than a plain ``def`` route, which FastAPI runs on its thread pool. Serve it from a
terminal with
``uvicorn examples.step4_city_report:app``, then open http://127.0.0.1:8000/city-report.
"""

import asyncio

from fastapi import FastAPI

from citylib import services

app = FastAPI()


@app.get("/city-report")
async def city_report():
    weather, image, chat = await asyncio.gather(
        services.fetch_weather(), services.generate_image(), services.get_ai_reply()
    )
    return {"weather": weather, "image": image, "chat": chat}
