"""The web pages of messaging, for browsers without JavaScript (thread.js does the same live).

Thin, like the API: the thread comes through the gate (`messaging.access.access_thread`),
reads through `messaging.web_selectors`, posts through `messaging.services.message_post`. A
thread the user may not see gives the styled 404 page, exactly like a missing one; a post by
someone who sees the thread but may not post there (`config.errors.Forbidden`) gives the 403
page with the reason.

- `thread-page`: a thread on its own page (topic and coordination threads; a contact book
  is read on its patient's page, which the page links to);
- `thread-read-all`: "すべて既読にする" of one thread, from home or the thread, back to `next`;
- `message-readers-page` / `message-history-page`: a message's read list (who read it,
  who has not) and its edit history, as a page that thread.js shows in its panel;
- `search-page`: one search box for all my threads, hits newest first and highlighted,
  folded alike (`messaging.fold`), over the person's search rate like the API (429);
- `thread-older`: the page of messages before a seq ("さらに古いメッセージ"), which thread.js
  replaces by the API when it runs;
- `thread-post`: the composer's form target; a refused post comes back with the error next
  to the text (status 400), the text kept; a post over the person's rate likewise, with 429
  and `Retry-After` (`teams.throttle`).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from config.errors import DomainError, NotFound, Throttled
from config.web import not_found, too_many_requests
from messaging import requests, services
from messaging.access import access_thread
from messaging.models import MessageKind, Priority, ReplyKind, Thread, ThreadKind
from messaging.selectors import search
from messaging.web_selectors import message_history, read_list, search_hits, thread_page
from patients.access import Capability
from teams import throttle
from teams.identity import signed_in


def _back_url(thread: Thread) -> str:
    if thread.kind == ThreadKind.CONTACT_BOOK and thread.patient_id is not None:
        return reverse("patient-detail", args=[thread.patient_id]) + "#thread"
    return reverse("thread-page", args=[thread.pk])


def _safe_next(request: HttpRequest, fallback: str) -> str:
    """`next` when it is a path on this site, else `fallback` (never an open redirect)."""
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ) and target.startswith("/"):
        return target
    return fallback


def _before(request: HttpRequest) -> int | None:
    raw = request.GET.get("before")
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise NotFound from None
    if value < 1:
        raise NotFound
    return value


@login_required
@require_http_methods(["GET", "HEAD"])
def thread_detail(request: HttpRequest, thread_id: int) -> HttpResponse:
    try:
        thread = access_thread(request.user, thread_id)
    except NotFound:
        return not_found(request)
    page = thread_page(signed_in(request), thread)
    return render(request, "messaging/thread_page.html", {"page": page, "thread": thread})


@login_required
@require_POST
def thread_read_all(request: HttpRequest, thread_id: int) -> HttpResponse:
    try:
        thread = access_thread(request.user, thread_id)
        services.thread_mark_read(signed_in(request), thread=thread, seq=thread.last_seq)
    except NotFound:
        return not_found(request)
    return redirect(_safe_next(request, reverse("home")))


# Its write is the reader's own read mark: seeing the thread is enough (a break-glass reader's
# too), as for the API's ThreadReadView; the access matrix reads this.
thread_read_all.capability = Capability.READ  # type: ignore[attr-defined]


SEARCH_PAGE_SIZE = 20


@login_required
@require_http_methods(["GET", "HEAD"])
def search_page(request: HttpRequest) -> HttpResponse:
    q = (request.GET.get("q") or "").strip()[:200]
    context: dict[str, Any] = {"q": q, "hits": None}
    if q:
        throttle.limit("search", signed_in(request))  # over it: the 429 page
        page = Paginator(search(request.user, q), SEARCH_PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        context["page"] = page
        context["hits"] = search_hits(list(page.object_list), q)
    return render(request, "messaging/search.html", context)


@login_required
@require_http_methods(["GET", "HEAD"])
def message_readers_page(request: HttpRequest, thread_id: int, seq: int) -> HttpResponse:
    try:
        thread = access_thread(request.user, thread_id)
        readers = read_list(signed_in(request), thread, seq)
    except NotFound:
        return not_found(request)
    context = {"thread": thread, "list": readers, "back_url": _back_url(thread)}
    return render(request, "messaging/message_readers.html", context)


@login_required
@require_http_methods(["GET", "HEAD"])
def message_history_page(request: HttpRequest, thread_id: int, seq: int) -> HttpResponse:
    try:
        thread = access_thread(request.user, thread_id)
        history = message_history(signed_in(request), thread, seq)
    except NotFound:
        return not_found(request)
    context = {"thread": thread, "history": history, "back_url": _back_url(thread)}
    return render(request, "messaging/message_history.html", context)


@login_required
@require_http_methods(["GET", "HEAD"])
def thread_older(request: HttpRequest, thread_id: int) -> HttpResponse:
    try:
        thread = access_thread(request.user, thread_id)
        before = _before(request)
    except NotFound:
        return not_found(request)
    page = thread_page(signed_in(request), thread, before=before)
    context = {"page": page, "thread": thread, "back_url": _back_url(thread)}
    return render(request, "messaging/thread_older.html", context)


@login_required
@require_POST
def thread_post(request: HttpRequest, thread_id: int) -> HttpResponse:
    try:
        thread = access_thread(request.user, thread_id, capability=Capability.POST)
    except NotFound:
        return not_found(request)
    data: dict[str, Any] = {
        "body": request.POST.get("body", ""),
        "kind": request.POST.get("kind") or MessageKind.NOTE,
        "priority": request.POST.get("priority") or None,
        "client_id": request.POST.get("client_id", ""),
    }
    try:
        throttle.limit("post", signed_in(request))
        services.message_post(
            signed_in(request),
            thread=thread,  # gated above: the gate runs once per request
            client_id=data["client_id"],
            body=data["body"],
            kind=data["kind"],
            priority=data["priority"],
        )
    except NotFound:
        return not_found(request)
    except Throttled as exc:
        # The text is kept, with the same key: sent again later, it is still one message.
        response = _refused(request, thread, data, [], exc.message, status=429)
        response["Retry-After"] = str(exc.retry_after)
        return response
    except DomainError as exc:
        if "client_id" in exc.fields:
            # The key itself was refused (garbage, or used elsewhere): the next try gets a new one.
            data["client_id"] = str(uuid.uuid4())
        errors = [m for msgs in exc.fields.values() for m in msgs] or [exc.message]
        return _refused(request, thread, data, [str(e) for e in errors], str(exc.message))
    return redirect(_back_url(thread))


def _refused(
    request: HttpRequest,
    thread: Thread,
    data: dict[str, Any],
    errors: list[str],
    message: str,
    *,
    status: int = 400,
) -> HttpResponse:
    """The composer again, with the refusal next to the text."""
    context = {
        "thread": thread,
        "data": data,
        "errors": errors,
        "message": message,
        "kinds": MessageKind.choices,
        "priorities": Priority.choices,
        "back_url": _back_url(thread),
    }
    return render(request, "messaging/thread_post.html", context, status=status)


# --- requests: the patient page's panel, its forms, and the home page's list -------------


def requests_panel_context(user: Any, thread: Thread) -> dict[str, Any]:
    """The context of the requests panel (`messaging/partials/requests.html`)."""
    return {
        "thread": thread,
        "requests": requests.thread_requests(user, thread),
        "reply_kinds": ReplyKind.choices,
        "roles": [(r.value, r.label) for r in requests.REQUEST_ROLES],
        "priorities": Priority.choices,
        "me": user,
    }


@login_required
@require_http_methods(["GET", "HEAD"])
def requests_panel(request: HttpRequest, thread_id: int) -> HttpResponse:
    """The requests panel alone: the page's script swaps it in when a request changes."""
    try:
        thread = access_thread(request.user, thread_id)
    except NotFound:
        return not_found(request)
    context = requests_panel_context(signed_in(request), thread)
    return render(request, "messaging/partials/requests.html", context)


