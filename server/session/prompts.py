"""The session's prompts where its page may edit them (the Models panel): the generator's system prompt and
the evaluator's criteria. Mien's own page may; an embed key's page only with `allow_prompt_edit` (system
prompts stay server-side for embedded sites: they neither see nor change them). Edits last for the session."""

from __future__ import annotations

from dataclasses import replace

from server.limits import EmbedKey
from server.personas import Persona, check_criteria
from server.protocol import Criterion, EvaluatorInfo, PromptsInfo, ProtocolError
from server.protocol import client as msg
from server.reply import Judge, JudgePlan


def editable(key: EmbedKey | None) -> bool:
    return key is None or key.allow_prompt_edit


def prompts_info(model: str, persona: Persona, own: Persona, plan: JudgePlan | None) -> PromptsInfo:
    """`persona`: the session's (its prompt perhaps edited); `own`: the persona as configured."""
    criteria = [Criterion(name=n, text=t) for n, t in plan.criteria.items()] if plan is not None else []
    edited = persona.prompt != own.prompt
    return PromptsInfo(generator=model, system=persona.prompt, criteria=criteria, edited=edited)


def evaluator_info(plan: JudgePlan | None, key: EmbedKey | None) -> EvaluatorInfo | None:
    """Which model judges this persona's replies and how; the criteria only where the page may see them."""
    if plan is None:
        return None
    shown = plan.criteria if editable(key) else {}
    return EvaluatorInfo(
        model=plan.model,
        mode=plan.mode,
        threshold=plan.threshold,
        candidates=plan.candidates,
        criteria=[Criterion(name=n, text=t) for n, t in shown.items()],
    )


def edit(
    message: msg.SetPrompts,
    key: EmbedKey | None,
    persona: Persona,
    own: Persona,
    judge: Judge | None,
    own_plan: JudgePlan | None,
) -> tuple[Persona, Judge | None]:
    """The session's persona and judge after `set_prompts` (ProtocolError, nothing changed, if refused)."""
    if not editable(key):
        raise ProtocolError("not_allowed", "this site's avatar does not let its visitors edit its prompts")
    if message.criteria is not None:
        if judge is None or own_plan is None:
            raise ProtocolError(
                "invalid_message", "this server has no evaluator (evaluator_model) to give criteria"
            )
        try:
            chosen = (
                check_criteria([(c.name, c.text) for c in message.criteria]) if message.criteria else None
            )
        except ValueError as e:
            raise ProtocolError("invalid_message", f"criteria: {e}") from None
        judge = Judge(judge.gateway, replace(judge.plan, criteria=chosen or dict(own_plan.criteria)))
    if message.system is not None:  # "" brings the persona's own back
        persona = persona.model_copy(update={"prompt": message.system.strip() or own.prompt})
    return persona, judge
