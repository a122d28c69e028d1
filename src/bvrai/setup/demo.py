"""The demo organization that ``bvrai serve`` creates on first start, so there is something to log into.

The password is random per installation and kept in the data folder (``demo.json``, mode 0600)
rather than fixed in the code: a well-known password on a server someone exposed by mistake is a
way in. Keeping it lets every later start print the same login.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.agents.service import create_agent, publish_agent
from bvrai.agents.spec import AgentSpec
from bvrai.audit.service import Actor, record
from bvrai.config import Settings
from bvrai.identity.auth_service import create_account
from bvrai.identity.passwords import verify_password
from bvrai.identity.permissions import permissions_for
from bvrai.identity.principal import Principal
from bvrai.identity.repository import IdentityRepository
from bvrai.kit.db import make_engine, make_sessionmaker

DEMO_EMAIL = "demo@example.com"
DEMO_ORG = "Demo Org"


def demo_agent_spec() -> AgentSpec:
    # Providers are left out: they default to the offline local ones.
    return AgentSpec(
        name="Demo receptionist",
        system_prompt=(
            "You are the friendly receptionist of Bright Smile Dental. The practice is open Monday to "
            "Friday from 8 am to 6 pm, and a check-up costs 80 dollars. Answer in one short sentence."
        ),
        first_message="Hello, Bright Smile Dental, how can I help you today?",
    )


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    organization: str


@dataclass(frozen=True)
class SeedResult:
    login: DemoLogin
    created: bool
    # False when the account exists but its password was changed since it was seeded.
    password_valid: bool = True


def login_file(data_dir: Path) -> Path:
    return data_dir / "demo.json"


def load_or_create_login(data_dir: Path) -> DemoLogin:
    path = login_file(data_dir)
    if path.exists():
        return DemoLogin(**json.loads(path.read_text()))
    data_dir.mkdir(parents=True, exist_ok=True)
    login = DemoLogin(email=DEMO_EMAIL, password=secrets.token_urlsafe(12), organization=DEMO_ORG)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(login), fh)
    return login


async def seed_demo(settings: Settings) -> SeedResult:
    """Create the demo org, user and published agent, once; later calls only report the login."""
    login = load_or_create_login(settings.data_dir)
    engine = make_engine(settings.db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            existing = await IdentityRepository(session).user_by_email(login.email)
            if existing is not None:
                valid = verify_password(existing.password_hash, login.password)
                return SeedResult(login=login, created=False, password_valid=valid)
            await _create(session, login)
            await session.commit()
            return SeedResult(login=login, created=True)
    finally:
        await engine.dispose()


async def _create(session: AsyncSession, login: DemoLogin) -> None:
    user, org, _ = await create_account(
        session, email=login.email, password=login.password, name="Demo User", organization_name=login.organization
    )
    await record(
        session,
        actor=Actor(org_id=org.id, actor_type="system", actor_id=None),
        action="organization.create",
        target_type="organization",
        target_id=org.id,
        changes={"name": org.name, "owner": user.email, "demo": True},
    )
    principal = Principal(org_id=org.id, role="owner", permissions=permissions_for("owner"), user_id=user.id)
    agent = await create_agent(session, principal=principal, spec=demo_agent_spec())
    await publish_agent(session, principal=principal, agent_id=agent.id)
