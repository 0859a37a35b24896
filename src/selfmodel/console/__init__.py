"""The operator console (``/console``) and users' own pages (``/console/me``).

Served by the gateway itself: server-rendered HTML (Jinja2, autoescaped), one vendored
stylesheet, no script, no CDN. ``install`` adds the routes when ``console.enabled`` is true
(the default); turned off, every console path and the portal-link API answer 404.

Module map: ``auth`` (sessions, CSRF, open mode, sign-in limits), ``signing`` (HMAC tokens),
``routing`` (shared route plumbing), ``operator`` (users, one user, changes), ``reports``
(decisions, templates, insights), ``portal`` (the user's page and its link), ``actions``
(changes through the JSON API's code), and pure view helpers: ``beliefs``, ``explain``,
``preview``, ``insights_view``, ``series``, ``charts``, ``fmt``.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI

from selfmodel.console.auth import Sessions, SignInLimiter
from selfmodel.console.routing import Console
from selfmodel.console.signing import Signer
from selfmodel.services import Services

log = logging.getLogger("selfmodel.console")

__all__ = ["install"]


def install(app: FastAPI, services: Services) -> list[APIRouter]:
    """Add the console's routes to ``app``; returns the routers added (none when off)."""
    settings = services.config.console
    if not settings.enabled:
        return []
    from selfmodel.console import operator, portal, reports

    if settings.secret is not None:
        signer = Signer(settings.secret.get_secret_value().encode())
    else:
        signer = Signer.generated()
        log.info("console: no console.secret configured; using a secret generated for this "
                 "process (sessions and portal links end when it stops, and replicas do not "
                 "share them)")
    app.state.console = Console(services, settings, signer,
                                Sessions(signer, services.directory, settings),
                                SignInLimiter(settings.sign_in_per_minute))
    routers = [operator.router, reports.router, portal.router, portal.api_router]
    for router in routers:
        app.include_router(router)
    return routers
