from __future__ import annotations

from fastapi import APIRouter, Response, status

from whatsapp_builder.core.deps import ContextDep, SessionDep
from whatsapp_builder.whatsapp import config_service
from whatsapp_builder.whatsapp.config_schemas import WhatsAppConfigOut, WhatsAppConfigPut

router = APIRouter(prefix="/whatsapp-config", tags=["whatsapp-config"])


@router.get("", response_model=WhatsAppConfigOut)
async def get_config(session: SessionDep) -> WhatsAppConfigOut:
    return config_service.to_out(await config_service.require_active(session))


@router.put("", response_model=WhatsAppConfigOut)
async def put_config(session: SessionDep, context: ContextDep, body: WhatsAppConfigPut) -> WhatsAppConfigOut:
    config = await config_service.put_active(session, context.secrets, body)
    context.active_config.invalidate()
    return config_service.to_out(config)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def delete_config(session: SessionDep, context: ContextDep) -> Response:
    await config_service.delete_active(session)
    context.active_config.invalidate()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