def _request_refused(request: HttpRequest, thread: Thread, exc: DomainError) -> HttpResponse:
    context = requests_panel_context(signed_in(request), thread)
    errors = [str(m) for msgs in exc.fields.values() for m in msgs] or [str(exc.message)]
    context.update({"errors": errors, "message": str(exc.message), "data": request.POST})
    return render(request, "messaging/requests_refused.html", context, status=400)


@login_required
@require_POST
def request_new(request: HttpRequest, thread_id: int) -> HttpResponse:
    try:
        thread = access_thread(request.user, thread_id, capability=Capability.POST)
    except NotFound:
        return not_found(request)
    due_raw = request.POST.get("due_at") or None
    try:
        throttle.limit("post", signed_in(request))
        requests.request_create(
            signed_in(request),
            thread=thread,
            client_id=request.POST.get("client_id") or str(uuid.uuid4()),
            body=request.POST.get("body", ""),
            to_role=request.POST.get("to_role") or None,
            priority=request.POST.get("priority") or None,
            due_at=due_raw,
        )
    except Throttled as exc:
        return too_many_requests(request, exc)
    except DomainError as exc:
        return _request_refused(request, thread, exc)
    return redirect(_back_url(thread).replace("#thread", "#requests"))


@login_required
@require_POST
def request_reply(request: HttpRequest, request_id: int) -> HttpResponse:
    try:
        replied = requests.request_reply(
            signed_in(request),
            request_id=request_id,
            kind=request.POST.get("kind"),
            client_id=request.POST.get("client_id") or str(uuid.uuid4()),
            body=request.POST.get("body", ""),
        )
    except NotFound:
        return not_found(request)
    except DomainError as exc:
        thread = Thread.objects.get(requests__pk=request_id)
        return _request_refused(request, thread, exc)
    return redirect(_back_url(replied.request.thread).replace("#thread", "#requests"))


@login_required
@require_POST
def request_withdraw(request: HttpRequest, request_id: int) -> HttpResponse:
    try:
        made = requests.request_withdraw(signed_in(request), request_id=request_id)
    except NotFound:
        return not_found(request)
    except DomainError as exc:
        thread = Thread.objects.get(requests__pk=request_id)
        return _request_refused(request, thread, exc)
    return redirect(_back_url(made.thread).replace("#thread", "#requests"))
