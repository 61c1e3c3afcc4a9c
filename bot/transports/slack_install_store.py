"""bolt's installation store and OAuth state store, kept in the bot's own database.

With ``SLACK_CLIENT_ID`` and ``SLACK_CLIENT_SECRET`` set, one deployment serves every
workspace that installs the app through ``/slack/install``. bolt asks
:class:`DatabaseInstallationStore` for the bot token of each incoming request's workspace, and
the Slack transport asks it (:meth:`DatabaseInstallationStore.bot_token`) for the token of the
workspace an alert goes to. Both stores adapt the named queries of
:mod:`storage.slack_installs`, run on the bot's one database thread (``services.db.call``).

A workspace is the team id, or the enterprise id of an org-wide install (:func:`workspace_key`).
The workspace of ``SLACK_BOT_TOKEN``, when that is set too, is served with that token until it
installs through the flow itself (:meth:`DatabaseInstallationStore.set_home`): a deployment that
ran on one workspace keeps serving it while others install.

Tokens are secrets: they are stored and handed to bolt and the Slack client, never logged;
log lines name workspaces only.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from slack_bolt.error import BoltError
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator

from storage import slack_installs
from storage.db import DatabaseWorker, utcnow

log = logging.getLogger(__name__)

#: How long an install flow may take between /slack/install and Slack's redirect back.
STATE_LIFETIME = timedelta(minutes=10)
#: A rotating bot token is refreshed when it has less than this left.
ROTATE_BEFORE_MINUTES = 120


def workspace_key(
    enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None
) -> str | None:
    """The key an installation is stored and found under: the enterprise for an org-wide
    install (one token serves every workspace of the org), the team otherwise."""
    if is_enterprise_install and enterprise_id:
        return enterprise_id
    return team_id or enterprise_id


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """bolt's ``to_dict_for_copying`` with its datetimes as ISO text, which bolt's
    constructors read back (JSON has no datetime)."""
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in values.items()
    }


class DatabaseInstallationStore(AsyncInstallationStore):
    """bolt's ``AsyncInstallationStore`` over :mod:`storage.slack_installs`."""

    def __init__(
        self, db: DatabaseWorker, client_id: str, *, rotator: AsyncTokenRotator | None = None
    ) -> None:
        self.db = db
        self.client_id = client_id
        self.rotator = rotator
        self.home: Bot | None = None

    @property
    def logger(self) -> logging.Logger:
        return log

    def set_home(self, bot: Bot) -> None:
        """The workspace of ``SLACK_BOT_TOKEN``: served with that token while no installation
        of its own is stored (a stored one is newer, and wins)."""
        self.home = bot

    @property
    def home_workspace(self) -> str | None:
        if self.home is None:
            return None
        return workspace_key(
            self.home.enterprise_id, self.home.team_id, self.home.is_enterprise_install
        )

    # -- saving --------------------------------------------------------------------------

    async def async_save(self, installation: Installation) -> None:
        workspace = workspace_key(
            installation.enterprise_id, installation.team_id, installation.is_enterprise_install
        )
        if workspace is None:
            raise BoltError("an installation without a team or enterprise id cannot be stored")
        bot = (
            _plain(installation.to_bot().to_dict_for_copying()) if installation.bot_token else None
        )
        try:
            await self.db.call(
                slack_installs.save_installation,
                self.client_id,
                workspace,
                _plain(installation.to_dict_for_copying()),
                bot,
            )
        except Exception as exc:
            # bolt turns a BoltError into the install's failure page ("storage_error"); the
            # save is one transaction, so nothing of it is left behind.
            log.exception("event=slack_install_not_saved workspace=%s", workspace)
            raise BoltError("the installation could not be saved") from exc
        log.info(
            "event=slack_installed workspace=%s team=%s enterprise=%s installer=%s",
            workspace,
            installation.team_id,
            installation.enterprise_id,
            installation.user_id,
        )

    async def async_save_bot(self, bot: Bot) -> None:
        workspace = workspace_key(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        if workspace is None:
            raise ValueError("a bot without a team or enterprise id cannot be stored")
        await self.db.call(
            slack_installs.save_bot, self.client_id, workspace, _plain(bot.to_dict_for_copying())
        )

    # -- finding -------------------------------------------------------------------------

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        workspace = workspace_key(enterprise_id, team_id, is_enterprise_install)
        return None if workspace is None else await self._bot(workspace)

    async def _bot(self, workspace: str) -> Bot | None:
        data = await self.db.call(slack_installs.find_bot, self.client_id, workspace)
        if data is not None:
            return Bot(**data)
        if self.home is not None and workspace == self.home_workspace:
            return self.home
        return None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        workspace = workspace_key(enterprise_id, team_id, is_enterprise_install)
        if workspace is None:
            return None
        data = await self.db.call(
            slack_installs.find_installation, self.client_id, workspace, user_id
        )
        if data is None:
            return None
        installation = Installation(**data)
        if user_id is None:
            # The workspace's bot may have been reinstalled or rotated since this installer's
            # row was written: the bot row is the current one.
            bot = await self.db.call(slack_installs.find_bot, self.client_id, workspace)
            if bot is None:
                installation.bot_token = None
                installation.bot_refresh_token = None
                installation.bot_token_expires_at = None
            else:
                installation.bot_token = bot.get("bot_token")
                installation.bot_id = bot.get("bot_id")
                installation.bot_user_id = bot.get("bot_user_id")
                installation.bot_refresh_token = bot.get("bot_refresh_token")
                current = Bot(**bot)
                installation.bot_scopes = current.bot_scopes
                installation.bot_token_expires_at = current.bot_token_expires_at
        return installation

    async def bot_token(self, workspace: str) -> str | None:
        """The token to send to ``workspace`` with, refreshed first if it rotates and is about
        to expire; None when the app is not (or no longer) installed there."""
        bot = await self._bot(workspace)
        if bot is None:
            return None
        if bot.bot_refresh_token and self.rotator is not None:
            refreshed = await self.rotator.perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=ROTATE_BEFORE_MINUTES
            )
            if refreshed is not None:
                await self.async_save_bot(refreshed)
                bot = refreshed
        return bot.bot_token

    async def workspaces(self) -> list[str]:
        return await self.db.call(slack_installs.installed_workspaces, self.client_id)

    # -- deleting ------------------------------------------------------------------------
    # bolt names an org-wide install by its enterprise id with no team, a workspace by its
    # team: the workspace key is the team when there is one.

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        workspace = team_id or enterprise_id
        if workspace is not None:
            await self.db.call(slack_installs.delete_bot, self.client_id, workspace)
            self._forget_home(workspace)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        workspace = team_id or enterprise_id
        if workspace is not None:
            await self.db.call(
                slack_installs.delete_installations, self.client_id, workspace, user_id
            )

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """The app was uninstalled: every token of the workspace goes."""
        workspace = team_id or enterprise_id
        if workspace is None:
            return
        removed = await self.db.call(slack_installs.delete_workspace, self.client_id, workspace)
        self._forget_home(workspace)
        log.info("event=slack_uninstalled workspace=%s rows=%d", workspace, removed)

    def _forget_home(self, workspace: str) -> None:
        """A revoked ``SLACK_BOT_TOKEN`` is not offered again for its workspace."""
        if self.home is not None and workspace == self.home_workspace:
            self.home = None


class DatabaseStateStore(AsyncOAuthStateStore):
    """bolt's ``AsyncOAuthStateStore`` over :mod:`storage.slack_installs`: a random state per
    flow, accepted once, for :data:`STATE_LIFETIME`. It lives in the database, not in memory, so
    a restart between the two steps of an install does not break it, and no secret is needed
    to sign it: a state nobody issued is simply not found."""

    def __init__(self, db: DatabaseWorker, lifetime: timedelta = STATE_LIFETIME) -> None:
        self.db = db
        self.lifetime = lifetime

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        await self.db.call(slack_installs.issue_state, state, utcnow() + self.lifetime)
        return state

    async def async_consume(self, state: str) -> bool:
        if not state:
            return False
        return await self.db.call(slack_installs.consume_state, state)
