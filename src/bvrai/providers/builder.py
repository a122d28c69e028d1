"""Turn an agent spec's llm / voice / transcriber sections into pipecat services for one call.

Secrets come from the org's credentials vault; endpoints from the spec's ``base_url`` or the
operator's ``BVRAI_PROVIDER_BASE_URLS``. Implementations register themselves when their package is
imported; a provider whose package is not installed fails here with a message naming the extra.
"""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.identity.credential_service import reveal
from bvrai.kit.context import AppContext
from bvrai.providers.base import MissingCredential, ProviderContext, ProviderRequestError
from bvrai.providers.fallback import build_with_fallbacks
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


async def provider_context(
    session: AsyncSession,
    *,
    ctx: AppContext,
    org_id: str,
    stage: Stage,
    provider: str,
    sample_rate: int,
    extra: dict[str, Any] | None = None,
) -> ProviderContext:
    entry = registry.get(stage, provider)
    if entry.impl is None:
        load_implementations()
        entry = registry.get(stage, provider)
    if entry.impl is None:
        extra_name = "local" if provider == "local" else "the provider's"
        raise ProviderRequestError(
            f"{stage}:{provider}", f"not installed in this process (install the {extra_name} extra)"
        )
    secret = None
    if entry.capabilities.needs_credential:
        secret = await reveal(session, keyring=ctx.keyring, org_id=org_id, provider=entry.capabilities.needs_credential)
        if secret is None:
            raise MissingCredential(
                f"{stage}:{provider}",
                f"add a '{entry.capabilities.needs_credential}' credential to the organization's vault",
            )
    return ProviderContext(
        org_id=org_id,
        secret=secret,
        base_url=ctx.settings.provider_base_urls.get(provider),
        sample_rate=sample_rate,
        extra={"model_cache_dir": str(ctx.settings.model_cache_path), **(extra or {})},
    )


async def build_stage(
    session: AsyncSession,
    *,
    ctx: AppContext,
    org_id: str,
    stage: Stage,
    config: Any,
    sample_rate: int,
    extra: dict[str, Any] | None = None,
) -> Any:
    """The stage's service for one call: the primary provider, behind it the spec's fallbacks.

    Secrets are read from the vault up front for every provider involved, so a missing credential
    fails the call's set-up with a clear message instead of surfacing mid-call at a switch.
    """
    providers = [config.provider, *(f.provider for f in getattr(config, "fallbacks", []) or [])]
    contexts = {
        name: await provider_context(
            session, ctx=ctx, org_id=org_id, stage=stage, provider=name, sample_rate=sample_rate, extra=extra
        )
        for name in dict.fromkeys(providers)
    }
    return build_with_fallbacks(stage, config, list(getattr(config, "fallbacks", []) or []), contexts.__getitem__)
