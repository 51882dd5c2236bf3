"""question nodes: ask, wait, validate, retry, give up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from whatsapp_builder.flows.answers import check_answer, default_retry_prompt
from whatsapp_builder.flows.graph import FlowNode
from whatsapp_builder.flows.nodes.base import Follow, NodeHandler, Outcome, TurnContext, Wait
from whatsapp_builder.flows.types import FlowInput

DEFAULT_MAX_RETRIES = 2


def _rules(node: FlowNode) -> Mapping[str, Any]:
    rules = node.data.get("validation")
    return cast(Mapping[str, Any], rules) if isinstance(rules, Mapping) else {"type": "text"}


async def enter_question(ctx: TurnContext, node: FlowNode) -> Outcome:
    ctx.send_text(node.data.get("text"))
    ctx.bookkeeping["retries"] = 0
    return Wait("question")


async def resume_question(ctx: TurnContext, node: FlowNode, flow_input: FlowInput) -> Outcome:
    rules = _rules(node)
    answer = check_answer(flow_input.text, rules, customer_phone=ctx.contact.phone)
    if answer.valid:
        variable = node.data.get("variable")
        if isinstance(variable, str) and variable:
            ctx.set_variable(variable, answer.value)
        ctx.bookkeeping["retries"] = 0
        ctx.log.append(f"question {node.id}: accepted {answer.value!r}")
        return Follow()
    if flow_input.unreadable:
        ctx.log.append(f"question {node.id}: WhatsApp could not pass the message on, asking again (not counted)")
        ctx.send_text(_retry_prompt(node, rules))
        return Wait("question")
    if flow_input.prompt_unseen:
        ctx.log.append(f"question {node.id}: written before the question was sent, not taken as an answer")
        return Wait("question")
    failures = int(ctx.bookkeeping.get("retries") or 0) + 1
    ctx.bookkeeping["retries"] = failures
    raw_max = node.data.get("maxRetries", DEFAULT_MAX_RETRIES)
    max_retries = raw_max if isinstance(raw_max, int) and not isinstance(raw_max, bool) else DEFAULT_MAX_RETRIES
    if failures >= max_retries:
        ctx.log.append(f"question {node.id}: invalid answer {failures}/{max_retries}, giving up")
        ctx.bookkeeping["retries"] = 0
        return Follow("gave_up")
    ctx.log.append(f"question {node.id}: invalid answer {failures}/{max_retries}, asking again")
    ctx.send_text(_retry_prompt(node, rules))
    return Wait("question")


def _retry_prompt(node: FlowNode, rules: Mapping[str, Any]) -> str:
    prompt = node.data.get("retryPrompt")
    return prompt if isinstance(prompt, str) and prompt.strip() else default_retry_prompt(rules)


QUESTION = NodeHandler(enter_question, resume_question)
