"""The web pages of media: a patient's wound timeline (one body site's photos in date order)
with any two side by side.

Thin, like the API: the patient comes through the gate (`patients.access.access_patient`),
the photos through `media.selectors` (audited). A patient the user may not see gives the
styled 404 page, like a missing one; the consent's refusal gives the 403 page with its reason.
The comparison is a plain GET form (two checkboxes, `a` and `b`), so it needs no script.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from config.errors import NotFound
from config.web import not_found
from media import selectors
from media.models import BodySite
from patients.access import access_patient
from teams.identity import signed_in

TIMELINE_MAX = 200


@login_required
@require_http_methods(["GET", "HEAD"])
def wound_timeline(request: HttpRequest, patient_id: int, site: str) -> HttpResponse:
    try:
        if site not in BodySite.values:
            raise NotFound
        patient = access_patient(request.user, patient_id)
    except NotFound:
        return not_found(request)
    photos = list(
        selectors.patient_photos(signed_in(request), patient, body_site=site, oldest_first=True)[
            :TIMELINE_MAX
        ]
    )
    chosen = [request.GET.get("a", ""), request.GET.get("b", "")]
    by_id = {str(p.pk): p for p in photos}
    pair = [by_id[c] for c in chosen if c in by_id]
    if len(pair) < 2:
        picked = request.GET.getlist("pick")
        pair = [by_id[c] for c in picked if c in by_id][:2]
    pair.sort(key=lambda p: (p.taken_at, p.uploaded_at))
    context = {
        "patient": patient,
        "site": site,
        "site_label": BodySite(site).label,
        "photos": photos,
        "pair": pair if len(pair) == 2 else [],
        "picked": {str(p.pk) for p in pair},
    }
    return render(request, "media/timeline.html", context)
