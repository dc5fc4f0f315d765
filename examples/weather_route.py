"""The seed's ``/weather`` route ("What is await? ⏳").

``await`` means: "I'll sit politely here while others keep working". While
``ask_weather_service()`` is slow, the city keeps handling other requests.
Serve it with ``uvicorn examples.weather_route:app``.
"""

from fastapi import FastAPI

from citylib import ask_weather_service

app = FastAPI()


@app.get("/weather")
async def get_weather():
    data = await ask_weather_service()
    return data
