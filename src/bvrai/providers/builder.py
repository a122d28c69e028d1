"""Turn an agent spec's llm / voice / transcriber sections into pipecat services for one call.

Secrets come from the org's credentials vault; endpoints from the spec's ``base_url`` or the
operator's ``BVRAI_PROVIDER_BASE_URLS``. Implementations register themselves when their package is
imported; a provider whose package is not installed fails here with a message naming the extra.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.identity.credential_service import reveal
from bvrai.kit.context import AppContext
from bvrai.providers.base import MissingCredential, ProviderContext, ProviderRequestError
from bvrai.providers.registry import Stage
from bvrai.providers.registry import default_registry as registry

# Packages whose import registers implementations; either may be missing in a slim install.
_IMPLEMENTATION_PACKAGES = ("bvrai.providers.local", "bvrai.providers.cloud")


def load_implementations() -> None:
    for name in _IMPLEMENTATION_PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue


@dataclass
class CallServices:
    stt: Any
    llm: Any
    tts: Any


async def provider_context(
    session: AsyncSession, *, ctx: AppContext, org_id: str, stage: Stage, config: Any, sample_rate: int
) -> ProviderContext:
    entry = registry.get(stage, config.provider)
    secret = None
    if entry.capabilities.needs_credential:
        secret = await reveal(session, keyring=ctx.keyring, org_id=org_id, provider=entry.capabilities.needs_credential)
        if secret is None:
            raise MissingCredential(
                f"{stage}:{config.provider}",
                f"add a '{entry.capabilities.needs_credential}' credential to the organization's vault",
            )
    base_url = getattr(config, "base_url", None) or ctx.settings.provider_base_urls.get(config.provider)
    extra = {"model_cache_dir": str(ctx.settings.model_cache_path)}
    return ProviderContext(org_id=org_id, secret=secret, base_url=base_url, sample_rate=sample_rate, extra=extra)


async def build_one(
    session: AsyncSession, *, ctx: AppContext, org_id: str, stage: Stage, config: Any, sample_rate: int
) -> Any:
    entry = registry.get(stage, config.provider)
    if entry.impl is None:
        load_implementations()
        entry = registry.get(stage, config.provider)
    if entry.impl is None:
        extra = "local" if config.provider == "local" else "the provider's"
        raise ProviderRequestError(
            f"{stage}:{config.provider}", f"not installed in this process (install the {extra} extra)"
        )
    pctx = await provider_context(session, ctx=ctx, org_id=org_id, stage=stage, config=config, sample_rate=sample_rate)
    return entry.impl(config, pctx)


async def build_stage(
    session: AsyncSession, *, ctx: AppContext, org_id: str, stage: Stage, config: Any, sample_rate: int
) -> Any:
    """The primary service, wrapped with its fallbacks when the spec lists any."""
    primary = await build_one(session, ctx=ctx, org_id=org_id, stage=stage, config=config, sample_rate=sample_rate)
    fallbacks = list(getattr(config, "fallbacks", []) or [])
    if not fallbacks:
        return primary
    from bvrai.providers.fallback import build_with_fallbacks

    backups = [
        await build_one(session, ctx=ctx, org_id=org_id, stage=stage, config=f, sample_rate=sample_rate)
        for f in fallbacks
    ]
    return build_with_fallbacks(stage, [primary, *backups])
