from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from whatsapp_builder.core.deps import ContextDep, SessionDep
from whatsapp_builder.core.errors import NotFound, Responses, documented
from whatsapp_builder.core.routing import JsonRoute
from whatsapp_builder.whatsapp import config_service
from whatsapp_builder.whatsapp.config_schemas import WhatsAppConfigOut, WhatsAppConfigPut
from whatsapp_builder.whatsapp.graph_client import GraphApiError

router = APIRouter(prefix="/whatsapp-config", tags=["whatsapp-config"], route_class=JsonRoute)
_NO_CONFIG: Responses = {404: documented("No WhatsApp config is set (`not_found`)")}


@router.get("", response_model=WhatsAppConfigOut, responses=_NO_CONFIG)
async def get_config(session: SessionDep) -> WhatsAppConfigOut:
    return config_service.to_out(await config_service.require_active(session))


@router.put("", response_model=WhatsAppConfigOut)
async def put_config(session: SessionDep, context: ContextDep, body: WhatsAppConfigPut) -> WhatsAppConfigOut:
    config = await config_service.put_active(session, context.secrets, body)
    context.refusals.reset()  # a refusal waiting to be shown was judged against the config this one replaced
    context.active_config.invalidate()
    return config_service.to_out(config)


@router.post("/test", responses=_NO_CONFIG)
async def test_connection(context: ContextDep) -> dict[str, Any]:
    """Ask the Graph API for the configured phone number with the stored token: `ok` with its display number
    and verified name, or WhatsApp's error (expired token, wrong id...)."""
    from whatsapp_builder.whatsapp.delivery import graph_client_for

    context.active_config.invalidate()
    config = await context.active_config.get()
    if config is None:
        raise NotFound("No WhatsApp config is set; PUT /api/whatsapp-config first.")
    try:
        number = await graph_client_for(context, config.graph_api_url).phone_number(
            config.phone_number_id, config.access_token
        )
    except GraphApiError as exc:
        return {
            "ok": False,
            "error": {"code": exc.code, "title": exc.title, "message": exc.message, "httpStatus": exc.http_status},
        }
    return {
        "ok": True,
        "displayPhoneNumber": number.get("display_phone_number"),
        "verifiedName": number.get("verified_name"),
        "qualityRating": number.get("quality_rating"),
    }


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, responses=_NO_CONFIG)
async def delete_config(session: SessionDep, context: ContextDep) -> Response:
    await config_service.delete_active(session)
    context.active_config.invalidate()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
