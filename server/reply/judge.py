"""The evaluator's part in a reply (generator + evaluator). `observe`: the reply is judged after it was
shown, and nothing changes. `revise`: the whole reply is held while the face thinks; one scoring under the
threshold is rewritten once by the generator with the evaluator's reasons before it is shown. `pick`: the
generator writes N candidates and the best-scored one is shown. In the held modes, a reply whose emotions
the evaluator finds do not fit its words has its tagged cues shown softer.

The evaluator failing, timing out or answering junk never blocks the reply: it is shown as it is, and the
verdict (an `Evaluated` event) says "not evaluated" and why.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace

from server.events import Cue, Evaluated, EvaluationMode
from server.llm import Gateway, rough_tokens, side_failure
from server.personas import Persona
from server.reply import evaluation
from server.reply.evaluation import DEFAULT_CRITERIA, EMOTION_FIT, EvaluationError, Verdict
from server.settings import Settings

log = logging.getLogger("mien.reply")
Messages = list[dict[str, str]]
TEMPERED = 0.4  # what is left of a tag's intensity when the evaluator finds it does not fit the words


@dataclass(frozen=True)
class JudgePlan:
    """How a session's replies are judged (settings `evaluator_*`, the persona's criteria)."""

    model: str
    mode: EvaluationMode = "observe"
    criteria: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CRITERIA))
    threshold: float = 0.6
    candidates: int = 3
    timeout: float = 20.0

    @classmethod
    def of(cls, settings: Settings, persona: Persona) -> JudgePlan | None:
        """The server's evaluator settings with the persona's criteria; None when no evaluator is set."""
        if not settings.evaluator_model:
            return None
        return cls(
            settings.evaluator_model,
            settings.evaluator_mode,  # type: ignore[arg-type]  # checked by Settings (_CHOICES)
            dict(persona.criteria or DEFAULT_CRITERIA),
            settings.evaluator_threshold,
            settings.evaluator_candidates,
            settings.evaluator_timeout,
        )


class Judge:
    def __init__(self, gateway: Gateway, plan: JudgePlan) -> None:
        self.gateway, self.plan = gateway, plan

    @property
    def holds(self) -> bool:
        """Whether the reply waits for the verdict before it is shown."""
        return self.plan.mode != "observe"

    async def judged(self, system: str, conversation: Messages, reply: str) -> Evaluated:
        """The verdict on a reply already shown (`observe`), or "not evaluated" with the reason."""
        verdict, tokens = await self._judge(system, conversation, reply)
        return self._event(verdict, tokens=tokens)

    async def held(self, messages: Messages) -> tuple[str, Evaluated]:
        """`revise` or `pick`: the reply to show (its raw text, tags and all) and the verdict on it.
        A generator failure raises ProviderError as an unjudged reply would."""
        system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
        conversation = [m for m in messages if m["role"] != "system"]
        if self.plan.mode == "pick":
            return await self._pick(messages, system, conversation)
        draft, spent = await self._write(messages)
        verdict, tokens = await self._judge(system, conversation, draft)
        spent += tokens
        if not isinstance(verdict, Verdict) or verdict.overall >= self.plan.threshold:
            return draft, self._event(verdict, tokens=spent)
        ask = evaluation.revise_request(verdict, self.plan.threshold)
        try:
            rewrite, tokens = await self._write([*messages, *_turns(draft, ask)])
        except Exception as e:  # the draft exists: a failed rewrite must not lose it
            log.warning("the rewrite failed; the draft is shown: %s", e)
            return draft, self._event(verdict, tokens=spent)
        again, judged = await self._judge(system, [*conversation, *_turns(draft, ask)], rewrite)
        event = self._event(again, tokens=spent + tokens + judged)
        return rewrite, replace(event, revised=True, draft_overall=verdict.overall)

    def temper(self, cue: Cue) -> Cue:
        """A tagged cue of a reply whose emotions did not fit its words, shown softer."""
        if cue.source not in ("tag", "stage", "annotator"):
            return cue
        return replace(cue, intensity=round(cue.intensity * TEMPERED, 3), confidence=TEMPERED)

    async def _pick(self, messages: Messages, system: str, conversation: Messages) -> tuple[str, Evaluated]:
        n = max(1, self.plan.candidates)
        written = await asyncio.gather(*(self._write(messages) for _ in range(n)), return_exceptions=True)
        drafts = [w for w in written if not isinstance(w, BaseException)]
        if not drafts:  # every candidate failed: the first failure is the reply's
            raise next(w for w in written if isinstance(w, BaseException))
        judged = await asyncio.gather(*(self._judge(system, conversation, text) for text, _ in drafts))
        spent = sum(tokens for _, tokens in drafts) + sum(tokens for _, tokens in judged)
        scored = [(i, v) for i, (v, _) in enumerate(judged) if isinstance(v, Verdict)]
        if not scored:
            return drafts[0][0], replace(self._event(judged[0][0], tokens=spent), candidates=len(drafts))
        # The best weakest criterion; ties go to the better average, then to the earlier candidate.
        chosen, verdict = max(scored, key=lambda iv: (iv[1].overall, _mean(iv[1]), -iv[0]))
        event = self._event(verdict, tokens=spent)
        return drafts[chosen][0], replace(event, candidates=len(drafts), chosen=chosen)

    async def _write(self, messages: Messages) -> tuple[str, int]:
        """One whole reply from the generator (not shown: the held modes show only the one chosen)."""
        text = "".join([chunk async for chunk in self.gateway.stream(messages)])
        return text, rough_tokens([*messages, {"content": text}])

    async def _judge(self, system: str, conversation: Messages, reply: str) -> tuple[Verdict | str, int]:
        """(the verdict, or why there is none; the tokens it cost). Never raises but cancellation."""
        plan = self.plan
        asked = evaluation.messages(plan.criteria, plan.threshold, system, conversation, reply)
        names = list(plan.criteria)
        answer = ""
        try:
            answer = await self.gateway.complete(
                asked,
                model=plan.model,
                max_tokens=120 * len(names) + 200,  # reasons up to 200 characters, a revision up to 400
                response_format=evaluation.response_format(names),
                timeout=plan.timeout,
            )
            return evaluation.parse(answer, names), rough_tokens([*asked, {"content": answer}])
        except EvaluationError as e:
            why = f"the evaluator's answer was not usable: {e}"
        except Exception as e:  # whatever failed, the reply goes on
            why = side_failure("evaluator", e, plan.timeout)
        log.info("reply not evaluated: %s", why)
        return why, rough_tokens([*asked, {"content": answer}])

    def _event(self, verdict: Verdict | str, *, tokens: int) -> Evaluated:
        plan = self.plan
        if not isinstance(verdict, Verdict):
            return Evaluated(plan.mode, plan.model, reason=verdict, tokens=tokens)
        fit = verdict.score(EMOTION_FIT)
        tempered = self.holds and fit is not None and fit < plan.threshold
        return Evaluated(
            plan.mode, plan.model, verdict.scores, verdict.revision, tempered=tempered, tokens=tokens
        )


def _turns(draft: str, ask: str) -> Messages:
    return [{"role": "assistant", "content": draft}, {"role": "user", "content": ask}]


def _mean(verdict: Verdict) -> float:
    return sum(s.score for s in verdict.scores) / len(verdict.scores)


def redacted(verdict: Evaluated) -> Evaluated:
    """The verdict for a page that may not see the prompts: the evaluator read the system prompt, so its
    own words (reasons, revision advice) stay on the server; the scores go."""
    scores = tuple(replace(s, reason="") for s in verdict.scores)
    return replace(verdict, scores=scores, revision="")
