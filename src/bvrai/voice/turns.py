"""The agent's ``turn`` settings as pipecat user-turn strategies.

Start: VAD speech (or a transcript) starts the caller's turn and, when interruptions are on, stops
the agent; with ``min_interruption_words`` the caller must have said that many words first, so a
cough or a "mm-hm" does not cut the agent off. Stop: Smart Turn judges from the audio whether the
caller finished their thought (the default), or a plain silence timeout when it is off.
"""

from __future__ import annotations

from pipecat.turns.user_start import (
    MinWordsUserTurnStartStrategy,
    TranscriptionUserTurnStartStrategy,
    VADUserTurnStartStrategy,
)
from pipecat.turns.user_start.base_user_turn_start_strategy import BaseUserTurnStartStrategy
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy, TurnAnalyzerUserTurnStopStrategy
from pipecat.turns.user_stop.base_user_turn_stop_strategy import BaseUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from bvrai.agents.spec import TurnConfig
from bvrai.voice.audio_models import SharedSmartTurnAnalyzer


def user_turn_strategies(turn: TurnConfig) -> UserTurnStrategies:
    interrupt = turn.interruptions
    start: list[BaseUserTurnStartStrategy]
    stop: list[BaseUserTurnStopStrategy]
    if turn.min_interruption_words > 0:
        start = [MinWordsUserTurnStartStrategy(min_words=turn.min_interruption_words, enable_interruptions=interrupt)]
    else:
        start = [
            VADUserTurnStartStrategy(enable_interruptions=interrupt),
            TranscriptionUserTurnStartStrategy(enable_interruptions=interrupt),
        ]
    if turn.smart_turn:
        stop = [TurnAnalyzerUserTurnStopStrategy(turn_analyzer=SharedSmartTurnAnalyzer())]
    else:
        stop = [SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=turn.vad_stop_secs or 0.8)]
    return UserTurnStrategies(start=start, stop=stop)
