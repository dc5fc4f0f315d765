"""The notebooks' widgets and live displays: each connects a lesson to a view.

Notebooks import from here; no widget is defined in a notebook cell. Every widget
also leaves a static picture and a one-line text summary, so a reader without a
live kernel (GitHub, nbviewer, a PDF) still sees the story. Where each is taught:

* 01 :func:`watch_race`, :class:`HighwayToggle`
* 02 :class:`AwaitToggle`, :func:`weather_check`, :func:`with_heartbeat`
* 03 :class:`RaceWidget`, :class:`ChatbotToggle`, :func:`serve_chat`
* 04 :func:`glossary`, :class:`SurgeGame`
* 06 :class:`RoadblockSign`
"""

from __future__ import annotations

from citylib._lessons.chatbot import serve_chat
from citylib._lessons.heartbeat import weather_check, with_heartbeat
from citylib._views.chatbot import ChatbotToggle
from citylib._views.glossary import glossary
from citylib._views.heartbeat import AwaitToggle
from citylib._views.highway import HighwayToggle, watch_race
from citylib._views.race_widget import RaceWidget
from citylib._views.roadblock_sign import RoadblockSign
from citylib._views.surge_game import SurgeGame

__all__ = [
    "AwaitToggle",
    "ChatbotToggle",
    "HighwayToggle",
    "RaceWidget",
    "RoadblockSign",
    "SurgeGame",
    "glossary",
    "serve_chat",
    "watch_race",
    "weather_check",
    "with_heartbeat",
]
